#!/usr/bin/env python3
"""Benchmark of the round circuit: constraints, setup, proving, proof size, verification gas.

    python scripts/bench_zk.py            # N in {4, 8, 16} x K in {16, 32}, and the alternatives
    python scripts/bench_zk.py --quick    # N = 4, K = 16 only
    python scripts/bench_zk.py --sizes 16x32 --json out/bench/zk.json

What each size measures, and the alternatives: see the docstring of benchmarks/zk_costs.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks import zk_costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N = 4, K = 16 only, no alternatives")
    parser.add_argument("--sizes", help="comma-separated NxK list, e.g. 4x16,16x32")
    parser.add_argument("--cache", type=Path, help="key cache to use and keep (default: a temporary one, so that "
                        "setup is timed)")
    parser.add_argument("--no-alternatives", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    zk_costs.main(quick=args.quick, sizes=args.sizes, cache=args.cache, alternatives=not args.no_alternatives,
                  json_path=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

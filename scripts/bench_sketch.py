"""Benchmark of the sketch and its commitment: sketching an update of d parameters (k = 32,
streamed in chunks) and Poseidon hashes per second.

    python scripts/bench_sketch.py           # d = 100k and 1M
    python scripts/bench_sketch.py --quick   # d = 10k and 100k, fewer repeats
"""

from __future__ import annotations

import argparse

from benchmarks import sketch_costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer repeats")
    parser.add_argument("--chunk", type=int, default=65_536, help="entries per tensor (default 65536)")
    args = parser.parse_args(argv)
    sketch_costs.main(quick=args.quick, chunk=args.chunk)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

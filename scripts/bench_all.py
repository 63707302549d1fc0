"""Run every benchmark of issue 7 and write benchmarks/RESULTS.md, with the plots beside it.

    python scripts/bench_all.py                     # the full run (about a quarter of an hour on 2 cores)
    python scripts/bench_all.py --quick --out DIR   # the small CI configuration, written elsewhere
    python scripts/bench_all.py --only overhead,zk  # some sections (overhead carries the gas table)

Sections: overhead (scripts/bench_overhead.py), robustness (scripts/bench_robustness.py),
fairness (scripts/bench_fairness.py), zk and gas (scripts/bench_zk.py, and the gas report of the
overhead run), scale (scripts/bench_scale.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.common import DEFAULT_OUT
from benchmarks.report import ALL, run_and_print


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small CI configuration of every benchmark")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder of RESULTS.md and the plots "
                        "(default: benchmarks/)")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch intra-op threads (0 = torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(ALL))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(ALL)}")
    run_and_print(quick=args.quick, out=args.out, only=only, seed=args.seed, torch_threads=args.torch_threads or None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

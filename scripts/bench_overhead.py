"""Benchmark 1 (and the gas half of 4): the time of each step of a market round beside Flower's
FedAvg on the same partitions, the accuracy of both per round, and the gas of every call.

    python scripts/bench_overhead.py            # 10 trainers, 5 rounds
    python scripts/bench_overhead.py --quick    # 3 trainers, 1 round, Round(4, 32) proofs, no anvil run (CI)
    python scripts/bench_overhead.py --trusted  # trusted-aggregator mode: no proofs

How it measures: see the docstring of benchmarks/overhead.py. Plots and a JSON go to --out
(default out/benchmarks); scripts/bench_all.py writes the tables into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse

from benchmarks.common import script_main
from benchmarks.overhead import run


def _options(parser) -> None:
    parser.add_argument("--trainers", type=int, default=None, help="default 10 (quick: 3)")
    parser.add_argument("--rounds", type=int, default=None, help="default 5 (quick: 1)")
    parser.add_argument("--anvil", action=argparse.BooleanOptionalAction, default=None,
                        help="also run the market against an anvil node (default: yes, except with --quick)")
    parser.add_argument("--trusted", action="store_true",
                        help="a trusted-aggregator task (no proofs) instead of the demo's default zk-verified one")


if __name__ == "__main__":
    raise SystemExit(script_main(run, None, __doc__.splitlines()[0], _options))

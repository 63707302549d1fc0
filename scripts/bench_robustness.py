"""Benchmark 2: final accuracy and detection precision/recall under label flip, sign flip,
Gaussian noise, scaling and free-riding at 10/30/45 % of trainers, IID and Dirichlet(0.5):
our detectors (provable, Multi-Krum, MUD-HoG) against Flower's FedAvg, Krum, FedMedian and
FedTrimmedAvg on the same trainers, data and attacks.

    python scripts/bench_robustness.py            # 10 trainers, 3 rounds, every attack and fraction
    python scripts/bench_robustness.py --quick    # sign flip at 30 %, IID, 1 round (CI)

The protocol is in the docstring of benchmarks/robustness.py.
"""

from __future__ import annotations

from benchmarks.common import script_main
from benchmarks.robustness import run


def _options(parser) -> None:
    parser.add_argument("--trainers", type=int, default=None, help="default 10")
    parser.add_argument("--rounds", type=int, default=None, help="default 3 (quick: 1)")


if __name__ == "__main__":
    raise SystemExit(script_main(run, None, __doc__.splitlines()[0], _options))

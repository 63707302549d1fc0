"""Benchmark 2: final accuracy, the attackers' paid share and the honest false flags under every
attack simulator (label flip, sign flip, Gaussian noise, scaling, free-riding, ALIE, IPM, Min-Max,
Min-Sum, mimic, Fang, adaptive, sybil, backdoor) at 10/30/45 % of trainers, IID and Dirichlet(0.5):
the root-of-trust rule (paid) against the old median rule, Multi-Krum, MUD-HoG and Flower's FedAvg,
Krum, MultiKrum, Bulyan, FedMedian and FedTrimmedAvg; and sybil inflation.

    python scripts/bench_robustness.py            # 10 trainers, 5 rounds, every attack and fraction
    python scripts/bench_robustness.py --quick    # sign flip, ALIE, backdoor at 45 %, IID, 2 rounds (CI)

The protocol is in the docstring of benchmarks/robustness.py.
"""

from __future__ import annotations

from benchmarks.common import script_main
from benchmarks.robustness import run


def _options(parser) -> None:
    parser.add_argument("--trainers", type=int, default=None, help="default 10")
    parser.add_argument("--rounds", type=int, default=None, help="default 5 (quick: 2)")


if __name__ == "__main__":
    raise SystemExit(script_main(run, None, __doc__.splitlines()[0], _options))

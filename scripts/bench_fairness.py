"""Benchmark 3: how faithfully the paid root-of-trust rule, the old median rule, leave-one-out,
truncated Monte Carlo and GTG-Shapley rank 10 trainers of mixed quality (clean, noisy labels, small
data, a free-rider, a label-flipper; IID and Dirichlet(0.5)) against exact loss- and
accuracy-Shapley, with the split-half noise floor, and the wall time of each.

    python scripts/bench_fairness.py            # 5 rounds, IID and Dirichlet(0.5)
    python scripts/bench_fairness.py --quick    # 1 round, IID (CI)
"""

from __future__ import annotations

from benchmarks.common import script_main
from benchmarks.fairness import run


def _options(parser) -> None:
    parser.add_argument("--rounds", type=int, default=None, help="default 5 (quick: 1)")


if __name__ == "__main__":
    raise SystemExit(script_main(run, None, __doc__.splitlines()[0], _options))

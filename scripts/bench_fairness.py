"""Benchmark 3: how faithfully the paid provable score, leave-one-out, truncated Monte Carlo and
GTG-Shapley rank 8 trainers of mixed quality (clean, noisy labels, fewer samples, a free-rider)
against exact validation-utility Shapley, and the wall time of each.

    python scripts/bench_fairness.py            # 5 rounds
    python scripts/bench_fairness.py --quick    # 1 round (CI)
"""

from __future__ import annotations

from benchmarks.common import script_main
from benchmarks.fairness import run


def _options(parser) -> None:
    parser.add_argument("--rounds", type=int, default=None, help="default 5 (quick: 1)")


if __name__ == "__main__":
    raise SystemExit(script_main(run, None, __doc__.splitlines()[0], _options))

"""Study of the root-of-trust rule (issue 11 §2–3): the reference rule against the old median rule
on the digits task — attackers' paid share, clean false flags, accuracy, sybil inflation and
Spearman ρ against exact loss-Shapley, with variants of h and of the flag thresholds.

    python scripts/bench_reference_study.py                       # 5 rounds, IID and Dirichlet(0.5)
    python scripts/bench_reference_study.py --quick               # 2 rounds, fewer scenarios
    python scripts/bench_reference_study.py --partition iid --markdown out/reference_iid.md
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import script_main
from benchmarks.reference_study import run_to_markdown


def _options(parser) -> None:
    parser.add_argument("--rounds", type=int, default=None, help="default 5 (quick: 2)")
    parser.add_argument("--partition", choices=("iid", "dirichlet", "both"), default="both")
    parser.add_argument("--only", default="", help="comma-separated scenario name prefixes (default: all)")
    parser.add_argument("--trajectory", default="default",
                        help="the variant whose accepted set the reference arm aggregates (default: the rule's defaults)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the section as Markdown here")


if __name__ == "__main__":
    raise SystemExit(script_main(run_to_markdown, None, __doc__.splitlines()[0], _options))

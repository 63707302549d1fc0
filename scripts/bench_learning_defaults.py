"""Do the training defaults learn? One local run per model on digits at the defaults beside the old
built-in settings and scikit-learn's MLP, and the breast-cancer set under each input scaling.

    python scripts/bench_learning_defaults.py     # about 15 s
"""

from __future__ import annotations

from benchmarks import learning_defaults


def main() -> int:
    learning_defaults.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

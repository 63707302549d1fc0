"""Benchmark 5: the aggregator's time and peak memory for n ∈ {10, 50, 100} trainers and
d ∈ {100k, 1M} parameters (synthetic updates): intake, sketch, provable rule and streaming FedAvg,
the service's in-memory mode beside its streaming mode (used above its memory budget).

    python scripts/bench_scale.py            # n ∈ {10, 50, 100}, d ∈ {100k, 1M}
    python scripts/bench_scale.py --quick    # n ∈ {4, 8, 16}, d = 20k (CI)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import script_main  # noqa: E402
from benchmarks.scale import run  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(script_main(run, None, __doc__.splitlines()[0]))

"""Benchmark 5: the aggregator's time and peak memory for n ∈ {10, 50, 100} trainers and
d ∈ {100k, 1M} parameters (synthetic updates): intake, sketch, provable rule and streaming FedAvg,
the service's in-memory mode beside its streaming mode (used above its memory budget).

    python scripts/bench_scale.py            # n ∈ {10, 50, 100}, d ∈ {100k, 1M}
    python scripts/bench_scale.py --quick    # n ∈ {4, 8, 16}, d = 20k (CI)
"""

from __future__ import annotations

from benchmarks.common import script_main
from benchmarks.scale import run

if __name__ == "__main__":
    raise SystemExit(script_main(run, None, __doc__.splitlines()[0]))

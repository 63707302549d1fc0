"""Scale: the aggregator's time and peak memory for n trainers and d parameters.

Synthetic float32 updates (N(0, 10⁻³), the last 10 % of trainers sending 10× boosted ones so
that the provable rule has outliers to flag) go the trainer's way first, untimed: package,
encrypt to the aggregator, store in the embedded store, sketch and commit. Then one round of
aggregation is measured through the service's own two modes (the same functions
:class:`~aggregator.service.AggregatorNode` calls):

* **in memory** (a round whose updates fit the service's memory budget, 1 GiB by default):
  :func:`~aggregator.intake.intake_round` (fetch, digest, decryption, package checks, sketch,
  commitment check) keeps every accepted update, then
  :func:`~aggregator.round_pipeline.assess_round` (provable rule, streaming FedAvg);
* **streaming** (above the budget): ``intake_round(stream=True)`` drops each update right after
  its checks, and FedAvg reads each accepted one again (fetch, decrypt, checks), one at a time.

Validation Shapley is not part of this table (the service skips it in streaming mode; its cost
is in the fairness table). Time is wall time without tracing; peak memory is
:mod:`tracemalloc`'s peak (numpy reports its buffers to it) in a second, traced run of the same
phase, so tracing does not slow the timing.
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

from aggregator.intake import intake_round
from aggregator.round_pipeline import assess_round
from benchmarks.common import Section, Table, fmt_bytes, fmt_s, protocol_text
from benchmarks.kit import CHAIN_ID, CONTRACT, TASK_ID, round_seed, slot_context, trainer_address
from market.encryption import encrypt_for_aggregator, envelope_digest, generate_private_key, public_key_bytes
from market.storage import EmbeddedStorage
from market.task_spec import LimitsSection, ScoringSection
from market.types import SubmissionInfo
from market.update_package import UpdateMetadata, build_update_package, model_spec_hash
from zk.protocol.commitment import random_salt, sketch_commitment
from zk.protocol.sketch import SketchParams, sketch_update

COMMAND = "python scripts/bench_scale.py"
IN_MEMORY = "service, in memory (below budget)"
STREAMING = "service, streaming (above budget)"
BIAS = 1000  # the synthetic model: one weight vector of d - 1000 entries and a bias of 1000


class Round:
    """One stored round of n synthetic submissions of d parameters."""

    def __init__(self, n: int, d: int, root: Path, seed: int = 0) -> None:
        self.n, self.d = n, d
        self.storage = EmbeddedStorage(root / f"store-{n}-{d}")
        self.key = generate_private_key()
        self.scoring = ScoringSection()
        self.limits = LimitsSection(max_update_bytes=max(LimitsSection().max_update_bytes, 8 * d + (1 << 20)))
        self.params = SketchParams(k=self.scoring.sketch_k)
        self.param_spec = {"layer.bias": ((BIAS,), "float32"), "layer.weight": ((d - BIAS,), "float32")}
        self.global_state = {name: np.zeros(shape, np.float32) for name, (shape, _) in self.param_spec.items()}
        self.seed = round_seed("scale", n, d, seed)
        public = public_key_bytes(self.key)
        rng = np.random.default_rng(seed)
        boosted = max(1, n // 10)
        self.submissions = []
        for slot in range(n):
            scale = 1e-2 if slot >= n - boosted else 1e-3
            update = {name: rng.normal(0.0, scale, shape).astype(np.float32) for name, (shape, _) in self.param_spec.items()}
            salt = random_salt()
            metadata = UpdateMetadata(task_id=TASK_ID, round=0, trainer=trainer_address(slot), num_samples=100 + slot,
                                      salt=salt.to_bytes(32, "big"), model_spec_hash=model_spec_hash(self.param_spec))
            envelope = encrypt_for_aggregator(build_update_package(update, metadata), public, slot_context(slot, 0))
            cid = self.storage.put(envelope)
            commitment = sketch_commitment(sketch_update(update, self.seed, self.params), salt)
            self.submissions.append((slot, cid, envelope_digest(envelope), commitment))

    def _assess(self, *, stream: bool) -> list[bool]:
        entries = [(slot, trainer_address(slot), SubmissionInfo(cid, digest, commitment))
                   for slot, cid, digest, commitment in self.submissions]
        intakes = intake_round(
            self.storage, entries, stream=stream, private_key=self.key, param_spec=self.param_spec,
            chain_id=CHAIN_ID, contract=CONTRACT, task_id=TASK_ID, round_=0, seed=self.seed,
            sketch_params=self.params,
            max_bytes=self.limits.max_update_bytes, max_norm=self.limits.max_update_norm,
        )
        outcome = assess_round(intakes, global_state=self.global_state, scoring=self.scoring, dtype="float32")
        return outcome.flags

    def in_memory(self) -> list[bool]:
        return self._assess(stream=False)

    def streaming(self) -> list[bool]:
        return self._assess(stream=True)


def measure(fn) -> tuple[Any, float, int]:
    """``(result, seconds untraced, traced peak bytes)``."""
    started = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return value, seconds, peak


def run(*, quick: bool = False, out: Path, seed: int = 0, **_: Any) -> Section:
    started = time.perf_counter()
    ns = (4, 8, 16) if quick else (10, 50, 100)
    ds = (20_000,) if quick else (100_000, 1_000_000)
    table = Table("Scale: one round of aggregation (intake + sketch + provable rule + FedAvg)",
                  ["d", "n", "path", "time", "per trainer", "peak memory", "peak / update size", "flagged"])
    records = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        for d in ds:
            for n in ns:
                stored = Round(n, d, Path(scratch), seed)
                update_bytes = 4 * d
                for path_name, fn in ((IN_MEMORY, stored.in_memory), (STREAMING, stored.streaming)):
                    flags, seconds, peak = measure(fn)
                    table.add(f"{d:,}", n, path_name, fmt_s(seconds), fmt_s(seconds / n), fmt_bytes(peak),
                              f"{peak / update_bytes:.1f}×", sum(flags))
                    records.append({"d": d, "n": n, "path": path_name, "seconds": seconds, "peak_bytes": peak,
                                    "peak_over_update": peak / update_bytes, "flagged": sum(flags)})
                del stored
    table.notes += _growth_notes(records, ns)
    plots = _plot(out, records)
    return Section(key="scale", title="5. Scale of the aggregator", command=COMMAND,
                   notes=[protocol_text(__doc__)], tables=[table], plots=plots,
                   seconds=time.perf_counter() - started, data={"records": records})


def _growth_notes(records: list[dict], ns) -> list[str]:
    notes = []
    for path_name in (IN_MEMORY, STREAMING):
        for d in sorted({r["d"] for r in records}):
            rows = {r["n"]: r for r in records if r["path"] == path_name and r["d"] == d}
            lo, hi = rows[ns[0]], rows[ns[-1]]
            growth = hi["peak_bytes"] / lo["peak_bytes"]
            notes.append(f"{path_name}, d = {d:,}: n × {ns[-1] / ns[0]:.0f} → peak memory × {growth:.1f}, "
                         f"time × {hi['seconds'] / lo['seconds']:.1f}"
                         + (" — O(n·d): why the service streams above its memory budget" if growth > 2 else ""))
    return notes


def _plot(out: Path, records: list[dict]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for d in sorted({r["d"] for r in records}):
        for path_name, style in ((IN_MEMORY, "-o"), (STREAMING, "--s")):
            rows = sorted((r for r in records if r["d"] == d and r["path"] == path_name), key=lambda r: r["n"])
            label = f"{path_name}, d={d:,}"
            a.plot([r["n"] for r in rows], [r["peak_bytes"] / 2**20 for r in rows], style, label=label)
            b.plot([r["n"] for r in rows], [r["seconds"] for r in rows], style, label=label)
    a.set(xlabel="trainers n", ylabel="peak memory (MiB)", title="aggregator peak memory", yscale="log")
    b.set(xlabel="trainers n", ylabel="seconds", title="aggregator time per round")
    a.legend(fontsize=7)
    fig.tight_layout()
    path = out / "scale.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]

"""Scale: the aggregator's time and peak memory for n trainers and d parameters.

Synthetic float32 updates (N(0, 10⁻³), the last 10 % of trainers sending 10× boosted ones so
that the provable rule has outliers to flag) go the trainer's way first, untimed: package,
encrypt to the aggregator, store in the embedded store, sketch and commit. Then one round of
aggregation is measured two ways:

* **service path** (what :class:`~aggregator.service.AggregatorNode` does today):
  :func:`~aggregator.intake.fetch_and_check` on every submission (fetch, digest, decryption,
  package checks, sketch, commitment check), then
  :func:`~aggregator.round_pipeline.assess_round` (provable rule, streaming FedAvg) over the
  list of intake results, which holds every accepted update until the round is assessed;
* **two-pass streaming**: pass 1 runs the same intake on each submission and keeps only its
  sketch (the tensors are dropped at once); :func:`~aggregator.detectors.provable_round` flags;
  pass 2 fetches and decrypts each accepted envelope again and adds it to the
  :class:`~aggregator.aggregation.FedAvgAccumulator`, one at a time.

Time is wall time without tracing; peak memory is :mod:`tracemalloc`'s peak (numpy reports its
buffers to it) in a second, traced run of the same phase, so tracing does not slow the timing.
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

from aggregator.aggregation import FedAvgAccumulator, apply_to
from aggregator.detectors import provable_round, tau_fraction
from aggregator.intake import fetch_and_check
from aggregator.round_pipeline import assess_round
from benchmarks.common import Section, Table, fmt_bytes, fmt_s, protocol_text
from benchmarks.kit import TASK_ID, round_seed, trainer_address
from market.encryption import decrypt, encrypt_for_aggregator, envelope_digest, generate_private_key, public_key_bytes
from market.storage import EmbeddedStorage
from market.task_spec import LimitsSection, ScoringSection
from market.update_package import UpdateMetadata, build_update_package, load_update_package, model_spec_hash
from zk.commitment import random_salt, sketch_commitment
from zk.sketch import SketchParams, sketch_update

COMMAND = "python scripts/bench_scale.py"
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
            envelope = encrypt_for_aggregator(build_update_package(update, metadata), public)
            cid = self.storage.put(envelope)
            commitment = sketch_commitment(sketch_update(update, self.seed, self.params), salt)
            self.submissions.append((slot, cid, envelope_digest(envelope), commitment))

    def _intake(self, slot: int, cid: str, digest: bytes, commitment: int):
        return fetch_and_check(
            self.storage, cid, slot=slot, trainer=trainer_address(slot), digest=digest, commitment=commitment,
            private_key=self.key, param_spec=self.param_spec, task_id=TASK_ID, round_=0, seed=self.seed,
            sketch_params=self.params, max_bytes=self.limits.max_update_bytes, max_norm=self.limits.max_update_norm,
        )

    def service_path(self) -> list[bool]:
        intakes = [self._intake(*s) for s in self.submissions]
        outcome = assess_round(intakes, global_state=self.global_state, scoring=self.scoring, dtype="float32")
        return outcome.flags

    def streaming_path(self) -> list[bool]:
        sketches, rejected, samples = [], [], []
        for s in self.submissions:
            it = self._intake(*s)
            sketches.append(it.sketch)
            rejected.append(not it.accepted)
            samples.append(it.num_samples)
            del it
        num, den = tau_fraction(self.scoring.tau)
        result = provable_round(sketches, rejected, tau_num=num, tau_den=den, k=self.params.k)
        accumulator = FedAvgAccumulator(dtype="float32")
        for (_slot, cid, _digest, _c), accepted, weight in zip(self.submissions, result.accepted, samples):
            if accepted:
                package = load_update_package(decrypt(self.storage.get(cid), self.key), self.param_spec,
                                              max_bytes=self.limits.max_update_bytes)
                accumulator.add(weight, package.tensors)
                del package
        apply_to(self.global_state, accumulator.result())
        return list(result.flags)


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
                for path_name, fn in (("service path", stored.service_path), ("two-pass streaming", stored.streaming_path)):
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
    for path_name in ("service path", "two-pass streaming"):
        for d in sorted({r["d"] for r in records}):
            rows = {r["n"]: r for r in records if r["path"] == path_name and r["d"] == d}
            lo, hi = rows[ns[0]], rows[ns[-1]]
            growth = hi["peak_bytes"] / lo["peak_bytes"]
            notes.append(f"{path_name}, d = {d:,}: n × {ns[-1] / ns[0]:.0f} → peak memory × {growth:.1f}, "
                         f"time × {hi['seconds'] / lo['seconds']:.1f}"
                         + (" — O(n·d): LOSES the O(d) goal" if path_name == "service path" and growth > 2 else ""))
    return notes


def _plot(out: Path, records: list[dict]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for d in sorted({r["d"] for r in records}):
        for path_name, style in (("service path", "-o"), ("two-pass streaming", "--s")):
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

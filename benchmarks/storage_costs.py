"""Costs of the storage path of an update (``scripts/bench_storage.py``): the embedded store's
put/get throughput on a model-sized blob, and what encryption to the aggregator adds.

The blob is a real update package (float32 tensors in safetensors). Each put goes to a fresh
store directory; gets read what the put wrote (so from the OS page cache, as an aggregator
reading a just-fetched update would). Times are the fastest of the repeats.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import best_of
from market.encryption import ROOT_SET_CONTEXT, decrypt, encrypt_for_aggregator, generate_private_key, public_key_bytes
from market.storage import EmbeddedStorage, compute_cid
from market.update_package import UpdateMetadata, build_update_package, load_update_package, model_spec_hash

__all__ = ["MB", "main", "make_package", "measure"]

MB = 1_000_000
PUT, GET = "embedded put", "embedded get (re-hash every block)"
ENCRYPT, DECRYPT = "encrypt (X25519 + ChaCha20-Poly1305)", "decrypt"


def make_package(size_bytes: int) -> tuple[bytes, dict]:
    """An update package of about ``size_bytes`` bytes of float32 tensors, and its spec."""
    rng = np.random.default_rng(0)
    per_tensor = 1 << 20  # 4 MiB tensors, like the layers of a mid-sized model
    count = max(1, size_bytes // 4 // per_tensor)
    last = max(1, size_bytes // 4 - (count - 1) * per_tensor) if count > 1 else size_bytes // 4
    shapes = [(per_tensor,)] * (count - 1) + [(last,)]
    tensors = {f"layer{i:03d}.weight": rng.normal(0, 1e-3, shape).astype(np.float32) for i, shape in enumerate(shapes)}
    spec = {name: (value.shape, "float32") for name, value in tensors.items()}
    metadata = UpdateMetadata(
        task_id=1, round=0, trainer="0x" + "11" * 20, num_samples=1000, salt=b"\x01" * 16,
        model_spec_hash=model_spec_hash(spec), sketch=(),
    )  # fmt: skip
    return build_update_package(tensors, metadata), spec


def measure(package: bytes, spec: dict, repeats: int) -> tuple[dict[str, float], int]:
    """Seconds of each step on ``package`` (best of ``repeats``), and the envelope's extra bytes."""
    aggregator = generate_private_key()
    public = public_key_bytes(aggregator)
    context = ROOT_SET_CONTEXT  # any fixed context: the cost does not depend on it
    envelope = encrypt_for_aggregator(package, public, context)
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as scratch:
        stores = iter(range(10_000))

        def put_fresh() -> str:
            return EmbeddedStorage(Path(scratch) / f"s{next(stores)}").put(package)

        store = EmbeddedStorage(Path(scratch) / "read")
        cid = store.put(package)
        timings = {
            "cid only (chunk + hash)": best_of(repeats, lambda: compute_cid(package)),
            PUT: best_of(repeats, put_fresh),
            GET: best_of(repeats, lambda: store.get(cid)),
            ENCRYPT: best_of(repeats, lambda: encrypt_for_aggregator(package, public, context)),
            DECRYPT: best_of(repeats, lambda: decrypt(envelope, aggregator, context)),
            "package load + checks": best_of(repeats, lambda: load_update_package(package, spec)),
        }
        assert store.get(cid) == package and decrypt(envelope, aggregator, context) == package
    return timings, len(envelope) - len(package)


def main(*, quick: bool = False, size_mb: float | None = None, repeats: int | None = None) -> dict[str, float]:
    """``scripts/bench_storage.py``: a 50 MB package (quick: 4 MB), best of 3 (quick: 2); prints
    the step table and the encryption overhead."""
    size = int((size_mb or (4 if quick else 50)) * MB)
    repeats = repeats or (2 if quick else 3)
    package, spec = make_package(size)
    megabytes = len(package) / MB
    timings, envelope_extra = measure(package, spec, repeats)
    console = Console()
    table = Table(title=f"storage of a {megabytes:.1f} MB update package (best of {repeats})")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("MB/s", justify="right")
    for step, seconds in timings.items():
        table.add_row(step, f"{seconds:.4f}", f"{megabytes / seconds:,.0f}")
    console.print(table)

    storage_time = timings[PUT] + timings[GET]
    crypto_time = timings[ENCRYPT] + timings[DECRYPT]
    summary = Table(title="encryption overhead")
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    summary.add_row("put + get (s)", f"{storage_time:.4f}")
    summary.add_row("encrypt + decrypt (s)", f"{crypto_time:.4f}")
    summary.add_row("encrypt + decrypt / (put + get)", f"{crypto_time / storage_time:.2f}")
    summary.add_row("envelope bytes over plaintext", f"{envelope_extra}")
    console.print(summary)
    return timings

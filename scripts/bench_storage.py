"""Benchmark of the storage path of an update: the embedded store's put/get throughput on a
model-sized blob, and what encryption to the aggregator adds.

    python scripts/bench_storage.py            # a 50 MB update package, best of 3
    python scripts/bench_storage.py --quick    # 4 MB, best of 2
    python scripts/bench_storage.py --size-mb 200 --repeats 5

The blob is a real update package (float32 tensors in safetensors). Each put goes to a fresh
store directory; gets read what the put wrote (so from the OS page cache, as an aggregator
reading a just-fetched update would). Times are the fastest of the repeats.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from market.encryption import (  # noqa: E402
    decrypt,
    encrypt_for_aggregator,
    generate_private_key,
    public_key_bytes,
)
from market.storage import EmbeddedStorage, compute_cid  # noqa: E402
from market.update_package import (  # noqa: E402
    UpdateMetadata,
    build_update_package,
    load_update_package,
    model_spec_hash,
)

MB = 1_000_000


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """The fastest of ``repeats`` runs of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 MB and 2 repeats")
    parser.add_argument("--size-mb", type=float, default=None, help="package size in MB (default 50)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement (default 3)")
    args = parser.parse_args(argv)
    size = int((args.size_mb or (4 if args.quick else 50)) * MB)
    repeats = args.repeats or (2 if args.quick else 3)
    console = Console()

    package, spec = make_package(size)
    megabytes = len(package) / MB
    aggregator = generate_private_key()
    public = public_key_bytes(aggregator)
    envelope = encrypt_for_aggregator(package, public)

    with tempfile.TemporaryDirectory(prefix="bench-storage-") as scratch:
        stores = iter(range(10_000))

        def put_fresh() -> str:
            return EmbeddedStorage(Path(scratch) / f"s{next(stores)}").put(package)

        store = EmbeddedStorage(Path(scratch) / "read")
        cid = store.put(package)
        timings = {
            "cid only (chunk + hash)": best_of(repeats, lambda: compute_cid(package)),
            "embedded put": best_of(repeats, put_fresh),
            "embedded get (re-hash every block)": best_of(repeats, lambda: store.get(cid)),
            "encrypt (X25519 + ChaCha20-Poly1305)": best_of(repeats, lambda: encrypt_for_aggregator(package, public)),
            "decrypt": best_of(repeats, lambda: decrypt(envelope, aggregator)),
            "package load + checks": best_of(repeats, lambda: load_update_package(package, spec)),
        }
        assert store.get(cid) == package and decrypt(envelope, aggregator) == package

    table = Table(title=f"storage of a {megabytes:.1f} MB update package (best of {repeats})")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("MB/s", justify="right")
    for step, seconds in timings.items():
        table.add_row(step, f"{seconds:.4f}", f"{megabytes / seconds:,.0f}")
    console.print(table)

    storage_time = timings["embedded put"] + timings["embedded get (re-hash every block)"]
    crypto_time = timings["encrypt (X25519 + ChaCha20-Poly1305)"] + timings["decrypt"]
    summary = Table(title="encryption overhead")
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    summary.add_row("put + get (s)", f"{storage_time:.4f}")
    summary.add_row("encrypt + decrypt (s)", f"{crypto_time:.4f}")
    summary.add_row("encrypt + decrypt / (put + get)", f"{crypto_time / storage_time:.2f}")
    summary.add_row("envelope bytes over plaintext", f"{len(envelope) - len(package)}")
    console.print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

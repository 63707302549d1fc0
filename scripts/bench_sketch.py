"""Benchmark of the sketch and its commitment: sketching an update of d parameters (k = 32,
streamed in chunks) and Poseidon hashes per second.

    python scripts/bench_sketch.py           # d = 100k and 1M
    python scripts/bench_sketch.py --quick   # d = 10k and 100k, fewer repeats
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zk.protocol.commitment import commitment_calls, random_salt, sketch_commitment  # noqa: E402
from zk.protocol.field import FIELD_MODULUS  # noqa: E402
from zk.protocol.poseidon import poseidon  # noqa: E402
from zk.protocol.sketch import SketchParams, sketch_update  # noqa: E402


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """The fastest of ``repeats`` runs of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _repeat(fn: Callable[..., object], first: Any, times: int, *rest: Any) -> None:
    for _ in range(times):
        fn(first, *rest)


def fake_update(d: int, chunk: int, seed: int = 0) -> dict[str, np.ndarray]:
    """An update of d float32 parameters split into tensors of at most ``chunk`` entries."""
    rng = np.random.default_rng(seed)
    return {
        f"layer{i:04d}.weight": rng.normal(scale=1e-3, size=min(chunk, d - start)).astype(
            np.float32
        )
        for i, start in enumerate(range(0, d, chunk))
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer repeats")
    parser.add_argument(
        "--chunk", type=int, default=65_536, help="entries per tensor (default 65536)"
    )
    args = parser.parse_args(argv)

    sizes = [10_000, 100_000] if args.quick else [100_000, 1_000_000]
    repeats = 2 if args.quick else 3
    hashes = 200 if args.quick else 1000
    params = SketchParams()
    seed = random_salt()
    rows: list[tuple[str, str, str, str]] = []

    for d in sizes:
        update = fake_update(d, args.chunk)
        seconds = best_of(repeats, partial(sketch_update, update, seed, params))
        rows.append(
            (
                f"sketch k={params.k}",
                f"d={d:,}",
                f"{seconds * 1e3:.1f} ms",
                f"{d / seconds / 1e6:.1f} M params/s",
            )
        )

    rng = np.random.default_rng(1)
    for n in (2, 16):
        inputs = [int(x) % FIELD_MODULUS for x in rng.integers(0, 2**63, size=n)]
        seconds = best_of(repeats, partial(_repeat, poseidon, inputs, hashes))
        rows.append(
            (
                "poseidon",
                f"{n} inputs",
                f"{seconds / hashes * 1e6:.0f} µs",
                f"{hashes / seconds:,.0f} hashes/s",
            )
        )

    sketch = sketch_update(fake_update(sizes[0], args.chunk), seed, params)
    salt = random_salt()
    count = hashes // 5
    seconds = best_of(repeats, partial(_repeat, sketch_commitment, sketch, count, salt))
    rows.append(
        (
            f"commitment k={params.k}",
            f"{len(commitment_calls(params.k))} Poseidon calls",
            f"{seconds / count * 1e6:.0f} µs",
            f"{count / seconds:,.0f} /s",
        )
    )

    header = ("operation", "size", "time", "rate")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Costs of the sketch and its commitment: sketching an update of d parameters (k = 32, streamed
in chunks) and Poseidon hashes per second (``scripts/bench_sketch.py``).

Each time is the fastest of a few repeats (:func:`~benchmarks.common.best_of`) on synthetic
float32 updates split into tensors of ``chunk`` entries.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from benchmarks.common import best_of
from zk.protocol.commitment import commitment_calls, random_salt, sketch_commitment
from zk.protocol.field import FIELD_MODULUS
from zk.protocol.poseidon import poseidon
from zk.protocol.sketch import SketchParams, sketch_update

__all__ = ["fake_update", "format_rows", "main", "measure"]

Row = tuple[str, str, str, str]
"""(operation, size, time, rate), formatted."""


def _repeat(fn: Callable[..., object], first: Any, times: int, *rest: Any) -> None:
    for _ in range(times):
        fn(first, *rest)


def fake_update(d: int, chunk: int, seed: int = 0) -> dict[str, np.ndarray]:
    """An update of d float32 parameters split into tensors of at most ``chunk`` entries."""
    rng = np.random.default_rng(seed)
    return {
        f"layer{i:04d}.weight": rng.normal(scale=1e-3, size=min(chunk, d - start)).astype(np.float32)
        for i, start in enumerate(range(0, d, chunk))
    }


def measure(*, quick: bool = False, chunk: int = 65_536) -> list[Row]:
    """Sketching at two sizes, Poseidon of 2 and 16 inputs, one sketch commitment."""
    sizes = [10_000, 100_000] if quick else [100_000, 1_000_000]
    repeats = 2 if quick else 3
    hashes = 200 if quick else 1000
    params = SketchParams()
    seed = random_salt()
    rows: list[Row] = []
    for d in sizes:
        update = fake_update(d, chunk)
        seconds = best_of(repeats, partial(sketch_update, update, seed, params))
        rows.append((f"sketch k={params.k}", f"d={d:,}", f"{seconds * 1e3:.1f} ms", f"{d / seconds / 1e6:.1f} M params/s"))
    rng = np.random.default_rng(1)
    for n in (2, 16):
        inputs = [int(x) % FIELD_MODULUS for x in rng.integers(0, 2**63, size=n)]
        seconds = best_of(repeats, partial(_repeat, poseidon, inputs, hashes))
        rows.append(("poseidon", f"{n} inputs", f"{seconds / hashes * 1e6:.0f} µs", f"{hashes / seconds:,.0f} hashes/s"))
    sketch = sketch_update(fake_update(sizes[0], chunk), seed, params)
    salt = random_salt()
    count = hashes // 5
    seconds = best_of(repeats, partial(_repeat, sketch_commitment, sketch, count, salt))
    rows.append((f"commitment k={params.k}", f"{len(commitment_calls(params.k))} Poseidon calls",
                 f"{seconds / count * 1e6:.0f} µs", f"{count / seconds:,.0f} /s"))
    return rows


def format_rows(rows: list[Row]) -> str:
    """The rows as an aligned plain-text table under a header."""
    header = ("operation", "size", "time", "rate")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([line.format(*header), line.format(*("-" * w for w in widths)), *(line.format(*r) for r in rows)])


def main(*, quick: bool = False, chunk: int = 65_536) -> list[Row]:
    """``scripts/bench_sketch.py``: measure and print the table."""
    rows = measure(quick=quick, chunk=chunk)
    print(format_rows(rows))
    return rows

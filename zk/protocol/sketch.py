"""The sketch of a model update: ``s = quantize(R(seed) · u)``.

``u`` is the update flattened to ``d`` numbers (tensors in sorted-name order, each flattened in
C order), ``R`` a ``k × d`` matrix of ±1 drawn from the round's seed with SHAKE-256 and never
held whole: it is generated in blocks of :data:`BLOCK_COLUMNS` columns while the update streams
past. Every step is exact integer arithmetic or an exactly rounded IEEE operation, so the
trainer, the aggregator and an auditor get bit-identical sketches on any machine, whatever
chunking or BLAS they use. ``zk/README.md`` has the full definition.

* Input fixed point: ``q_j = clip(rint(u_j · 2^36), ±2^52)`` (:data:`INPUT_FRAC_BITS`,
  :data:`INPUT_CLIP`).
* Exact projection ``y = R · q`` (integers; :func:`project_fixed`), returned by
  :func:`project` as ``y · 2^-36`` in float64.
* Quantisation: ``s_i = clip(rint(y_i · 2^-36 · 2^S), ±B)`` with :class:`SketchParams`
  (``S = 24``, ``B = 2^40 - 1`` by default).

E[(R·u)_i²] = ‖u‖², so ``s_i · 2^-24`` is on the scale of the update's norm, whatever d is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import SupportsIndex

import numpy as np
import numpy.typing as npt

from market.tracing import traced
from zk.exceptions import SketchInputError
from zk.protocol.commitment import random_salt

__all__ = [
    "BLOCK_COLUMNS",
    "INPUT_CLIP",
    "INPUT_FRAC_BITS",
    "MAX_PARAMETERS",
    "R_DOMAIN",
    "SketchParams",
    "flatten_update",
    "project",
    "project_fixed",
    "quantize",
    "random_salt",
    "rademacher_block",
    "seed_bytes",
    "sketch_update",
]

#: Domain-separation prefix of the SHAKE-256 input that draws R.
R_DOMAIN = b"poc-market:sketch-R:v1"
#: Columns of R drawn by one SHAKE-256 call (a multiple of 8).
BLOCK_COLUMNS = 4096
#: Fractional bits of the fixed-point form of an update's entries.
INPUT_FRAC_BITS = 36
#: Entries are clipped to ``±INPUT_CLIP`` once in fixed point (``|u_j| ≤ 2^16``).
INPUT_CLIP = 1 << 52
#: Largest number of parameters an update may have (the exact int64 accumulators need it).
MAX_PARAMETERS = 1 << 36

_INPUT_CLIP_REAL = float(INPUT_CLIP >> INPUT_FRAC_BITS)  # 2^16
_LIMB_BITS = 26  # q = hi·2^26 + lo, lo in [0, 2^26): every partial sum stays below 2^53
_LIMB = float(1 << _LIMB_BITS)
_SUBCHUNK = 1 << 16  # entries converted at a time (bounds temporary memory)
_ROW_BYTES = BLOCK_COLUMNS // 8
# _SIGNS[b] = the 8 entries encoded by byte b, least significant bit first; bit 1 means -1
_SIGNS = 1.0 - 2.0 * ((np.arange(256)[:, None] >> np.arange(8)[None, :]) & 1).astype(np.float64)


@dataclass(frozen=True)
class SketchParams:
    """What a sketch is, for one task: its length and its fixed-point format.

    Attributes:
        k: number of rows of R, the sketch's length.
        scale_bits: S; a sketch value ``s_i`` stands for ``s_i · 2^-S`` (resolution ≈ 6e-8).
        clip: B; sketch values are clipped to ``[-B, B]``. With B = 2^40 - 1 every value
            passes a 41-bit range check (``s + 2^40`` in ``[0, 2^41)``), and for up to 16
            trainers ``|⟨s_i, g⟩| ≤ k·B² < 2^85`` and ``‖s_i - m‖² ≤ k·(2B)² < 2^87``, far below
            2^126.
    """

    k: int = 32
    scale_bits: int = 24
    clip: int = (1 << 40) - 1

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be a positive integer, got {self.k!r}")
        if not 0 <= self.scale_bits <= INPUT_FRAC_BITS:
            raise ValueError(f"scale_bits must be in [0, {INPUT_FRAC_BITS}]")
        # Beyond 2^53 the float64 projection is no longer exact; those values must all clip.
        if not 1 <= self.clip < 1 << (self.scale_bits + 53 - INPUT_FRAC_BITS):
            raise ValueError(
                f"clip must be in [1, 2^{self.scale_bits + 53 - INPUT_FRAC_BITS}) "
                f"for scale_bits={self.scale_bits}"
            )

    @property
    def value_bits(self) -> int:
        """Bits of ``|s_i|``: every sketch value satisfies ``|s_i| < 2^value_bits``."""
        return self.clip.bit_length()


def seed_bytes(seed: SupportsIndex | bytes) -> bytes:
    """The 32-byte big-endian form of a seed (a uint256, e.g. a field element or a block
    hash given as ``int`` or as 32 bytes)."""
    if isinstance(seed, (bytes, bytearray)):
        if len(seed) != 32:
            raise SketchInputError(f"a seed given as bytes must have 32 bytes, got {len(seed)}")
        return bytes(seed)
    if isinstance(seed, bool):
        raise SketchInputError("the seed must be an integer, not a bool")
    value = int(seed.__index__())
    if not 0 <= value < 1 << 256:
        raise SketchInputError(f"the seed must be a uint256, got {value}")
    return value.to_bytes(32, "big")


def rademacher_block(seed: SupportsIndex | bytes, block: int, k: int) -> npt.NDArray[np.float64]:
    """Columns ``[block·4096, (block+1)·4096)`` of R as a ``k × 4096`` float64 array of ±1.

    ``X = SHAKE-256(R_DOMAIN ‖ seed (32 bytes, big-endian) ‖ block (8 bytes, big-endian))``,
    read for ``k · 512`` bytes; row i is bytes ``[512 i, 512 (i+1))``; the entry in local
    column c is bit ``c mod 8`` (least significant first) of byte ``c div 8`` of that row:
    +1 for a 0 bit, -1 for a 1 bit. SHAKE's output is a stream, so the first rows do not
    depend on k.
    """
    if not 0 <= block < 1 << 64:
        raise SketchInputError(f"block index out of range: {block}")
    message = R_DOMAIN + seed_bytes(seed) + block.to_bytes(8, "big")
    raw = hashlib.shake_256(message).digest(k * _ROW_BYTES)
    codes = np.frombuffer(raw, dtype=np.uint8).reshape(k, _ROW_BYTES)
    return _SIGNS[codes].reshape(k, BLOCK_COLUMNS)


def _fixed_limbs(values: npt.NDArray[np.generic]) -> npt.NDArray[np.float64]:
    """``q = clip(rint(u · 2^36), ±2^52)`` split into exact float64 limbs ``[hi, lo]``."""
    u = values.astype(np.float64, copy=False)  # exact for float16/32/64 and |ints| < 2^53
    if not np.all(np.isfinite(u)):
        raise SketchInputError("the update holds NaN or infinite values")
    # clip(u, ±2^16) then the exact scaling equals clipping q to ±2^52, without overflow
    q = np.rint(np.ldexp(np.clip(u, -_INPUT_CLIP_REAL, _INPUT_CLIP_REAL), INPUT_FRAC_BITS))
    hi = np.floor(q / _LIMB)
    return np.stack([hi, q - hi * _LIMB], axis=1)


def _as_flat(chunk: npt.ArrayLike) -> npt.NDArray[np.generic]:
    arr = np.asarray(chunk)
    if arr.dtype.kind not in "fiub" or (arr.dtype.kind == "f" and arr.dtype.itemsize > 8):
        raise SketchInputError(f"cannot sketch values of dtype {arr.dtype}")
    if arr.dtype.kind in "iu" and arr.size and int(np.max(np.abs(arr.astype(np.float64)))) >= 2**53:
        raise SketchInputError("integer entries must have |x| < 2^53")
    return arr.reshape(-1)  # C order


class _Projector:
    """Accumulates ``R · q`` exactly while the update streams past, chunk by chunk."""

    def __init__(self, seed: SupportsIndex | bytes, k: int) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise SketchInputError(f"k must be a positive integer, got {k!r}")
        self._seed = seed_bytes(seed)
        self._k = int(k)
        self._hi = np.zeros(self._k, dtype=np.int64)
        self._lo = np.zeros(self._k, dtype=np.int64)
        self._columns = 0
        self._block: tuple[int, npt.NDArray[np.float64]] | None = None

    def _r(self, block: int) -> npt.NDArray[np.float64]:
        if self._block is None or self._block[0] != block:
            self._block = (block, rademacher_block(self._seed, block, self._k))
        return self._block[1]

    def add(self, chunk: npt.ArrayLike) -> None:
        flat = _as_flat(chunk)
        n = flat.shape[0]
        if self._columns + n > MAX_PARAMETERS:
            raise SketchInputError("an update may have at most 2^36 parameters")
        for start in range(0, n, _SUBCHUNK):
            limbs = _fixed_limbs(flat[start : start + _SUBCHUNK])
            pos = 0
            while pos < limbs.shape[0]:
                block, col = divmod(self._columns, BLOCK_COLUMNS)
                take = min(BLOCK_COLUMNS - col, limbs.shape[0] - pos)
                # exact: entries ±1, |limbs| ≤ 2^26, at most 2^12 terms, so every partial sum
                # is an integer below 2^38 whatever order BLAS adds them in
                part = self._r(block)[:, col : col + take] @ limbs[pos : pos + take]
                self._hi += part[:, 0].astype(np.int64)
                self._lo += part[:, 1].astype(np.int64)
                pos += take
                self._columns += take

    def result(self) -> list[int]:
        if self._columns == 0:
            raise SketchInputError("the update is empty: nothing to sketch")
        return [(int(h) << _LIMB_BITS) + int(lo) for h, lo in zip(self._hi, self._lo)]


def project_fixed(
    u_chunks: Iterable[npt.ArrayLike], seed: SupportsIndex | bytes, k: int
) -> list[int]:
    """The exact integer projection ``y = R(seed) · q`` with ``q = clip(rint(u · 2^36), ±2^52)``.

    ``u_chunks`` is any iterable of arrays (each flattened in C order) whose concatenation is
    u; how u is cut into chunks does not change the result.
    """
    projector = _Projector(seed, k)
    for chunk in u_chunks:
        projector.add(chunk)
    return projector.result()


def project(
    u_chunks: Iterable[npt.ArrayLike], seed: SupportsIndex | bytes, k: int
) -> npt.NDArray[np.float64]:
    """``R(seed) · u`` before quantisation, as float64: :func:`project_fixed` times 2^-36
    (exact while ``|y_i| < 2^53``, else correctly rounded). Linear in u up to the 2^-36
    input resolution; identical for every chunking of u."""
    y = project_fixed(u_chunks, seed, k)
    return np.ldexp(np.array([float(v) for v in y], dtype=np.float64), -INPUT_FRAC_BITS)


def quantize(values: npt.ArrayLike, params: SketchParams = SketchParams()) -> list[int]:
    """``s_i = clip(rint(v_i · 2^S), -B, B)``, rounding half to even, as Python ints.

    On the output of :func:`project` this is exact: it equals rounding ``y_i / 2^(36 - S)``
    half to even and clipping, computed on integers.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise SketchInputError(f"expected a vector of projections, got shape {v.shape}")
    if np.any(np.isnan(v)):
        raise SketchInputError("cannot quantize NaN")
    # clipping at ±B·2^-S (exact: B < 2^53) before the exact scaling and rounding is the same
    # as rounding then clipping at ±B, and cannot overflow
    bound = np.ldexp(float(params.clip), -params.scale_bits)
    scaled = np.rint(np.ldexp(np.clip(v, -bound, bound), params.scale_bits))
    return [int(x) for x in scaled]


def flatten_update(tensors: Mapping[str, npt.ArrayLike]) -> Iterator[npt.NDArray[np.generic]]:
    """The update's tensors in the sketch's order: sorted by name (Python's ``sorted`` on
    ``str``, i.e. by Unicode code points), each flattened in C order."""
    if not tensors:
        raise SketchInputError("the update has no tensors")
    for name in sorted(tensors):
        if not isinstance(name, str):
            raise SketchInputError(f"tensor names must be strings, got {name!r}")
        yield _as_flat(tensors[name])


@traced("sketch.update")
def sketch_update(
    tensors: Mapping[str, npt.ArrayLike],
    seed: SupportsIndex | bytes,
    params: SketchParams = SketchParams(),
) -> list[int]:
    """The sketch of an update given as named tensors (numpy arrays, or anything
    ``numpy.asarray`` takes, e.g. CPU torch tensors): ``quantize(project(u, seed, k))``."""
    return quantize(project(flatten_update(tensors), seed, params.k), params)

"""A trainer's update package: one safetensors file, tensors by parameter name, metadata in
the header's ``__metadata__`` string map.

Building is :func:`build_update_package`; loading untrusted bytes is
:func:`load_update_package`, which checks, in this order, and raises one exception class per
failure (each with a stable :attr:`UpdatePackageError.reason` code for rejection records):

=========================  ====================  ==========================================
exception                  reason                what failed
=========================  ====================  ==========================================
:class:`PackageTooLarge`   ``too-large``         byte size over the limit
:class:`PackageMalformed`  ``malformed``         not a well-formed safetensors file
:class:`InvalidMetadata`   ``bad-metadata``      metadata missing, mistyped or out of range
:class:`MetadataMismatch`  ``metadata-mismatch`` task, round, trainer or spec hash unexpected
:class:`WrongTensorNames`  ``wrong-names``       parameter names differ from the model spec
:class:`WrongDtype`        ``wrong-dtype``       a tensor's dtype differs from the spec
:class:`WrongShape`        ``wrong-shape``       a tensor's shape differs from the spec
:class:`NonFiniteValues`   ``non-finite``        NaN or infinity in a tensor
:class:`UpdateNormTooLarge` ``norm-too-large``   global L2 norm over the task's bound
=========================  ====================  ==========================================

The header is parsed and checked here before any tensor byte is touched; the tensors are then
decoded by the ``safetensors`` library into NumPy arrays. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy
from eth_utils import is_address, keccak, to_checksum_address

from market.exceptions import MarketValueError
from market.tracing import traced

FORMAT = "market-update"
VERSION = "1"
MAX_HEADER_BYTES = 1 << 20
"""Largest safetensors header accepted (names, shapes, offsets and metadata)."""

SAFETENSORS_DTYPES = {
    "F16": "float16", "F32": "float32", "F64": "float64",
    "I8": "int8", "I16": "int16", "I32": "int32", "I64": "int64",
    "U8": "uint8", "U16": "uint16", "U32": "uint32", "U64": "uint64", "BOOL": "bool",
}  # fmt: skip
"""safetensors dtype codes that NumPy can hold, with their NumPy names."""

ModelSpec = Mapping[str, tuple[Sequence[int], str]]
"""``{parameter name: (shape, numpy dtype name)}``, e.g. ``{"fc.weight": ((10, 64), "float32")}``."""


# --- exceptions --------------------------------------------------------------------------
class UpdatePackageError(MarketValueError):
    """An update package is unacceptable; :attr:`reason` is a stable short code."""

    reason = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(f"update package rejected ({self.reason}): {message}")
        self.detail = message


class PackageTooLarge(UpdatePackageError):
    """The package is larger than the limit."""

    reason = "too-large"


class PackageMalformed(UpdatePackageError):
    """The bytes are not a well-formed safetensors file."""

    reason = "malformed"


class InvalidMetadata(PackageMalformed):
    """The ``__metadata__`` map lacks a field or holds an invalid value."""

    reason = "bad-metadata"


class MetadataMismatch(UpdatePackageError):
    """The metadata is valid but names another task, round, trainer or model spec."""

    reason = "metadata-mismatch"


class WrongTensorNames(UpdatePackageError):
    """The tensor names are not exactly the model spec's parameter names."""

    reason = "wrong-names"

    def __init__(self, missing: Collection[str], unexpected: Collection[str]) -> None:
        self.missing, self.unexpected = sorted(missing), sorted(unexpected)
        super().__init__(f"missing {self.missing or 'none'}, unexpected {self.unexpected or 'none'}")


class WrongDtype(UpdatePackageError):
    """A tensor's dtype is not the spec's."""

    reason = "wrong-dtype"


class WrongShape(UpdatePackageError):
    """A tensor's shape is not the spec's."""

    reason = "wrong-shape"


class NonFiniteValues(UpdatePackageError):
    """A tensor holds NaN or infinite values."""

    reason = "non-finite"


class UpdateNormTooLarge(UpdatePackageError):
    """The update's global L2 norm exceeds the task's bound."""

    reason = "norm-too-large"


# --- data --------------------------------------------------------------------------------
@dataclass(frozen=True)
class UpdateMetadata:
    """What a package says about itself (all of it goes in ``__metadata__``)."""

    task_id: int
    round: int
    trainer: str
    """Trainer's address (checksummed on the way in)."""
    num_samples: int
    salt: bytes
    """Random salt of the sketch commitment."""
    model_spec_hash: bytes
    """32-byte :func:`model_spec_hash` of the model spec the update follows."""
    sketch: tuple[int, ...] = ()
    """Quantised sketch; empty when the package is made before the round's seed exists."""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    """Free-form, JSON-serialisable training metrics (loss, accuracy, epochs…)."""

    def to_strings(self) -> dict[str, str]:
        """The ``__metadata__`` string map."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "task_id": str(self.task_id),
            "round": str(self.round),
            "trainer": self.trainer,
            "num_samples": str(self.num_samples),
            "salt": "0x" + self.salt.hex(),
            "model_spec_hash": "0x" + self.model_spec_hash.hex(),
            "sketch": json.dumps([int(v) for v in self.sketch], separators=(",", ":")),
            "metrics": json.dumps(dict(self.metrics), separators=(",", ":"), sort_keys=True, allow_nan=False),
        }

    @classmethod
    def from_strings(cls, raw: Mapping[str, str]) -> UpdateMetadata:
        """Parse and check a ``__metadata__`` map (raises :class:`InvalidMetadata`)."""
        if raw.get("format") != FORMAT or raw.get("version") != VERSION:
            found = f"format={raw.get('format')!r}, version={raw.get('version')!r}"
            raise InvalidMetadata(f"not a {FORMAT} v{VERSION} package ({found})")
        return cls(
            task_id=_int_field(raw, "task_id", minimum=0),
            round=_int_field(raw, "round", minimum=0),
            trainer=_address_field(raw, "trainer"),
            num_samples=_int_field(raw, "num_samples", minimum=1),
            salt=_hex_field(raw, "salt"),
            model_spec_hash=_hex_field(raw, "model_spec_hash", size=32),
            sketch=_sketch_field(raw),
            metrics=_metrics_field(raw),
        )

    def __post_init__(self) -> None:
        if not is_address(self.trainer):
            raise InvalidMetadata(f"trainer {self.trainer!r} is not an address")
        object.__setattr__(self, "trainer", to_checksum_address(self.trainer))
        object.__setattr__(self, "sketch", tuple(int(v) for v in self.sketch))
        if len(self.model_spec_hash) != 32:
            raise InvalidMetadata("model_spec_hash must be 32 bytes")
        if self.task_id < 0 or self.round < 0 or self.num_samples < 1:
            raise InvalidMetadata("task_id and round must be >= 0, num_samples >= 1")


@dataclass(frozen=True)
class UpdatePackage:
    """A loaded, checked package: metadata and tensors by parameter name."""

    metadata: UpdateMetadata
    tensors: dict[str, np.ndarray]


def _field(raw: Mapping[str, str], name: str) -> str:
    if name not in raw:
        raise InvalidMetadata(f"metadata field {name!r} is missing")
    return raw[name]


def _int_field(raw: Mapping[str, str], name: str, *, minimum: int) -> int:
    text = _field(raw, name)
    if not text.isdecimal() or len(text) > 78 or int(text) < minimum:
        raise InvalidMetadata(f"metadata field {name!r} = {text[:40]!r} is not an integer >= {minimum}")
    return int(text)


def _address_field(raw: Mapping[str, str], name: str) -> str:
    text = _field(raw, name)
    if not is_address(text):
        raise InvalidMetadata(f"metadata field {name!r} = {text[:60]!r} is not an address")
    return to_checksum_address(text)


def _hex_field(raw: Mapping[str, str], name: str, *, size: int | None = None) -> bytes:
    text = _field(raw, name)
    try:
        value = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise InvalidMetadata(f"metadata field {name!r} is not hex") from None
    if not value or (size is not None and len(value) != size):
        raise InvalidMetadata(f"metadata field {name!r} has {len(value)} bytes, expected {size or 'some'}")
    return value


def _sketch_field(raw: Mapping[str, str]) -> tuple[int, ...]:
    try:
        sketch = json.loads(_field(raw, "sketch"))
    except ValueError:
        raise InvalidMetadata("metadata field 'sketch' is not JSON") from None
    if not isinstance(sketch, list) or not all(type(v) is int for v in sketch):
        raise InvalidMetadata("metadata field 'sketch' is not a list of integers")
    return tuple(sketch)


def _metrics_field(raw: Mapping[str, str]) -> dict[str, Any]:
    try:
        metrics = json.loads(raw.get("metrics", "{}"), parse_constant=_refuse_constant)
    except ValueError:
        raise InvalidMetadata("metadata field 'metrics' is not JSON") from None
    if not isinstance(metrics, dict):
        raise InvalidMetadata("metadata field 'metrics' is not a JSON object")
    return metrics


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# --- model spec --------------------------------------------------------------------------
def normalize_model_spec(spec: ModelSpec) -> dict[str, tuple[tuple[int, ...], str]]:
    """``{name: (shape tuple, numpy dtype name)}`` with dtypes checked."""
    normalized = {}
    for name, (shape, dtype) in spec.items():
        dtype_name = np.dtype(dtype).name
        if dtype_name not in SAFETENSORS_DTYPES.values():
            raise MarketValueError(f"model spec: dtype {dtype!r} of {name!r} cannot be stored")
        normalized[name] = (tuple(int(d) for d in shape), dtype_name)
    return normalized


def model_spec_hash(spec: ModelSpec) -> bytes:
    """keccak256 of the canonical JSON ``[[name, shape, dtype], …]`` sorted by name."""
    canonical = [[name, list(shape), dtype] for name, (shape, dtype) in sorted(normalize_model_spec(spec).items())]
    return keccak(text=json.dumps(canonical, separators=(",", ":")))


def max_package_bytes(spec: ModelSpec) -> int:
    """The size limit that follows from a spec: its tensors plus :data:`MAX_HEADER_BYTES`."""
    tensors = sum(math.prod(shape) * np.dtype(dtype).itemsize for shape, dtype in normalize_model_spec(spec).values())
    return 8 + MAX_HEADER_BYTES + tensors


# --- build and load ----------------------------------------------------------------------
@traced("update_package.build")
def build_update_package(tensors: Mapping[str, np.ndarray], metadata: UpdateMetadata) -> bytes:
    """Serialise ``tensors`` (NumPy arrays by parameter name) and ``metadata``."""
    arrays = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
    return bytes(safetensors.numpy.save(arrays, metadata=metadata.to_strings()))


def read_header(data: bytes) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Parse and check the safetensors header: ``({name: entry}, metadata)``.

    Checks the header length, strict JSON (no duplicate keys), entry fields, known dtypes,
    and that the data offsets tile the byte buffer exactly, each matching its shape.
    """
    if len(data) < 8:
        raise PackageMalformed(f"{len(data)} bytes is too short for a safetensors file")
    (header_size,) = struct.unpack_from("<Q", data)
    if header_size > MAX_HEADER_BYTES or 8 + header_size > len(data):
        raise PackageMalformed(f"header length {header_size} is out of range")
    try:
        header = json.loads(data[8 : 8 + header_size].decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError) as err:
        raise PackageMalformed(f"header is not valid JSON: {err}") from None
    if not isinstance(header, dict):
        raise PackageMalformed("header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise InvalidMetadata("header has no __metadata__ string map")
    buffer_size, spans = len(data) - 8 - header_size, []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise PackageMalformed(f"tensor {name!r}: entry must have dtype, shape, data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in SAFETENSORS_DTYPES:
            raise WrongDtype(f"tensor {name!r} has dtype {dtype!r}, which this market does not accept")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise PackageMalformed(f"tensor {name!r}: bad shape {shape!r}")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets):
            raise PackageMalformed(f"tensor {name!r}: bad data_offsets {offsets!r}")
        nbytes = math.prod(shape) * np.dtype(SAFETENSORS_DTYPES[dtype]).itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise PackageMalformed(f"tensor {name!r}: {offsets[1] - offsets[0]} bytes for shape {shape} {dtype}")
        spans.append((offsets[0], offsets[1], name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise PackageMalformed(f"tensor {name!r}: data offsets overlap or leave a gap at byte {position}")
        position = end
    if position != buffer_size:
        raise PackageMalformed(f"tensors cover {position} of {buffer_size} data bytes")
    return header, metadata


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def check_against_spec(header: Mapping[str, Mapping[str, Any]], spec: ModelSpec) -> None:
    """Raise unless the header's names, dtypes and shapes are exactly the spec's."""
    expected = normalize_model_spec(spec)
    if set(header) != set(expected):
        raise WrongTensorNames(set(expected) - set(header), set(header) - set(expected))
    for name, (shape, dtype) in expected.items():
        got_dtype = SAFETENSORS_DTYPES[header[name]["dtype"]]
        if got_dtype != dtype:
            raise WrongDtype(f"tensor {name!r} is {got_dtype}, the model spec says {dtype}")
        if tuple(header[name]["shape"]) != shape:
            raise WrongShape(f"tensor {name!r} has shape {tuple(header[name]['shape'])}, the model spec says {shape}")


@traced("update_package.load")
def load_update_package(
    data: bytes,
    spec: ModelSpec,
    *,
    max_bytes: int | None = None,
    max_norm: float | None = None,
    expect: Mapping[str, Any] | None = None,
) -> UpdatePackage:
    """Check untrusted package bytes against ``spec`` and return the package.

    ``max_bytes`` defaults to :func:`max_package_bytes`; ``max_norm`` bounds the global L2
    norm; ``expect`` maps metadata fields (``task_id``, ``round``, ``trainer``,
    ``model_spec_hash``…) to required values. ``model_spec_hash`` is always checked
    against ``spec``.
    """
    limit = max_package_bytes(spec) if max_bytes is None else max_bytes
    if len(data) > limit:
        raise PackageTooLarge(f"{len(data)} bytes exceeds the limit of {limit}")
    header, raw_metadata = read_header(data)
    metadata = UpdateMetadata.from_strings(raw_metadata)
    required = {"model_spec_hash": model_spec_hash(spec), **(expect or {})}
    for name, value in required.items():
        got = getattr(metadata, name)
        if name == "trainer":
            value = to_checksum_address(value) if is_address(value) else value
        if got != value:
            raise MetadataMismatch(f"{name} is {got!r}, expected {value!r}")
    check_against_spec(header, spec)
    try:
        tensors = safetensors.numpy.load(bytes(data))
    except safetensors.SafetensorError as err:
        raise PackageMalformed(f"safetensors refused it: {err}") from None
    squares = 0.0
    for name, array in tensors.items():
        if array.dtype.kind == "f":
            bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            if bad:
                raise NonFiniteValues(f"tensor {name!r} holds {bad} NaN or infinite value(s)")
        if max_norm is not None:
            squares += float(np.sum(np.square(array.astype(np.float64))))
    if max_norm is not None and math.sqrt(squares) > max_norm:
        raise UpdateNormTooLarge(f"L2 norm {math.sqrt(squares):.6g} exceeds the bound {max_norm:.6g}")
    return UpdatePackage(metadata, tensors)

"""Building an update package and loading untrusted package bytes against a model spec."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy
from eth_utils import is_address, keccak, to_checksum_address

from market.exceptions import MarketValueError
from market.tracing import traced
from market.update_package.errors import (
    MetadataMismatch,
    NonFiniteValues,
    PackageMalformed,
    PackageTooLarge,
    TooManySamples,
    UpdateNormTooLarge,
    WrongDtype,
    WrongShape,
    WrongTensorNames,
)
from market.update_package.header import MAX_HEADER_BYTES, SAFETENSORS_DTYPES, read_header
from market.update_package.metadata import UpdateMetadata

__all__ = [
    "MAX_NUM_SAMPLES",
    "ModelSpec",
    "UpdatePackage",
    "build_update_package",
    "check_against_spec",
    "load_update_package",
    "max_package_bytes",
    "model_spec_hash",
    "normalize_model_spec",
]

MAX_NUM_SAMPLES = 10**9
"""Protocol cap on a package's ``num_samples`` (its FedAvg weight); a task spec may set a lower
one (``limits.max_num_samples``). The review's 10^30 flipped FedAvg's sign."""

ModelSpec = Mapping[str, tuple[Sequence[int], str]]
"""``{parameter name: (shape, numpy dtype name)}``, e.g. ``{"fc.weight": ((10, 64), "float32")}``."""


@dataclass(frozen=True)
class UpdatePackage:
    """A loaded, checked package: metadata and tensors by parameter name."""

    metadata: UpdateMetadata
    tensors: dict[str, np.ndarray]



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
    max_num_samples: int | None = None,
) -> UpdatePackage:
    """Check untrusted package bytes against ``spec`` and return the package.

    ``max_bytes`` defaults to :func:`max_package_bytes`; ``max_norm`` bounds the global L2
    norm; ``expect`` maps metadata fields (``task_id``, ``round``, ``trainer``,
    ``model_spec_hash``…) to required values. ``model_spec_hash`` is always checked
    against ``spec``. ``num_samples`` is capped at ``max_num_samples`` (the task spec's
    ``limits.num_samples_cap``), never above :data:`MAX_NUM_SAMPLES`.
    """
    limit = max_package_bytes(spec) if max_bytes is None else max_bytes
    if len(data) > limit:
        raise PackageTooLarge(f"{len(data)} bytes exceeds the limit of {limit}")
    header, raw_metadata = read_header(data)
    metadata = UpdateMetadata.from_strings(raw_metadata)
    cap = MAX_NUM_SAMPLES if max_num_samples is None else min(max_num_samples, MAX_NUM_SAMPLES)
    if metadata.num_samples > cap:
        raise TooManySamples(f"num_samples {metadata.num_samples:,} is over the cap of {cap:,}")
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

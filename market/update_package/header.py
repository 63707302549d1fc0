"""The safetensors header of an update package, parsed without trusting it: its length, its
nesting depth (counted before the recursive JSON parser runs), strict JSON, and entries whose data
offsets tile the byte buffer exactly."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np

from market.bounded_json import json_nesting_depth
from market.update_package.errors import HeaderTooDeep, InvalidMetadata, PackageMalformed, WrongDtype

__all__ = ["MAX_HEADER_BYTES", "MAX_HEADER_DEPTH", "SAFETENSORS_DTYPES", "json_nesting_depth", "read_header"]

MAX_HEADER_BYTES = 1 << 20
"""Largest safetensors header accepted (names, shapes, offsets and metadata)."""
MAX_HEADER_DEPTH = 3
"""Deepest nesting of a safetensors header: the object, a tensor's entry, its shape."""

SAFETENSORS_DTYPES = {
    "F16": "float16", "F32": "float32", "F64": "float64",
    "I8": "int8", "I16": "int16", "I32": "int32", "I64": "int64",
    "U8": "uint8", "U16": "uint16", "U32": "uint32", "U64": "uint64", "BOOL": "bool",
}  # fmt: skip
"""safetensors dtype codes that NumPy can hold, with their NumPy names."""


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
    if (depth := json_nesting_depth(data[8 : 8 + header_size])) > MAX_HEADER_DEPTH:
        raise HeaderTooDeep(f"header JSON is nested {depth:,} deep (a safetensors header needs {MAX_HEADER_DEPTH})")
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

"""The ``__metadata__`` string map of an update package: what it says about itself, parsed and
checked field by field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_utils import is_address, to_checksum_address

from market.bounded_json import json_nesting_depth
from market.update_package.errors import InvalidMetadata

__all__ = ["FORMAT", "MAX_METRICS_DEPTH", "VERSION", "UpdateMetadata"]

FORMAT = "market-update"
VERSION = "1"
MAX_METRICS_DEPTH = 8
"""Deepest nesting of the free-form ``metrics`` JSON (a trainer's is a flat object)."""


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
    text = _field(raw, "sketch")
    if json_nesting_depth(text) > 1:
        raise InvalidMetadata("metadata field 'sketch' is nested deeper than a list")
    try:
        sketch = json.loads(text)
    except ValueError:
        raise InvalidMetadata("metadata field 'sketch' is not JSON") from None
    if not isinstance(sketch, list) or not all(type(v) is int for v in sketch):
        raise InvalidMetadata("metadata field 'sketch' is not a list of integers")
    return tuple(sketch)


def _metrics_field(raw: Mapping[str, str]) -> dict[str, Any]:
    text = raw.get("metrics", "{}")
    if json_nesting_depth(text) > MAX_METRICS_DEPTH:
        raise InvalidMetadata(f"metadata field 'metrics' is nested deeper than {MAX_METRICS_DEPTH}")
    try:
        metrics = json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        raise InvalidMetadata("metadata field 'metrics' is not JSON") from None
    if not isinstance(metrics, dict):
        raise InvalidMetadata("metadata field 'metrics' is not a JSON object")
    return metrics


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")

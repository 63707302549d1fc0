"""The aggregator node's state file: typed records with a version, read by attribute.

:class:`AggregatorState` holds one :class:`SavedRound` per assessed round: the publication the
node saved *before* sending ``publishRound``, so a restart re-sends exactly it, and whether it
went out. On disk it is JSON (``state.json``, written atomically); bytes are hex. Files without
a ``version`` are the older layout (the same rounds, no version field) and load too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aggregator.exceptions import AggregatorError
from market.types import RoundPublication

__all__ = ["STATE_VERSION", "AggregatorState", "SavedRound", "load_state", "save_state"]

STATE_VERSION = 1
"""Layout of the aggregator's state file."""


@dataclass(frozen=True)
class SavedRound:
    """A round's publication as saved before it is sent, and whether it was sent."""

    model_cid: str
    """CID of the new global model."""
    transcript_cid: str
    """CID of the round's audit transcript."""
    flags: list[bool]
    """One per trainer slot (join order): flagged by the rule."""
    rejections: list[bool]
    """One per slot: the submission failed intake."""
    scores: list[int]
    """One per slot: the points the round pays."""
    aggregate_commitment: int
    """Poseidon commitment to the aggregate sketch (0 for trusted-aggregator tasks)."""
    proof: bytes = b""
    """The round proof (empty without a verifier)."""
    evidence: dict[str, bytes] = field(default_factory=dict)
    """Trainer address → decryption key of its rejected submission, revealed after publishing."""
    published: bool = False
    """``publishRound`` went through (or the chain already showed the round published)."""

    def publication(self) -> RoundPublication:
        """What ``publishRound`` sends."""
        return RoundPublication(
            global_model_cid=self.model_cid, flags=list(self.flags), rejections=list(self.rejections),
            scores=list(self.scores), aggregate_commitment=self.aggregate_commitment, proof=self.proof,
            transcript_cid=self.transcript_cid,
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, bytes as hex."""
        return {
            "model_cid": self.model_cid, "transcript_cid": self.transcript_cid, "flags": list(self.flags),
            "rejections": list(self.rejections), "scores": list(self.scores),
            "aggregate_commitment": self.aggregate_commitment, "proof": self.proof.hex(),
            "evidence": {trainer: key.hex() for trainer, key in self.evidence.items()}, "published": self.published,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SavedRound:
        """Inverse of :meth:`to_json`."""
        return cls(
            model_cid=raw["model_cid"], transcript_cid=raw["transcript_cid"], flags=list(raw["flags"]),
            rejections=list(raw["rejections"]), scores=[int(s) for s in raw["scores"]],
            aggregate_commitment=int(raw["aggregate_commitment"]), proof=bytes.fromhex(raw.get("proof", "")),
            evidence={trainer: bytes.fromhex(key) for trainer, key in raw.get("evidence", {}).items()},
            published=bool(raw.get("published", False)),
        )


@dataclass
class AggregatorState:
    """Everything the aggregator keeps across restarts."""

    rounds: dict[int, SavedRound] = field(default_factory=dict)
    version: int = STATE_VERSION

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version,
                "rounds": {str(r): saved.to_json() for r, saved in sorted(self.rounds.items())}}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AggregatorState:
        """A saved state, brought to the current version (the unversioned layout,
        ``{"rounds": {...}}``, holds the same rounds)."""
        version = int(raw.get("version", 0))
        if version > STATE_VERSION:
            raise AggregatorError(f"aggregator state version {version} is newer than this node's {STATE_VERSION}: "
                                  "upgrade the market package")
        return cls(rounds={int(r): SavedRound.from_json(saved) for r, saved in raw.get("rounds", {}).items()})


def load_state(path: Path) -> AggregatorState:
    """The state at ``path``, or an empty one when there is no file yet."""
    if not path.exists():
        return AggregatorState()
    return AggregatorState.from_json(json.loads(path.read_text()))


def save_state(path: Path, state: AggregatorState) -> None:
    """Write ``state`` to ``path`` atomically (a temporary file, then a rename)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=1))
    os.replace(tmp, path)

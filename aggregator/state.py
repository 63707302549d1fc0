"""The aggregator node's state files: typed records with a version, read by attribute.

:class:`AggregatorState` holds one :class:`SavedRound` per assessed round: the publication the
node saved *before* sending ``publishRound``, so a restart re-sends exactly it, and whether it
went out. On disk it is JSON (``state.json``, written atomically); bytes are hex. Files without
a ``version`` are the older layout (the same rounds, no version field) and load too.

:class:`IntakeProgress` is a round's intake so far (``intake-round<r>.jsonl``, one JSON line per
event, appended and synced): a check that begins, a verdict that is made
(:func:`intake_result_to_json`). A restart reads it back, so the round's intake resumes where it
stopped (:mod:`aggregator.round_intake`) instead of crashing again on the same submission; the
file goes once the round is saved in ``state.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aggregator.exceptions import AggregatorError
from aggregator.intake import IntakeResult
from market.types import RoundPublication
from market.update_package import UpdateMetadata

__all__ = [
    "INTAKE_PROGRESS_VERSION",
    "STATE_VERSION",
    "AggregatorState",
    "IntakeProgress",
    "SavedRound",
    "intake_result_from_json",
    "intake_result_to_json",
    "load_state",
    "save_state",
]

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
    reveals: dict[str, str] = field(default_factory=dict)
    """Trainer address → how its evidence key went out: the reveal's transaction hash, ``"on
    chain"`` (found revealed after a restart) or ``"refused: <error>"`` (the contract's revert,
    final). A trainer of :attr:`evidence` missing here is still to be revealed."""

    @property
    def unrevealed(self) -> list[str]:
        """The rejected trainers whose evidence key is still to be revealed."""
        return [trainer for trainer in self.evidence if trainer not in self.reveals]

    @property
    def done(self) -> bool:
        """Published and every evidence key revealed (or refused): nothing left to send."""
        return self.published and not self.unrevealed

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
            "reveals": dict(self.reveals),
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
            reveals={str(trainer): str(how) for trainer, how in raw.get("reveals", {}).items()},
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


# --- a round's intake progress ------------------------------------------------------------
INTAKE_PROGRESS_VERSION = 1
"""Layout of an intake progress line."""


def intake_result_to_json(result: IntakeResult) -> dict[str, Any]:
    """A verdict, JSON-ready (everything but the tensors, which are read again from storage)."""
    return {
        "slot": result.slot, "trainer": result.trainer, "reason": result.reason, "detail": result.detail,
        "metadata": None if result.metadata is None else result.metadata.to_strings(),
        "sketch": None if result.sketch is None else [int(v) for v in result.sketch],
        "salt": None if result.salt is None else str(result.salt),
        "evidence_key": None if result.evidence_key is None else result.evidence_key.hex(),
    }


def intake_result_from_json(raw: dict[str, Any]) -> IntakeResult:
    """Inverse of :func:`intake_result_to_json`; the tensors are not held (an accepted result
    reads them again through its ``reload``, which the round's intake sets)."""
    return IntakeResult(
        slot=int(raw["slot"]), trainer=str(raw["trainer"]), reason=raw["reason"], detail=str(raw["detail"]),
        metadata=None if raw["metadata"] is None else UpdateMetadata.from_strings(raw["metadata"]),
        sketch=None if raw["sketch"] is None else [int(v) for v in raw["sketch"]],
        salt=None if raw["salt"] is None else int(raw["salt"]),
        evidence_key=None if raw["evidence_key"] is None else bytes.fromhex(raw["evidence_key"]),
    )


class IntakeProgress:
    """One round's intake journal at ``path`` (an :class:`aggregator.round_intake.IntakeJournal`).

    Each submission is named by (slot, CID, on-chain digest), so a line about other bytes is
    never taken for this one. Lines are appended and synced before the call returns; a torn last
    line (the node was killed while writing it) is ignored, any other unreadable line refused.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._verdicts: dict[tuple[int, str, str], dict[str, Any]] = {}
        self._begun: dict[tuple[int, str, str], int] = {}
        if self.path.exists():
            self._read()

    @staticmethod
    def _key(slot: int, cid: str, digest: bytes) -> tuple[int, str, str]:
        return int(slot), str(cid), bytes(digest).hex()

    def _read(self) -> None:
        lines = self.path.read_text().splitlines()
        for number, line in enumerate(lines):
            try:
                event = json.loads(line)
                key = (int(event["slot"]), str(event["cid"]), str(event["digest"]))
                version, kind = int(event["version"]), event["event"]
            except (ValueError, KeyError, TypeError):
                if number == len(lines) - 1:
                    continue  # torn by a kill mid-write
                raise AggregatorError(f"{self.path}: line {number + 1} is not an intake progress record") from None
            if version > INTAKE_PROGRESS_VERSION:
                raise AggregatorError(f"{self.path}: intake progress version {version} is newer than this node's "
                                      f"{INTAKE_PROGRESS_VERSION}: upgrade the market package")
            if kind == "begun":
                self._begun[key] = self._begun.get(key, 0) + 1
            elif kind == "checked":
                self._verdicts[key] = event["result"]

    def _append(self, event: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"version": INTAKE_PROGRESS_VERSION, **event}, separators=(",", ":")) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def restored(self, slot: int, cid: str, digest: bytes) -> IntakeResult | None:
        """The saved verdict on this submission (a fresh record each call), or None."""
        raw = self._verdicts.get(self._key(slot, cid, digest))
        return None if raw is None else intake_result_from_json(raw)

    def attempts(self, slot: int, cid: str, digest: bytes) -> int:
        """Checks of this submission that began and left no verdict."""
        key = self._key(slot, cid, digest)
        return 0 if key in self._verdicts else self._begun.get(key, 0)

    def begin(self, slot: int, cid: str, digest: bytes) -> None:
        key = self._key(slot, cid, digest)
        self._append({"event": "begun", "slot": key[0], "cid": key[1], "digest": key[2]})
        self._begun[key] = self._begun.get(key, 0) + 1

    def finish(self, result: IntakeResult, cid: str, digest: bytes) -> None:
        key = self._key(result.slot, cid, digest)
        raw = intake_result_to_json(result)
        self._append({"event": "checked", "slot": key[0], "cid": key[1], "digest": key[2], "result": raw})
        self._verdicts[key] = raw

    def discard(self) -> None:
        """Remove the journal (the round's publication is saved: nothing left to resume)."""
        self.path.unlink(missing_ok=True)

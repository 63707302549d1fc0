"""The round audit transcript: what an aggregator stores beside each published round so that
anyone can recompute every provable number (``market audit``), plus the estimates that are not
paid on.

One typed record, :class:`RoundTranscript` (a row per trainer slot, :class:`SubmissionRow`),
with a format name and a version. :func:`build_transcript` is its one builder (the aggregator
calls it with its intake verdicts and round outcome); :meth:`RoundTranscript.to_json` gives the
stored bytes (keys sorted, ``indent=1``; big integers as decimal strings, so field elements
survive any JSON reader) and :meth:`RoundTranscript.from_json` reads them back from storage,
where anyone may have written them: the size is capped before parsing, an unknown format or
version is refused by name, and every field is checked (:class:`TranscriptError`).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError, ValidationInfo

from market.task_spec import TaskSpec
from market.tracing import traced
from zk.exceptions import TranscriptError

__all__ = [
    "MAX_TRANSCRIPT_BYTES",
    "TRANSCRIPT_FORMAT",
    "TRANSCRIPT_VERSION",
    "RoundTranscript",
    "SubmissionRow",
    "TranscriptError",
    "build_transcript",
]

TRANSCRIPT_FORMAT: Final = "poc-market-round-transcript"
TRANSCRIPT_VERSION: Final = 1
MAX_TRANSCRIPT_BYTES = 16 << 20
"""The most bytes :meth:`RoundTranscript.from_json` parses (64 slots of k = 256 sketches and
the largest verification key take about 2 MiB)."""

_DECIMAL = re.compile(r"-?[0-9]{1,100}")


def _decimal(value: Any, info: ValidationInfo) -> Any:
    """A big integer travels as a decimal string; in Python it is an int."""
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return int(value)
    if info.mode == "python" and hasattr(value, "__index__") and not isinstance(value, bool):
        return operator.index(value)  # ints, numpy integers
    raise ValueError(f"expected a decimal integer string, got {str(value)[:40]!r}")


BigInt = Annotated[int, BeforeValidator(_decimal), PlainSerializer(str, return_type=str)]
"""An integer stored as a decimal string (seeds, field elements, signed sketch sums)."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SubmissionRow(_Record):
    """One trainer slot: what the chain holds for it and the aggregator's verdict."""

    slot: int
    trainer: str
    submitted: bool
    cid: str | None
    digest: str | None
    """``0x`` + the keccak256 the trainer stored on chain (None when it did not submit)."""
    commitment: BigInt
    verdict: str
    """``accepted``, ``absent``, or the rejection reason (intake's and the package's codes)."""
    detail: str
    num_samples: int
    sketch: list[BigInt] | None
    """The accepted update's sketch (None for every other verdict)."""
    salt: BigInt | None
    evidence_key: str | None
    label: str


class RoundTranscript(_Record):
    """The audit transcript of one round (version :data:`TRANSCRIPT_VERSION`)."""

    format: Literal["poc-market-round-transcript"] = TRANSCRIPT_FORMAT
    version: Literal[1] = TRANSCRIPT_VERSION
    task_id: int
    round: int
    seed: BigInt
    detector: str
    tau: tuple[int, int]
    k: int
    previous_model_cid: str | None
    global_model_cid: str
    submissions: list[SubmissionRow]
    median: list[BigInt]
    distances: list[BigInt]
    median_distance: BigInt
    flags: list[bool]
    rejections: list[bool]
    scores: list[BigInt]
    aggregate: list[BigInt]
    aggregate_commitment: BigInt
    validation_shapley: dict[str, list[float]]
    accuracy_before: float | None
    accuracy_after: float | None
    proof_seconds: float | None
    proof: str | None
    verifier: dict[str, Any] | None
    """The verification-key document the aggregator says it proved with (never trusted alone)."""
    streamed: bool
    """True: the updates were above the memory budget and validation Shapley was skipped."""

    def to_json(self) -> bytes:
        """The stored bytes: JSON with sorted keys, ``indent=1``."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes | str, *, max_bytes: int = MAX_TRANSCRIPT_BYTES) -> RoundTranscript:
        """Parse stored bytes; :class:`TranscriptError` names what is wrong."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        if len(raw) > max_bytes:
            raise TranscriptError(f"the transcript is {len(raw):,} bytes, above the {max_bytes:,}-byte limit")
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise TranscriptError(f"the transcript is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise TranscriptError("the transcript is not a JSON object")
        if document.get("format") != TRANSCRIPT_FORMAT:
            raise TranscriptError(f"not a round transcript: format {str(document.get('format'))[:60]!r}, "
                                  f"expected {TRANSCRIPT_FORMAT!r}")
        if document.get("version") != TRANSCRIPT_VERSION:
            raise TranscriptError(f"round transcript version {str(document.get('version'))[:20]!r} is not "
                                  f"supported (this code reads version {TRANSCRIPT_VERSION})")
        try:
            return cls.model_validate_json(raw, strict=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(root)"
            raise TranscriptError(f"round transcript field {where}: {first['msg']} "
                                  f"({exc.error_count()} error(s))") from None


# --- the builder -----------------------------------------------------------------------------
class _Submission(Protocol):
    """What the chain says about one slot (:class:`market.types.SubmissionInfo`)."""

    submitted: bool
    update_cid: str
    update_digest: bytes
    sketch_commitment: int


class _Verdict(Protocol):
    """The aggregator's intake verdict on one submission (``aggregator.intake.IntakeResult``)."""

    reason: str | None
    detail: str
    sketch: list[int] | None
    salt: int | None
    evidence_key: bytes | None

    @property
    def accepted(self) -> bool: ...

    @property
    def num_samples(self) -> int: ...


class _Rule(Protocol):
    """The provable rule's result (:class:`zk.protocol.rule.ProvableRoundResult`)."""

    tau_num: int
    tau_den: int
    median: Sequence[int]
    distances: Sequence[int]
    median_distance: int


class _Outcome(Protocol):
    """What the aggregator assessed (``aggregator.round_pipeline.RoundOutcome``)."""

    flags: list[bool]
    rejections: list[bool]
    scores: list[int]
    aggregate: list[int]
    aggregate_commitment: int
    labels: list[str]
    provable: _Rule
    shapley: dict[str, list[float]]
    accuracy: float | None
    accuracy_before: float | None


def _row(slot: int, trainer: str, sub: _Submission, it: _Verdict | None, label: str) -> SubmissionRow:
    kept = it if it is not None and it.accepted else None  # only an accepted update shows its sketch
    return SubmissionRow(
        slot=slot, trainer=trainer, submitted=sub.submitted, cid=sub.update_cid or None,
        digest="0x" + sub.update_digest.hex() if sub.submitted else None, commitment=sub.sketch_commitment,
        verdict="absent" if it is None else (it.reason or "accepted"),
        detail=it.detail if it is not None else "", num_samples=it.num_samples if it is not None else 0,
        sketch=None if kept is None or kept.sketch is None else list(kept.sketch),
        salt=None if kept is None else kept.salt,
        evidence_key=it.evidence_key.hex() if it is not None and it.evidence_key else None, label=label,
    )


@traced("transcript.build")
def build_transcript(*, task_id: int, round_: int, spec: TaskSpec, seed: int, trainers: Sequence[str],
                     submissions: Sequence[_Submission], intakes: Sequence[_Verdict | None], outcome: _Outcome,
                     model_cid: str, previous_cid: str | None, proof_seconds: float | None, proof: bytes = b"",
                     verifier_key: Mapping[str, Any] | None = None, streamed: bool = False) -> RoundTranscript:
    """The round's transcript from the chain's submissions, the intake verdicts (one per slot,
    None where nothing was submitted) and the assessed outcome."""
    p = outcome.provable
    rows = [_row(slot, trainer, sub, it, outcome.labels[slot])
            for slot, (trainer, sub, it) in enumerate(zip(trainers, submissions, intakes))]
    return RoundTranscript.model_validate(dict(
        task_id=task_id, round=round_, seed=seed, detector=spec.scoring.detector, tau=(p.tau_num, p.tau_den),
        k=spec.scoring.sketch_k, previous_model_cid=previous_cid, global_model_cid=model_cid, submissions=rows,
        median=list(p.median), distances=list(p.distances), median_distance=p.median_distance,
        flags=list(outcome.flags), rejections=list(outcome.rejections), scores=list(outcome.scores),
        aggregate=list(outcome.aggregate), aggregate_commitment=outcome.aggregate_commitment,
        validation_shapley=outcome.shapley, accuracy_before=outcome.accuracy_before,
        accuracy_after=outcome.accuracy, proof_seconds=proof_seconds, proof=proof.hex() if proof else None,
        verifier=None if verifier_key is None else dict(verifier_key), streamed=streamed,
    ))

"""The round audit transcript: what an aggregator stores beside each published round so that
anyone can recompute every provable number (``market audit``), plus the estimates that are not
paid on.

One typed record, :class:`RoundTranscript` (a row per trainer slot, :class:`SubmissionRow`),
with a format name and a version. :func:`aggregator.transcripts.build_transcript` is its one
builder (the aggregator calls it with its intake verdicts and round outcome); :meth:`RoundTranscript.to_json` gives the
stored bytes (keys sorted, ``indent=1``; big integers as decimal strings, so field elements
survive any JSON reader) and :meth:`RoundTranscript.from_json` reads them back from storage,
where anyone may have written them: the size is capped before parsing, an unknown format or
version is refused by name, and every field is checked (:class:`TranscriptError`).
"""

from __future__ import annotations

import json
import operator
import re
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError, ValidationInfo

from market.bounded_json import json_nesting_depth
from zk.exceptions import TranscriptError

__all__ = [
    "MAX_TRANSCRIPT_BYTES",
    "TRANSCRIPT_FORMAT",
    "TRANSCRIPT_VERSION",
    "RoundTranscript",
    "ReferenceRecord",
    "SubmissionRow",
    "TranscriptError",
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


MAX_TRANSCRIPT_DEPTH = 16
"""Deepest nesting a transcript may have (its schema needs 4)."""

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


class ReferenceRecord(_Record):
    """The round's reference (the ``reference`` rule only): the digest fixed on chain before the
    round's submissions, its sketch under the round's seed with the salt that opens the on-chain
    commitment, and what the rule read from it per slot."""

    digest: str
    sketch: list[BigInt]
    salt: BigInt
    commitment: BigInt
    norm: BigInt
    """⟨r, r⟩."""
    reasons: list[str]
    """Per slot: the flag reason (``none``, ``misaligned``, ``oversized``, ``duplicate``)."""
    alignments: list[BigInt]
    """Per slot: ⟨s_i, r⟩ (0 outside the active slots)."""


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
    reference: ReferenceRecord | None = None
    """The round's reference, for the ``reference`` rule (None for the median rule)."""

    def to_json(self) -> bytes:
        """The stored bytes: JSON with sorted keys, ``indent=1``."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes | str, *, max_bytes: int = MAX_TRANSCRIPT_BYTES) -> RoundTranscript:
        """Parse stored bytes; :class:`TranscriptError` names what is wrong."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        if len(raw) > max_bytes:
            raise TranscriptError(f"the transcript is {len(raw):,} bytes, above the {max_bytes:,}-byte limit")
        if json_nesting_depth(raw) > MAX_TRANSCRIPT_DEPTH:  # before the recursive parser sees it
            raise TranscriptError(f"the transcript nests deeper than {MAX_TRANSCRIPT_DEPTH} levels")
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

"""The one builder of a round's audit transcript (:class:`zk.protocol.transcript.RoundTranscript`).

The transcript's type is protocol core (the audit and the on-chain proof check read it); building
it from the aggregator's own records (the chain's submissions, the intake verdicts, the assessed
:class:`~aggregator.round_pipeline.RoundOutcome`) is the aggregator's job, here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aggregator.intake import IntakeResult
from aggregator.round_pipeline import RoundOutcome
from market.task_spec import TaskSpec
from market.tracing import traced
from market.types import SubmissionInfo
from zk.protocol.transcript import ReferenceRecord, RoundTranscript, SubmissionRow

__all__ = ["build_transcript"]


def _row(slot: int, trainer: str, sub: SubmissionInfo, it: IntakeResult | None, label: str) -> SubmissionRow:
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


def _reference(outcome: RoundOutcome) -> ReferenceRecord | None:
    result, reference = outcome.reference_result, outcome.reference
    if result is None or reference is None:
        return None
    return ReferenceRecord(
        digest="0x" + reference.digest.hex(), sketch=list(reference.sketch), salt=reference.salt,
        commitment=reference.commitment, norm=result.reference_norm, reasons=[r.name.lower() for r in result.reasons],
        alignments=list(result.alignments))


@traced("transcript.build")
def build_transcript(*, task_id: int, round_: int, spec: TaskSpec, seed: int, trainers: Sequence[str],
                     submissions: Sequence[SubmissionInfo], intakes: Sequence[IntakeResult | None],
                     outcome: RoundOutcome,
                     model_cid: str, previous_cid: str | None, proof_seconds: float | None, proof: bytes = b"",
                     verifier_key: Mapping[str, Any] | None = None, streamed: bool = False) -> RoundTranscript:
    """The round's transcript from the chain's submissions, the intake verdicts (one per slot,
    None where nothing was submitted) and the assessed outcome (with the reference rule, its
    reference: digest, sketch, salt, commitment)."""
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
        reference=_reference(outcome),
    ))

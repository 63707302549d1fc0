"""``market audit``: anyone re-runs a round from chain + storage and checks every posted number.

Inputs are public: the chain (submissions, commitments, seed, the published flags, rejections,
scores and aggregate commitment, revealed evidence keys, the transcript CID) and storage (the
aggregator's transcript, read as a :class:`zk.protocol.transcript.RoundTranscript`, and the
encrypted submissions). No torch: the model layout comes from :mod:`market.model_state`.
Checks, per round:

1. the transcript is about this task, round and seed, and lists the submissions the chain has;
2. every accepted sketch opens the trainer's own on-chain commitment (Poseidon with its salt);
3. every rejection is backed: the evidence key revealed on chain opens that one envelope, and
   intake's own stages (:func:`aggregator.intake.open_envelope` and
   :func:`~aggregator.intake.check_sketch`, the code the aggregator ran) refuse it for the
   stated reason (or the stored bytes miss the digest, or no sketch was committed); a rejected
   trainer that contested (``RejectionContested``: its own envelope key on chain) gets the same
   check with its key, so the audit shows each contest upheld (the rejection reproduces) or not;
4. the provable rule (:func:`zk.protocol.rule.provable_round`, the same function
   the aggregator ran) over those sketches gives exactly the posted flags, scores and aggregate
   commitment;
5. for a zk-verified task, the proof in the publishRound calldata verifies again with the
   independent py_ecc verifier, under the key the on-chain verifier was generated from
   (:func:`zk.onchain.check_published_proof`), on public inputs built from chain data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aggregator.intake import Refusal, RejectionReason, check_digest, check_sketch, open_envelope
from market.marketplace import Marketplace
from market.model_state import param_spec
from market.storage import Storage
from market.task_spec import TaskSpec
from market.types import RoundInfo, SubmissionInfo, TaskInfo, mask_to_bits
from zk.protocol.commitment import aggregate_commitment, sketch_commitment
from zk.protocol.rule import provable_round, tau_fraction
from zk.protocol.sketch import SketchParams
from zk.protocol.transcript import RoundTranscript, SubmissionRow, TranscriptError

__all__ = ["Check", "RoundAudit", "audit_round", "audit_task"]


@dataclass
class Check:
    """One check of an audit: what was checked, whether it holds, and why not."""

    what: str
    ok: bool
    detail: str = ""


@dataclass
class RoundAudit:
    """Every check of one round, in order."""

    round: int
    checks: list[Check] = field(default_factory=list)
    mode: str = ""
    proof_verified: bool | None = None
    """The zk proof verified again in Python (None: a trusted-aggregator task, no proof)."""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, what: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(what, bool(ok), detail))


@dataclass(frozen=True)
class _PublicRound:
    """What chain and storage say about one published round, as the audit reads it."""

    task_id: int
    round: int
    info: RoundInfo
    posted_scores: list[int]
    spec: TaskSpec
    trainers: list[str]
    transcript: RoundTranscript


def audit_round(market: Marketplace, storage: Storage, task_id: int, round_: int, *,
                keys: Iterable[dict | str | Path] = ()) -> RoundAudit:
    """Re-run one published round; every check is recorded, none stops the audit. ``keys``:
    verification-key documents (or files) to try besides the known ones (check 5)."""
    audit = RoundAudit(round_)
    task = market.get_task(task_id)
    audit.mode = task.mode
    public = _read_round(market, storage, task, round_, audit)
    if public is None:
        return audit
    sketches = _check_slots(market, storage, public, audit)
    _check_rule(public, sketches, audit)
    if not task.trusted_aggregator:
        from zk.onchain import check_published_proof

        proof = check_published_proof(market, task_id, round_, transcript_key=public.transcript.verifier, keys=keys)
        audit.proof_verified = proof.ok
        audit.add("proof verifies in Python (py_ecc) under the on-chain verifier's key", proof.ok, proof.detail)
    return audit


def _read_round(market: Marketplace, storage: Storage, task: TaskInfo, round_: int,
                audit: RoundAudit) -> _PublicRound | None:
    """Chain facts and the transcript of a round, with checks 1 (None when the round cannot be
    audited: not published, no transcript, or bytes that are no transcript)."""
    task_id = task.task_id
    info = market.get_round(task_id, round_)
    if not info.published:
        audit.add("round is published", False, f"round {round_} of task {task_id} is not published")
        return None
    published = [e["args"] for e in market.events("RoundPublished", taskId=task_id) if e["args"]["round"] == round_][0]
    recorded = [e["args"] for e in market.events("TranscriptRecorded", taskId=task_id) if e["args"]["round"] == round_]
    if not recorded:
        audit.add("transcript recorded on chain", False, "the aggregator recorded no transcript CID")
        return None
    try:
        transcript = RoundTranscript.from_json(storage.get(recorded[0]["transcriptCid"]))
    except TranscriptError as exc:
        audit.add("transcript is a round transcript", False, str(exc))
        return None
    public = _PublicRound(task_id, round_, info, [int(s) for s in published["scores"]],
                          TaskSpec.from_json(storage.get(task.config.spec_cid)), market.get_trainers(task_id),
                          transcript)
    audit.add("transcript names this task, round and seed",
              (transcript.task_id, transcript.round, transcript.seed) == (task_id, round_, info.seed))
    audit.add("transcript names the published global model", transcript.global_model_cid == info.global_model_cid)
    audit.add("transcript lists every trainer slot", [r.trainer for r in transcript.submissions] == public.trainers)
    return public


def _check_slots(market: Marketplace, storage: Storage, public: _PublicRound,
                 audit: RoundAudit) -> list[list[int] | None]:
    """Checks 2 and 3 for every slot; the sketches that open their commitments (None elsewhere)."""
    task_id, round_, spec = public.task_id, public.round, public.spec
    revealed = {e["args"]["trainer"]: bytes(e["args"]["key"]) for e in market.events("EvidenceKeyRevealed", taskId=task_id)
                if e["args"]["round"] == round_}
    contested = {e["args"]["trainer"]: bytes(e["args"]["key"]) for e in market.events("RejectionContested", taskId=task_id)
                 if e["args"]["round"] == round_}
    rejections = mask_to_bits(public.info.rejections, len(public.trainers))
    sketches: list[list[int] | None] = [None] * len(public.trainers)
    checks = dict(param_spec=param_spec(spec.model, dtype=spec.training.dtype), task_id=task_id, round_=round_,
                  max_bytes=spec.limits.max_update_bytes, max_norm=spec.limits.max_update_norm,
                  seed=public.info.seed, sketch_params=SketchParams(k=spec.scoring.sketch_k))
    for slot, (trainer, row) in enumerate(zip(public.trainers, public.transcript.submissions)):
        sub = market.get_submission(task_id, round_, trainer)
        same = (row.submitted == sub.submitted and (not sub.submitted or (
            row.cid == sub.update_cid and row.digest == "0x" + sub.update_digest.hex()
            and row.commitment == sub.sketch_commitment)))
        audit.add(f"slot {slot}: transcript matches the chain's submission", same)
        if not sub.submitted:
            continue
        if not rejections[slot]:
            sketch = list(row.sketch or [])
            opens = (bool(sketch) and row.salt is not None
                     and sketch_commitment(sketch, row.salt) == sub.sketch_commitment)
            audit.add(f"slot {slot}: sketch opens the trainer's commitment", opens)
            sketches[slot] = sketch if opens else None
            continue
        envelope, slot_checks = storage.get(sub.update_cid), {**checks, "trainer": trainer}
        key = revealed.get(trainer) or contested.get(trainer)
        verdict = _check_rejection(envelope, sub, row, key, slot_checks)
        audit.add(f"slot {slot}: rejection ({row.verdict}) reproduces", *verdict)
        if trainer in contested:  # the intake is replayed again only when the trainer's key differs
            answer = verdict if key == contested[trainer] else _check_rejection(
                envelope, sub, row, contested[trainer], slot_checks)
            audit.add(f"slot {slot}: the trainer's contest is answered (rejection upheld with its own key)", *answer)
    return sketches


def _check_rejection(envelope: bytes, sub: SubmissionInfo, row: SubmissionRow, key: bytes | None,
                     checks: dict[str, Any]) -> tuple[bool, str]:
    """Check 3 for one rejected slot: intake's own stages (:mod:`aggregator.intake`) run again
    with the evidence key revealed on chain. Stored bytes that miss the digest back any
    rejection, and so does a missing commitment for ``no-sketch-commitment``, key or not."""
    try:
        check_digest(envelope, sub.update_digest)
    except Refusal:
        return True, "stored bytes do not match the digest"
    if row.verdict == RejectionReason.WRONG_DIGEST:
        return False, "the transcript says wrong digest, but the bytes match"
    if sub.sketch_commitment == 0 and row.verdict == RejectionReason.NO_COMMITMENT:
        return True, "no sketch commitment on chain"
    if key is None:
        return False, "no evidence key was revealed on chain"
    try:
        _, package = open_envelope(envelope, digest=sub.update_digest, key=key, **checks)
        check_sketch(package, commitment=sub.sketch_commitment, seed=checks["seed"],
                     sketch_params=checks["sketch_params"])
    except Refusal as refused:
        return refused.reason == row.verdict, f"intake refuses it again: {refused.reason} ({refused.detail})"
    return False, "the package is valid: the rejection is not backed"


def _check_rule(public: _PublicRound, sketches: list[list[int] | None], audit: RoundAudit) -> None:
    """Check 4: the provable rule over the opened sketches gives the posted numbers."""
    spec, info = public.spec, public.info
    rejections = mask_to_bits(info.rejections, len(public.trainers))
    num, den = tau_fraction(spec.scoring.tau)
    result = provable_round(sketches, rejections, tau_num=num, tau_den=den, k=spec.scoring.sketch_k)
    if spec.scoring.detector == "provable":
        audit.add("flags follow the provable rule", result.flags_mask == info.flags,
                  f"recomputed {result.flags_mask:#x}, posted {info.flags:#x}")
    audit.add("scores follow the provable rule", list(result.scores) == public.posted_scores)
    audit.add("aggregate commitment reproduces",
              aggregate_commitment(list(result.aggregate)) == info.aggregate_commitment)


def audit_task(market: Marketplace, storage: Storage, task_id: int, rounds: list[int] | None = None, *,
               keys: Iterable[dict | str | Path] = ()) -> list[RoundAudit]:
    """Audit the given rounds (default: every published round)."""
    task = market.get_task(task_id)
    if rounds is None:
        rounds = list(range(task.published_rounds))
    keys = list(keys)
    return [audit_round(market, storage, task_id, r, keys=keys) for r in rounds]

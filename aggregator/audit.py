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
4. the task's paid rule (the same function the aggregator ran:
   :func:`zk.protocol.reference_rule.reference_round` for the root-of-trust rule, over the
   transcript's reference sketch, which must open the on-chain reference commitment;
   :func:`zk.protocol.rule.provable_round` for the median rule) over those sketches gives exactly
   the posted flags, scores and aggregate commitment; with the owner's revealed root set (a
   ``reference_trainer``), the reference itself is recomputed from the round's global model and
   its digest, sketch and commitment checked against the chain;
5. for a zk-verified task, the proof in the publishRound calldata verifies again with the
   independent py_ecc verifier, under the key the on-chain verifier was generated from
   (:func:`zk.onchain.check_published_proof`), on public inputs built from chain data.

Every read is bounded (the spec by :data:`~market.task_spec.MAX_SPEC_BYTES`, the transcript by
:data:`~zk.protocol.transcript.MAX_TRANSCRIPT_BYTES`, an envelope by the spec's package limit plus
the envelope's overhead), and content that cannot be read (missing, no file, over its bound) is a
failed check with the reason, never a crash. Envelopes open under their slot's context (chain id,
this Marketplace, task, round, trainer), as the aggregator opened them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aggregator.intake import (
    Refusal,
    RejectionReason,
    check_digest,
    check_sketch,
    envelope_bound,
    open_envelope,
    read_envelope,
)
from aggregator.reference import ReferenceTrainer, check_reference, reference_params
from market.marketplace import Marketplace
from market.model_state import param_spec, round_start_state
from market.storage import ContentFault, Storage, StorageError, TooLarge
from market.task_spec import MAX_SPEC_BYTES, TaskSpec
from market.types import RoundInfo, SubmissionInfo, TaskInfo, mask_to_bits
from zk.protocol.commitment import aggregate_commitment, sketch_commitment
from zk.protocol.reference_rule import reference_round
from zk.protocol.rule import provable_round, tau_fraction
from zk.protocol.sketch import SketchParams
from zk.protocol.transcript import MAX_TRANSCRIPT_BYTES, RoundTranscript, SubmissionRow, TranscriptError

_UNREADABLE = {RejectionReason.UNAVAILABLE: ContentFault, RejectionReason.TOO_LARGE: TooLarge}
"""The read failures that back a rejection for these reasons when the auditor meets them too."""

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
    on_chain_reference: bool = False
    """The contract holds the round's reference digest and commitment (a zk reference task)."""


def audit_round(market: Marketplace, storage: Storage, task_id: int, round_: int, *,
                keys: Iterable[dict | str | Path] = (), reference_trainer: ReferenceTrainer | None = None) -> RoundAudit:
    """Re-run one published round; every check is recorded, none stops the audit. ``keys``:
    verification-key documents (or files) to try besides the known ones (check 5);
    ``reference_trainer``: the spec's recipe on the owner's revealed root set, to recompute the
    reference (check 4; without it the reference is checked only against its commitment)."""
    audit = RoundAudit(round_)
    task = market.get_task(task_id)
    audit.mode = task.mode
    public = _read_round(market, storage, task, round_, audit)
    if public is None:
        return audit
    sketches = _check_slots(market, storage, public, audit)
    if public.spec.scoring.detector == "reference":
        _check_reference_rule(public, sketches, audit)
        if reference_trainer is not None:
            _recompute_reference(market, storage, public, reference_trainer, audit)
    else:
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
        transcript = RoundTranscript.from_json(storage.get(recorded[0]["transcriptCid"],
                                                           max_bytes=MAX_TRANSCRIPT_BYTES))
        spec = TaskSpec.from_json(storage.get(task.config.spec_cid, max_bytes=MAX_SPEC_BYTES))
    except (TranscriptError, StorageError) as exc:
        audit.add("transcript and spec can be read", False, str(exc))
        return None
    public = _PublicRound(task_id, round_, info, [int(s) for s in published["scores"]], spec,
                          market.get_trainers(task_id), transcript, task.uses_reference)
    audit.add("transcript names this task, round and seed",
              (transcript.task_id, transcript.round, transcript.seed) == (task_id, round_, info.seed))
    audit.add("transcript names the published global model", transcript.global_model_cid == info.global_model_cid)
    audit.add("transcript lists every trainer slot", [r.trainer for r in transcript.submissions] == public.trainers)
    return public


def _check_slots(market: Marketplace, storage: Storage, public: _PublicRound,
                 audit: RoundAudit) -> list[list[int] | None]:
    """Checks 2 and 3 for every slot; the sketches that open their commitments (None elsewhere)."""
    task_id, round_, spec = public.task_id, public.round, public.spec
    revealed = market.round_keys("EvidenceKeyRevealed", task_id, round_)
    contested = market.round_keys("RejectionContested", task_id, round_)
    rejections = mask_to_bits(public.info.rejections, len(public.trainers))
    sketches: list[list[int] | None] = [None] * len(public.trainers)
    checks = dict(param_spec=param_spec(spec.model, dtype=spec.training.dtype), chain_id=market.chain.chain_id,
                  contract=market.address, task_id=task_id, round_=round_, max_bytes=spec.limits.max_update_bytes,
                  max_norm=spec.limits.max_update_norm, max_num_samples=spec.limits.num_samples_cap, seed=public.info.seed,
                  sketch_params=SketchParams(k=spec.scoring.sketch_k))
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
        envelope, slot_checks = read_envelope(storage, sub.update_cid, spec.limits.max_update_bytes), {
            **checks, "trainer": trainer}
        key = revealed.get(trainer) or contested.get(trainer)
        verdict = _check_rejection(envelope, sub, row, key, slot_checks)
        audit.add(f"slot {slot}: rejection ({row.verdict}) reproduces", *verdict)
        if trainer in contested:  # the intake is replayed again only when the trainer's key differs
            answer = verdict if key == contested[trainer] else _check_rejection(
                envelope, sub, row, contested[trainer], slot_checks)
            audit.add(f"slot {slot}: the trainer's contest is answered (rejection upheld with its own key)", *answer)
    return sketches


def _check_rejection(envelope: bytes | Exception, sub: SubmissionInfo, row: SubmissionRow, key: bytes | None,
                     checks: dict[str, Any]) -> tuple[bool, str]:
    """Check 3 for one rejected slot: intake's own stages (:mod:`aggregator.intake`) run again
    with the evidence key revealed on chain. Stored bytes that miss the digest back any
    rejection, and so does a missing commitment for ``no-sketch-commitment``, key or not.
    ``envelope``: the bytes, or the exception reading them raised (bounded by
    :func:`~aggregator.intake.envelope_bound`), which backs ``unavailable`` and ``too-large``."""
    if isinstance(envelope, Exception):
        backed = isinstance(envelope, _UNREADABLE.get(row.verdict, ())) and (
            row.verdict == RejectionReason.TOO_LARGE or not isinstance(envelope, TooLarge))
        return backed, f"the stored bytes cannot be read (bound {envelope_bound(checks['max_bytes']):,}): {envelope}"
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
    except Exception as exc:  # noqa: BLE001 - what made the aggregator's intake fail must not stop the audit
        detail = f"intake fails again: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        return row.verdict == RejectionReason.INTAKE_ERROR, detail
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


def _check_reference_rule(public: _PublicRound, sketches: list[list[int] | None], audit: RoundAudit) -> None:
    """Check 4 for the root-of-trust rule: the reference opens the chain's commitment, and the rule
    over the opened sketches and that reference gives the posted numbers."""
    info, record, section = public.info, public.transcript.reference, public.spec.scoring.reference
    if record is None or section is None:
        audit.add("transcript holds the round's reference", False, "no reference in the transcript")
        return
    if public.on_chain_reference:
        audit.add("reference digest is the one fixed on chain before the submissions",
                  record.digest == "0x" + bytes(info.reference_digest).hex())
        audit.add("reference sketch opens the on-chain reference commitment",
                  record.commitment == info.reference_commitment
                  and sketch_commitment(list(record.sketch), record.salt) == info.reference_commitment)
    else:
        audit.add("reference sketch opens the transcript's commitment (trusted aggregator: none on chain)",
                  sketch_commitment(list(record.sketch), record.salt) == record.commitment)
    rejections = mask_to_bits(info.rejections, len(public.trainers))
    try:
        result = reference_round(sketches, rejections, reference=list(record.sketch),
                                 params=reference_params(section), k=public.spec.scoring.sketch_k,
                                 order=info.ranks(len(public.trainers)))
    except ValueError as exc:
        audit.add("the reference rule runs on the published sketches", False, str(exc))
        return
    audit.add("flags follow the reference rule", result.flags_mask == info.flags,
              f"recomputed {result.flags_mask:#x}, posted {info.flags:#x}")
    audit.add("scores follow the reference rule (exact Shapley of its utility)",
              list(result.scores) == public.posted_scores)
    audit.add("aggregate commitment reproduces",
              aggregate_commitment(list(result.aggregate)) == info.aggregate_commitment)


def _recompute_reference(market: Marketplace, storage: Storage, public: _PublicRound, trainer: ReferenceTrainer,
                         audit: RoundAudit) -> None:
    """The reference trained again on the revealed root set from the round's global model."""
    record = public.transcript.reference
    if record is None:
        return
    state, _ = round_start_state(market, storage, public.spec, public.task_id, public.round)
    digest, commitment = ((bytes(public.info.reference_digest), public.info.reference_commitment)
                          if public.on_chain_reference else (bytes.fromhex(record.digest[2:]), record.commitment))
    problems = check_reference(trainer(state, public.round), digest=digest, seed=public.info.seed,
                               k=public.spec.scoring.sketch_k, sketch=list(record.sketch), salt=record.salt,
                               commitment=commitment)
    audit.add("reference recomputed from the revealed root set (digest, sketch, commitment)", not problems,
              "; ".join(problems))


def audit_task(market: Marketplace, storage: Storage, task_id: int, rounds: list[int] | None = None, *,
               keys: Iterable[dict | str | Path] = (), reference_trainer: ReferenceTrainer | None = None,
               ) -> list[RoundAudit]:
    """Audit the given rounds (default: every published round)."""
    task = market.get_task(task_id)
    if rounds is None:
        rounds = list(range(task.published_rounds))
    keys = list(keys)
    return [audit_round(market, storage, task_id, r, keys=keys, reference_trainer=reference_trainer) for r in rounds]

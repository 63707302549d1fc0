"""``market audit``: anyone re-runs a round from chain + storage and checks every posted number.

Inputs are public: the chain (submissions, commitments, seed, the published flags, rejections,
scores and aggregate commitment, revealed evidence keys, the transcript CID) and storage (the
aggregator's transcript, the encrypted submissions). Checks, per round:

1. the transcript is about this task, round and seed, and lists the submissions the chain has;
2. every accepted sketch opens the trainer's own on-chain commitment (Poseidon with its salt);
3. every rejection is backed: the evidence key revealed on chain opens that one envelope, and
   the intake check (:func:`aggregator.intake.check_submission` logic, same code) fails on it
   for the stated reason (or the stored bytes miss the digest, or no sketch was committed);
4. the provable rule (:func:`aggregator.detectors.provable.provable_round`, the same function
   the aggregator ran) over those sketches gives exactly the posted flags, scores and aggregate
   commitment;
5. for a zk-verified task, the proof in the publishRound calldata verifies again with the
   independent py_ecc verifier, under the key the on-chain verifier was generated from
   (:func:`zk.onchain.check_published_proof`), on public inputs built from chain data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from zk.protocol.rule import provable_round, tau_fraction
from aggregator.intake import NO_COMMITMENT, WRONG_DIGEST
from market.encryption import EncryptionError, decrypt_with_evidence_key, envelope_digest
from market.marketplace import Marketplace
from market.storage import Storage
from market.task_spec import TaskSpec
from market.types import mask_to_bits
from market.update_package import UpdatePackageError, load_update_package
from trainers.models import param_spec
from zk.protocol.commitment import aggregate_commitment, sketch_commitment
from zk.protocol.sketch import SketchParams, sketch_update


@dataclass
class Check:
    what: str
    ok: bool
    detail: str = ""


@dataclass
class RoundAudit:
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


def audit_round(market: Marketplace, storage: Storage, task_id: int, round_: int, *,
                keys: Iterable[dict | str | Path] = ()) -> RoundAudit:
    """Re-run one published round; every check is recorded, none stops the audit. ``keys``:
    verification-key documents (or files) to try besides the known ones (check 5)."""
    audit = RoundAudit(round_)
    task = market.get_task(task_id)
    audit.mode = task.mode
    info = market.get_round(task_id, round_)
    if not info.published:
        audit.add("round is published", False, f"round {round_} of task {task_id} is not published")
        return audit
    published = [e["args"] for e in market.events("RoundPublished", taskId=task_id) if e["args"]["round"] == round_][0]
    recorded = [e["args"] for e in market.events("TranscriptRecorded", taskId=task_id) if e["args"]["round"] == round_]
    if not recorded:
        audit.add("transcript recorded on chain", False, "the aggregator recorded no transcript CID")
        return audit
    transcript = json.loads(storage.get(recorded[0]["transcriptCid"]))
    spec = TaskSpec.from_json(storage.get(task.config.spec_cid))
    trainers = market.get_trainers(task_id)
    n = len(trainers)
    audit.add("transcript names this task, round and seed",
              (transcript["task_id"], transcript["round"], int(transcript["seed"])) == (task_id, round_, info.seed))
    audit.add("transcript names the published global model", transcript["global_model_cid"] == info.global_model_cid)
    rows = transcript["submissions"]
    audit.add("transcript lists every trainer slot", [r["trainer"] for r in rows] == trainers)

    revealed = {e["args"]["trainer"]: bytes(e["args"]["key"]) for e in market.events("EvidenceKeyRevealed", taskId=task_id)
                if e["args"]["round"] == round_}
    rejections = mask_to_bits(info.rejections, n)
    sketches: list[list[int] | None] = [None] * n
    params = SketchParams(k=spec.scoring.sketch_k)
    pspec = param_spec(spec.model, dtype=spec.training.dtype)
    for slot, (trainer, row) in enumerate(zip(trainers, rows)):
        sub = market.get_submission(task_id, round_, trainer)
        same = (row["submitted"] == sub.submitted and (not sub.submitted or (
            row["cid"] == sub.update_cid and row["digest"] == "0x" + sub.update_digest.hex()
            and int(row["commitment"]) == sub.sketch_commitment)))
        audit.add(f"slot {slot}: transcript matches the chain's submission", same)
        if not sub.submitted:
            continue
        if not rejections[slot]:
            sketch = [int(v) for v in row["sketch"] or []]
            opens = bool(sketch) and sketch_commitment(sketch, int(row["salt"])) == sub.sketch_commitment
            audit.add(f"slot {slot}: sketch opens the trainer's commitment", opens)
            sketches[slot] = sketch if opens else None
            continue
        audit.add(f"slot {slot}: rejection ({row['verdict']}) reproduces",
                  *_check_rejection(storage, sub, row, revealed.get(trainer), pspec, spec, params, task_id, round_,
                                    trainer, info.seed))

    num, den = tau_fraction(spec.scoring.tau)
    result = provable_round(sketches, rejections, tau_num=num, tau_den=den, k=spec.scoring.sketch_k)
    if spec.scoring.detector == "provable":
        audit.add("flags follow the provable rule", result.flags_mask == info.flags,
                  f"recomputed {result.flags_mask:#x}, posted {info.flags:#x}")
    audit.add("scores follow the provable rule", list(result.scores) == [int(s) for s in published["scores"]])
    audit.add("aggregate commitment reproduces",
              aggregate_commitment(list(result.aggregate)) == info.aggregate_commitment)
    if not task.trusted_aggregator:
        from zk.onchain import check_published_proof

        proof = check_published_proof(market, task_id, round_, transcript=transcript, keys=keys)
        audit.proof_verified = proof.ok
        audit.add("proof verifies in Python (py_ecc) under the on-chain verifier's key", proof.ok, proof.detail)
    return audit


def _check_rejection(storage, sub, row, key, pspec, spec, params, task_id, round_, trainer, seed) -> tuple[bool, str]:
    envelope = storage.get(sub.update_cid)
    if envelope_digest(envelope) != sub.update_digest:
        return True, "stored bytes do not match the digest"
    if row["verdict"] == WRONG_DIGEST:
        return False, "the transcript says wrong digest, but the bytes match"
    if sub.sketch_commitment == 0 and row["verdict"] == NO_COMMITMENT:
        return True, "no sketch commitment on chain"
    if key is None:
        return False, "no evidence key was revealed on chain"
    try:
        plaintext = decrypt_with_evidence_key(envelope, key)
    except EncryptionError as exc:
        return row["verdict"] == "undecryptable", f"evidence key does not open the envelope: {exc}"
    try:
        package = load_update_package(plaintext, pspec, max_bytes=spec.limits.max_update_bytes,
                                      max_norm=spec.limits.max_update_norm,
                                      expect={"task_id": task_id, "round": round_, "trainer": trainer})
    except UpdatePackageError as exc:
        return exc.reason == row["verdict"], f"package fails: {exc.reason}"
    if sub.sketch_commitment == 0:
        return row["verdict"] == NO_COMMITMENT, "no sketch commitment on chain"
    sketch = sketch_update(package.tensors, seed, params)
    mismatch = sketch_commitment(sketch, int.from_bytes(package.metadata.salt, "big")) != sub.sketch_commitment
    return mismatch and row["verdict"] == "sketch-mismatch", "committed sketch differs" if mismatch else \
        "the package is valid: the rejection is not backed"


def audit_task(market: Marketplace, storage: Storage, task_id: int, rounds: list[int] | None = None, *,
               keys: Iterable[dict | str | Path] = ()) -> list[RoundAudit]:
    """Audit the given rounds (default: every published round)."""
    task = market.get_task(task_id)
    if rounds is None:
        rounds = list(range(task.published_rounds))
    keys = list(keys)
    return [audit_round(market, storage, task_id, r, keys=keys) for r in rounds]

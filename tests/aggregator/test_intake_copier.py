"""The copier attack (issue 12, finding 4): trainer B submits trainer A's CID hoping the evidence
key the aggregator reveals for B's rejection opens A's envelope. Envelopes are bound to their slot
(chain, contract, task, round, trainer), so the key of B's slot is not A's and opens nothing of
A's; the service never keeps a key for bytes that miss their own digest, nor for a digest that
two slots submitted; A's update stays secret."""

from __future__ import annotations

import numpy as np
import pytest
from eth_utils import keccak

from aggregator.intake import UNDECRYPTABLE, WRONG_DIGEST
from aggregator.round_intake import intake_round
from market.encryption import (
    EncryptionError,
    EnvelopeContext,
    decrypt_with_evidence_key,
    encrypt_for_aggregator,
    envelope_digest,
    generate_private_key,
    public_key_bytes,
)
from market.exceptions import ContractRevert
from market.storage import EmbeddedStorage
from market.task_spec import ScoringSection
from market.types import SubmissionInfo
from market.update_package import UpdateMetadata, build_update_package, model_spec_hash
from tests.aggregator.conftest import make_small_task
from zk.protocol.actions import ActionKind, NodeAction
from zk.protocol.commitment import random_salt, sketch_commitment
from zk.protocol.sketch import SketchParams, sketch_update

VICTIM, COPIER = 0, 3


def _no_key_opens(envelope: bytes, keys: list[bytes], contexts: list[EnvelopeContext]) -> bool:
    for key in keys:
        for context in contexts:
            try:
                decrypt_with_evidence_key(envelope, key, context)
            except EncryptionError:
                continue
            return False
    return True


@pytest.mark.parametrize("when", ["after-with-own-digest", "before-with-same-digest"])
def test_copier_gets_no_key_that_opens_the_victims_envelope(tmp_path, when):
    # Prepare: A (slot 0) seals its update; B (slot 3) submits A's CID
    task = make_small_task(tmp_path, rounds=1)
    agg = task.aggregator()
    victim = task.nodes[VICTIM]
    record = victim._prepare(task.market.get_task(task.task_id), 0)
    stolen = victim._envelope_path(0).read_bytes()
    cid = task.storage.put(stolen)
    copier = task.trainers[COPIER]
    if when == "after-with-own-digest":
        task.trainers_step(slots={VICTIM, 1, 2})
        with pytest.raises(ContractRevert) as refused:  # the chain refuses A's digest
            task.market.submit_update(copier, task.task_id, 0, cid, bytes.fromhex(record.digest))
        assert refused.value.name == "MarketplaceDuplicateDigest"
        task.market.submit_update(copier, task.task_id, 0, cid, keccak(b"a digest of B's choosing"))
    else:  # B front-runs A with A's own CID and digest; A seals its package again and submits
        task.market.submit_update(copier, task.task_id, 0, cid, bytes.fromhex(record.digest))
        assert task.trainers_step(slots={VICTIM})[0] == NodeAction(ActionKind.WAITING, 0,
                                                                   "a fresh envelope (its digest was taken)")
        task.trainers_step(slots={VICTIM, 1, 2})
    assert agg.step().kind is ActionKind.CLOSED
    task.trainers_step(slots={VICTIM, 1, 2})
    task.market.commit_sketch(copier, task.task_id, 0, 12345)

    # Execute
    assert agg.step() == NodeAction(ActionKind.PUBLISHED, 0)

    # Assert: B rejected, without a key; A accepted; no key on chain opens A's envelopes
    intakes = agg.rounds[0].intakes
    assert intakes[COPIER].reason == (WRONG_DIGEST if when.startswith("after") else UNDECRYPTABLE)
    assert intakes[COPIER].evidence_key is None and agg.state.rounds[0].evidence == {}
    assert [it.accepted for it in intakes] == [True, True, True, False]
    revealed = [bytes(e["args"]["key"]) for e in task.market.events("EvidenceKeyRevealed", taskId=task.task_id)]
    assert revealed == []
    a_now = task.storage.get(task.market.get_submission(task.task_id, 0, task.trainers[VICTIM].address).update_cid)
    contexts = [task.context(VICTIM), task.context(COPIER)]
    assert _no_key_opens(stolen, revealed, contexts) and _no_key_opens(a_now, revealed, contexts)
    assert task.market.get_trainer(task.task_id, copier.address).strikes == 0  # a rejection is never a strike


# --- the same bytes under two slots, as a chain without the duplicate-digest rule would allow ---
SPEC = {"layer.bias": ((3,), "float32"), "layer.weight": ((3, 5), "float32")}
SEED, TASK, CHAIN_ID, CONTRACT = 99, 4, 31337, "0x" + "c0" * 20
A, B = "0x" + "0a" * 20, "0x" + "0b" * 20


def _sealed(key, trainer: str, round_: int = 0):
    update = {name: np.full(shape, 0.01, np.float32) for name, (shape, _) in SPEC.items()}
    salt = random_salt()
    meta = UpdateMetadata(task_id=TASK, round=round_, trainer=trainer, num_samples=10, salt=salt.to_bytes(32, "big"),
                          model_spec_hash=model_spec_hash(SPEC))
    context = EnvelopeContext(chain_id=CHAIN_ID, contract=CONTRACT, task_id=TASK, round=round_, trainer=trainer)
    envelope = encrypt_for_aggregator(build_update_package(update, meta), public_key_bytes(key), context)
    commitment = sketch_commitment(sketch_update(update, SEED, SketchParams(k=ScoringSection().sketch_k)), salt)
    return envelope, commitment, context


def _intake(storage, entries, key, round_: int = 0):
    return intake_round(storage, entries, stream=False, private_key=key, param_spec=SPEC, chain_id=CHAIN_ID,
                        contract=CONTRACT, task_id=TASK, round_=round_, seed=SEED,
                        sketch_params=SketchParams(k=ScoringSection().sketch_k), max_bytes=1 << 20, max_norm=1e6)


@pytest.mark.parametrize("victim_commitment_ok", [True, False], ids=["victim-accepted", "victim-rejected"])
def test_a_digest_two_slots_submitted_gets_no_evidence_key_for_either(tmp_path, victim_commitment_ok):
    # Prepare: A's envelope under A's slot and, byte for byte, under B's slot
    key, storage = generate_private_key(), EmbeddedStorage(tmp_path / "blocks")
    envelope, commitment, context_a = _sealed(key, A)
    cid, digest = storage.put(envelope), envelope_digest(envelope)
    entries = [(0, A, SubmissionInfo(cid, digest, commitment if victim_commitment_ok else commitment + 1)),
               (1, B, SubmissionInfo(cid, digest, commitment))]

    # Execute
    results = _intake(storage, entries, key)

    # Assert: B's slot does not open A's envelope; no key is kept for either slot
    assert results[1].reason == UNDECRYPTABLE and results[1].evidence_key is None
    assert results[0].accepted is victim_commitment_ok
    assert results[0].evidence_key is None
    if not victim_commitment_ok:
        assert "evidence withheld: another slot submitted the same digest" in results[0].detail


def test_an_envelope_replayed_in_a_later_round_is_undecryptable_and_keyless(tmp_path):
    # Prepare: B submits, in round 1, A's round-0 envelope (a new round: the chain's digest rule does not see it)
    key, storage = generate_private_key(), EmbeddedStorage(tmp_path / "blocks")
    envelope, commitment, context_a = _sealed(key, A, round_=0)
    entries = [(0, B, SubmissionInfo(storage.put(envelope), envelope_digest(envelope), commitment))]

    # Execute
    [result] = _intake(storage, entries, key, round_=1)

    # Assert
    assert result.reason == UNDECRYPTABLE and result.evidence_key is None
    assert "for this task slot" in result.detail

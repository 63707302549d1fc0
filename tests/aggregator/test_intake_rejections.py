"""Every kind of bad submission is rejected with its reason, its evidence key is revealed on
chain, and the audit reproduces the rejection from public data alone."""

from __future__ import annotations

import numpy as np
import pytest

from aggregator.audit import audit_task
from market.encryption import (
    decrypt,
    decrypt_with_evidence_key,
    encrypt_for_aggregator,
    envelope_digest,
    public_key_bytes,
)
from market.update_package import UpdateMetadata, build_update_package, load_update_package, model_spec_hash
from tests.aggregator.conftest import make_small_task
from trainers.models import param_spec
from zk.protocol.actions import ActionKind, NodeAction
from zk.protocol.commitment import random_salt


def _bad_package(task, slot, mutate):
    """An otherwise honest update package of ``slot`` for round 0, changed by ``mutate``."""
    spec = param_spec(task.spec.model)
    tensors = {name: np.full(shape, 0.01, dtype=dtype) for name, (shape, dtype) in spec.items()}
    meta = dict(task_id=task.task_id, round=0, trainer=task.trainers[slot].address, num_samples=100,
                salt=random_salt().to_bytes(32, "big"), model_spec_hash=model_spec_hash(spec))
    tensors, meta = mutate(tensors, meta)
    return build_update_package(tensors, UpdateMetadata(**meta))


def _submit(task, slot, envelope, digest=None, commitment=12345):
    account = task.trainers[slot]
    cid = task.storage.put(envelope)
    task.market.submit_update(account, task.task_id, 0, cid, digest or envelope_digest(envelope))
    return commitment


def _with_nan(tensors, meta):
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].copy()
    tensors[name].flat[0] = np.nan
    return tensors, meta


def _wrong_shape(tensors, meta):
    name = sorted(tensors)[0]
    tensors[name] = np.zeros((3, 3), dtype=tensors[name].dtype)
    return tensors, meta


def _other_round(tensors, meta):
    return tensors, {**meta, "round": 5}


CASES = {
    "non-finite": dict(mutate=_with_nan),
    "wrong-shape": dict(mutate=_wrong_shape),
    "metadata-mismatch": dict(mutate=_other_round),
    "sketch-mismatch": dict(mutate=lambda t, m: (t, m)),  # valid package, wrong commitment
    "wrong-digest": dict(mutate=lambda t, m: (t, m), digest=b"\x42" * 32),
}


@pytest.mark.parametrize("reason", sorted(CASES))
def test_bad_submission_is_rejected_with_its_reason_and_audited(tmp_path, reason):
    task = make_small_task(tmp_path, rounds=1)
    agg = task.aggregator()
    case = CASES[reason]
    # Prepare: three honest trainers; slot 3 sends the bad submission
    task.trainers_step(slots={0, 1, 2})
    package = _bad_package(task, 3, case["mutate"])
    envelope = encrypt_for_aggregator(package, public_key_bytes(task.key), task.context(3))
    commitment = _submit(task, 3, envelope, case.get("digest"))
    agg.step()  # close
    task.trainers_step(slots={0, 1, 2})
    task.market.commit_sketch(task.trainers[3], task.task_id, 0, commitment)

    # Execute
    assert agg.step() == NodeAction(ActionKind.PUBLISHED, 0)

    # Assert: rejected with the reason, scored 0, no strike (a rejection is not proven); evidence
    # revealed unless the digest was wrong
    outcome = agg.rounds[0]
    intake = outcome.intakes[3]
    assert intake.reason == reason
    assert outcome.publication.rejections == [False, False, False, True]
    assert outcome.publication.scores[3] == 0
    assert task.market.get_trainer(task.task_id, task.trainers[3].address).strikes == 0
    revealed = task.market.events("EvidenceKeyRevealed", taskId=task.task_id)
    if reason == "wrong-digest":
        assert revealed == []
    else:
        key = bytes(revealed[0]["args"]["key"])
        assert decrypt_with_evidence_key(envelope, key, task.context(3)) == package  # anyone can open this one
    audit = audit_task(task.market, task.storage, task.task_id)[0]
    assert audit.ok, [c for c in audit.checks if not c.ok]


def test_submitter_without_commitment_is_rejected_after_the_sketch_deadline(tmp_path):
    task = make_small_task(tmp_path, rounds=1)
    agg = task.aggregator()
    task.trainers_step()
    agg.step()
    task.trainers_step(slots={0, 1, 2})  # slot 3 never commits

    assert agg.step() == NodeAction(ActionKind.WAITING, 0, "sketches (3/4)")
    task.chain.increase_time(301)
    assert agg.step() == NodeAction(ActionKind.PUBLISHED, 0)

    assert agg.rounds[0].intakes[3].reason == "no-sketch-commitment"
    assert agg.rounds[0].publication.rejections == [False, False, False, True]
    assert audit_task(task.market, task.storage, task.task_id)[0].ok


def test_honest_package_passes_intake_after_a_round_trip(tmp_path):
    task = make_small_task(tmp_path, rounds=1)
    agg = task.aggregator()
    task.trainers_step()
    agg.step()
    task.trainers_step()
    agg.step()
    intakes = agg.rounds[0].intakes
    assert [i.reason for i in intakes] == [None] * 4
    sub = task.market.get_submission(task.task_id, 0, task.trainers[0].address)
    loaded = load_update_package(decrypt(task.storage.get(sub.update_cid), task.key, task.context(0)),
                                 param_spec(task.spec.model))
    assert loaded.metadata.trainer == task.trainers[0].address


def test_the_specs_lower_sample_cap_rejects_a_package_over_it(tmp_path):
    from aggregator.intake import check_submission
    from zk.protocol.sketch import SketchParams

    task = make_small_task(tmp_path, rounds=1)
    package = _bad_package(task, 3, lambda t, m: (t, m))  # honest, num_samples=100
    envelope = encrypt_for_aggregator(package, public_key_bytes(task.key), task.context(3))
    checks = dict(envelope=envelope, slot=3, trainer=task.trainers[3].address, digest=envelope_digest(envelope),
                  commitment=12345, private_key=task.key, param_spec=param_spec(task.spec.model),
                  chain_id=task.chain.chain_id, contract=task.market.address, task_id=task.task_id, round_=0, seed=7,
                  sketch_params=SketchParams(k=task.spec.scoring.sketch_k), max_bytes=1 << 20, max_norm=100.0)

    capped = check_submission(**checks, max_num_samples=99)
    uncapped = check_submission(**checks, max_num_samples=100)

    assert capped.reason == "too-many-samples" and "over the cap of 99" in capped.detail
    assert uncapped.reason == "sketch-mismatch"  # past the cap check: only the made-up commitment fails

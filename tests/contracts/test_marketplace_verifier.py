"""Marketplace.publishRound with a verifier: what it feeds the verifier and how it treats answers.

HashCheckVerifier accepts keccak256(abi.encode(commitments, seed, flags, rejections, scores,
aggregateCommitment)) as the proof, so a proof built from other values than those the contract
passes is rejected: that pins down which values the contract feeds it.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from market.types import TaskState
from tests.contracts.conftest import FIELD, hash_proof, mask


@pytest.fixture
def verified(drive, hash_verifier):
    """A task with the HashCheckVerifier, 3 trainers, committed in round 0 of 2."""
    return drive("committed", trainers=3, rounds=2, verifier=hash_verifier)


def test_publish_round_with_correct_proof_is_verified(verified, market):
    # Prepare
    flow = verified
    scores = [4, 0, 9]
    proof = hash_proof(market, flow.task_id, 0, flags=mask([1]), rejections=0, scores=scores, aggregate=42)

    # Execute
    result = flow.publish(0, scores=scores, flags=[1], aggregate=42, proof=proof)

    # Assert
    assert flow.round(0).proof_verified is True
    assert result.event("RoundPublished")["proofVerified"] is True
    assert flow.task().trusted_aggregator is False
    assert market.get_trainer(flow.task_id, flow.trainers[2].address).points == 9


def test_publish_round_proof_covers_zero_commitment_of_rejected_slot(drive, hash_verifier, market):
    # Prepare: trainer 1 submitted without a commitment, so the verifier sees 0 in its slot
    flow = drive("closed", trainers=2, verifier=hash_verifier)
    flow.commit(0, flow.trainers[:1])
    flow.pass_sketch_deadline()
    assert market.get_commitments(flow.task_id, 0)[1] == 0

    # Execute
    flow.publish(0, scores=[2, 0], rejections=[1])  # default proof: stored commitments and seed

    # Assert
    assert flow.round(0).proof_verified


@pytest.mark.parametrize(
    "proof", [b"", keccak(text="not a proof"), b"\x00" * 32, b"\xff\xff"],
    ids=["empty", "other-hash", "zero", "two-bytes"],
)
def test_publish_round_reverts_on_wrong_proof(verified, reverts, proof):
    flow = verified
    with reverts("MarketplaceProofRejected", taskId=flow.task_id, round=0):
        flow.publish(0, proof=proof)
    assert not flow.round(0).published


def test_publish_round_reverts_when_verifier_reverts(verified, reverts):
    # Prepare: a one-byte 0xff proof makes HashCheckVerifier revert
    flow = verified

    # Execute / Assert
    with reverts("MarketplaceProofRejected", taskId=flow.task_id, round=0):
        flow.publish(0, proof=b"\xff")


def test_publish_round_reverts_on_proof_over_other_commitments(verified, market, reverts):
    # Prepare: a proof valid for commitments the aggregator would like, not the stored ones
    flow = verified
    stored = market.get_commitments(flow.task_id, 0)
    other = [(c + 1) % FIELD for c in stored]
    scores = [1, 1, 1]
    proof = hash_proof(market, flow.task_id, 0, flags=0, rejections=0, scores=scores, aggregate=0, commitments=other)

    # Execute / Assert
    with reverts("MarketplaceProofRejected", round=0):
        flow.publish(0, scores=scores, proof=proof)


def test_publish_round_reverts_on_proof_over_other_seed(verified, market, reverts):
    flow = verified
    seed = flow.round(0).seed
    proof = hash_proof(market, flow.task_id, 0, flags=0, rejections=0, scores=[1, 1, 1], aggregate=0,
                       seed=(seed + 1) % FIELD)
    with reverts("MarketplaceProofRejected"):
        flow.publish(0, scores=[1, 1, 1], proof=proof)


def test_publish_round_reverts_on_proof_for_other_scores(verified, market, reverts):
    # Prepare: proof for scores [1, 1, 1], publication claims [1, 1, 2]
    flow = verified
    proof = hash_proof(market, flow.task_id, 0, flags=0, rejections=0, scores=[1, 1, 1], aggregate=0)

    # Execute / Assert
    with reverts("MarketplaceProofRejected"):
        flow.publish(0, scores=[1, 1, 2], proof=proof)


def test_publish_round_with_verifier_checks_marks_before_proof(verified, market, reverts):
    # Prepare: a "correct" proof for marks the contract must refuse anyway (score for a flagged slot)
    flow = verified
    proof = hash_proof(market, flow.task_id, 0, flags=1, rejections=0, scores=[5, 1, 1], aggregate=0)

    # Execute / Assert
    with reverts("MarketplaceScoreNotAllowed", trainer=flow.trainers[0].address):
        flow.publish(0, scores=[5, 1, 1], flags=[0], proof=proof)


def test_publish_round_verified_second_round_uses_its_own_seed(verified, market, reverts):
    # Prepare: publish round 0, run round 1 up to commitments
    flow = verified
    flow.publish(0)
    flow.submit(1)
    flow.close(1)
    flow.commit(1)
    assert flow.round(1).seed != flow.round(0).seed

    # Execute: a proof over round 0's seed fails, one over round 1's passes
    stale = hash_proof(market, flow.task_id, 1, flags=0, rejections=0, scores=[1, 1, 1], aggregate=0,
                       seed=flow.round(0).seed)
    with reverts("MarketplaceProofRejected", round=1):
        flow.publish(1, scores=[1, 1, 1], proof=stale)
    flow.publish(1, scores=[1, 1, 1])

    # Assert
    assert flow.round(1).proof_verified
    assert flow.task().published_rounds == 2
    assert flow.task().state is TaskState.TRAINING

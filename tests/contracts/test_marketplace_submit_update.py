"""Marketplace.submitUpdate: one update per trainer per round, inside the submission window, no digest twice in a
round."""

from __future__ import annotations

import pytest

from market.types import TaskState
from tests.contracts.conftest import MAX_CID_LENGTH, digest_of, event_names


def test_submit_update_records_cid_and_digest(drive, market):
    # Prepare
    flow = drive("started")
    trainer = flow.trainers[1]
    digest = digest_of("update", 1)

    # Execute
    result = market.submit_update(trainer, flow.task_id, 0, "bafy-update", digest)

    # Assert
    sub = market.get_submission(flow.task_id, 0, trainer.address)
    assert (sub.update_cid, sub.update_digest, sub.sketch_commitment) == ("bafy-update", digest, 0)
    assert sub.submitted
    assert flow.round(0).submissions == 1
    assert event_names(result) == ["UpdateSubmitted"]
    assert result.event("UpdateSubmitted") == {
        "taskId": flow.task_id, "round": 0, "trainer": trainer.address, "updateCid": "bafy-update",
        "updateDigest": digest,
    }


def test_submit_update_accepts_longest_cid(drive, market):
    flow = drive("started")
    market.submit_update(flow.trainers[0], flow.task_id, 0, "c" * MAX_CID_LENGTH, digest_of(1))
    assert market.get_submission(flow.task_id, 0, flow.trainers[0].address).update_cid == "c" * MAX_CID_LENGTH


@pytest.mark.parametrize("who", ["outsider", "owner", "aggregator"])
def test_submit_update_reverts_for_non_trainer(drive, market, actors, reverts, who):
    flow = drive("started")
    caller = getattr(actors, who)
    with reverts("MarketplaceNotTrainer", taskId=flow.task_id, account=caller.address):
        market.submit_update(caller, flow.task_id, 0, "bafy", digest_of(1))


def test_submit_update_reverts_before_start(drive, market, reverts):
    flow = drive("joined")
    with reverts("MarketplaceWrongState", taskId=flow.task_id, state=TaskState.OPEN, required=TaskState.TRAINING):
        market.submit_update(flow.trainers[0], flow.task_id, 0, "bafy", digest_of(1))


@pytest.mark.parametrize("round_", [1, 2, 2**255])
def test_submit_update_reverts_for_other_round(drive, market, reverts, round_):
    flow = drive("started", rounds=3)
    with reverts("MarketplaceWrongRound", taskId=flow.task_id, round=round_, currentRound=0):
        market.submit_update(flow.trainers[0], flow.task_id, round_, "bafy", digest_of(1))


def test_submit_update_reverts_for_past_round(drive, market, reverts):
    # Prepare: round 0 published, round 1 running
    flow = drive("published", rounds=2)

    # Execute / Assert
    with reverts("MarketplaceWrongRound", round=0, currentRound=1):
        market.submit_update(flow.trainers[0], flow.task_id, 0, "bafy", digest_of(2))


def test_submit_update_reverts_after_submission_deadline(drive, market, reverts):
    # Prepare
    flow = drive("started")
    deadline = flow.round(0).submission_deadline
    flow.pass_submission_deadline()

    # Execute / Assert
    with reverts("MarketplaceSubmissionClosed", taskId=flow.task_id, round=0, deadline=deadline):
        market.submit_update(flow.trainers[0], flow.task_id, 0, "bafy", digest_of(1))


def test_submit_update_reverts_after_close_before_deadline(drive, market, reverts):
    # Prepare: everyone submitted, so submissions closed early; the deadline has not passed
    flow = drive("closed")
    deadline = flow.round(0).submission_deadline
    assert market.chain.timestamp() < deadline

    # Execute / Assert: "closed" wins over "already submitted"
    with reverts("MarketplaceSubmissionClosed", round=0, deadline=deadline):
        market.submit_update(flow.trainers[0], flow.task_id, 0, "bafy-again", digest_of(9))


def test_submit_update_reverts_when_submitting_twice(drive, market, reverts):
    # Prepare
    flow = drive("started")
    flow.submit(0, [flow.trainers[0]])

    # Execute / Assert
    with reverts("MarketplaceAlreadySubmitted", taskId=flow.task_id, round=0, trainer=flow.trainers[0].address):
        market.submit_update(flow.trainers[0], flow.task_id, 0, "bafy-other", digest_of("other"))
    assert flow.round(0).submissions == 1


def test_submit_update_reverts_on_a_digest_another_trainer_submitted_this_round(drive, market, reverts):
    # Prepare: trainer 0 submitted; trainer 1 copies its envelope (same CID and digest)
    flow = drive("started", trainers=3)
    digest = digest_of("envelope", 0)
    market.submit_update(flow.trainers[0], flow.task_id, 0, "bafy-envelope", digest)

    # Execute / Assert
    with reverts("MarketplaceDuplicateDigest", taskId=flow.task_id, round=0, digest=digest,
                 submittedBy=flow.trainers[0].address) as info:
        market.submit_update(flow.trainers[1], flow.task_id, 0, "bafy-envelope", digest)
    assert "already submitted the digest" in str(info.value)
    assert not market.get_submission(flow.task_id, 0, flow.trainers[1].address).submitted
    assert flow.round(0).submissions == 1
    # the copier may still submit a digest of its own
    market.submit_update(flow.trainers[1], flow.task_id, 0, "bafy-own", digest_of("own", 1))
    assert flow.round(0).submissions == 2


def test_submit_update_same_digest_in_another_round_or_task_is_accepted(drive, market):
    # Prepare: the digest is refused only within one round of one task
    flow = drive("published", rounds=2, trainers=2)
    other = drive("started", trainers=2)
    digest = digest_of(flow.task_id, 0, flow.trainers[0].address)  # trainer 0's round-0 digest
    assert market.get_submission(flow.task_id, 0, flow.trainers[0].address).update_digest == digest

    # Execute: trainer 1 reuses it in round 1, and in another task
    market.submit_update(flow.trainers[1], flow.task_id, 1, "bafy-next", digest)
    market.submit_update(other.trainers[1], other.task_id, 0, "bafy-other", digest)

    # Assert
    assert market.get_submission(flow.task_id, 1, flow.trainers[1].address).update_digest == digest
    assert market.get_submission(other.task_id, 0, other.trainers[1].address).update_digest == digest


@pytest.mark.parametrize("length", [0, MAX_CID_LENGTH + 1])
def test_submit_update_reverts_on_invalid_cid(drive, market, reverts, length):
    flow = drive("started")
    with reverts("MarketplaceInvalidCid", length=length, maxLength=MAX_CID_LENGTH):
        market.submit_update(flow.trainers[0], flow.task_id, 0, "c" * length, digest_of(1))


def test_submit_update_reverts_on_zero_digest(drive, market, reverts):
    flow = drive("started")
    with reverts("MarketplaceInvalidDigest"):
        market.submit_update(flow.trainers[0], flow.task_id, 0, "bafy", b"\x00" * 32)
    assert not market.get_submission(flow.task_id, 0, flow.trainers[0].address).submitted


def test_submit_update_reverts_after_last_round(drive, market, reverts):
    # Prepare: the only round is published; currentRound == rounds
    flow = drive("published", rounds=1)

    # Execute / Assert
    with reverts("MarketplaceWrongRound", round=1, currentRound=1):
        market.submit_update(flow.trainers[0], flow.task_id, 1, "bafy", digest_of(1))

"""Marketplace.publishRound in trusted-aggregator mode: who, when, and which marks and scores."""

from __future__ import annotations

import pytest

from market.types import TaskState
from tests.contracts.conftest import FIELD, MAX_CID_LENGTH, MAX_SCORE, SUBMISSION_WINDOW, event_names


def test_publish_round_records_marks_scores_and_opens_next_round(drive, market, actors):
    # Prepare
    flow = drive("committed", trainers=3, rounds=2)

    # Execute
    result = flow.publish(0, scores=[5, 0, 7], flags=[1], aggregate=99, cid="bafy-global-1")

    # Assert: the round record
    info = flow.round(0)
    assert info.published and not info.proof_verified
    assert (info.flags, info.rejections, info.aggregate_commitment) == (0b010, 0, 99)
    assert info.global_model_cid == "bafy-global-1"
    # the trainers' standing
    standing = [market.get_trainer(flow.task_id, t.address) for t in flow.trainers]
    assert [s.points for s in standing] == [5, 0, 7]
    assert [s.strikes for s in standing] == [0, 1, 0]
    # the task moved to round 1
    task = flow.task()
    assert (task.state, task.current_round, task.published_rounds) == (TaskState.TRAINING, 1, 1)
    block_time = market.web3.eth.get_block(result.block_number)["timestamp"]
    assert flow.round(1).submission_deadline == block_time + SUBMISSION_WINDOW
    # the events
    assert event_names(result) == ["RoundPublished", "RoundSettled", "RoundOpened"]
    assert result.event("RoundPublished") == {
        "taskId": flow.task_id, "round": 0, "globalModelCid": "bafy-global-1", "flags": 0b010, "rejections": 0,
        "scores": [5, 0, 7], "aggregateCommitment": 99, "proofVerified": False,
    }
    assert result.event("RoundOpened") == {
        "taskId": flow.task_id, "round": 1, "submissionDeadline": block_time + SUBMISSION_WINDOW,
    }


def test_publish_round_last_round_opens_none(drive):
    # Prepare
    flow = drive("committed", rounds=1)

    # Execute
    result = flow.publish(0)

    # Assert
    assert event_names(result) == ["RoundPublished", "RoundSettled"]
    task = flow.task()
    assert (task.current_round, task.published_rounds, task.state) == (1, 1, TaskState.TRAINING)


def test_publish_round_records_transcript_cid_in_an_event(drive, market):
    # Prepare
    flow = drive("committed", rounds=2)

    # Execute
    result = flow.publish(0, transcript="bafy-transcript-0")

    # Assert
    assert event_names(result) == ["RoundPublished", "TranscriptRecorded", "RoundSettled", "RoundOpened"]
    assert result.event("TranscriptRecorded") == {
        "taskId": flow.task_id, "round": 0, "transcriptCid": "bafy-transcript-0",
    }
    assert [e["args"]["transcriptCid"] for e in market.events("TranscriptRecorded", taskId=flow.task_id)] == [
        "bafy-transcript-0"]


def test_publish_round_without_transcript_emits_no_transcript_event(drive, market):
    flow = drive("committed")
    result = flow.publish(0, transcript="")
    assert "TranscriptRecorded" not in event_names(result)
    assert market.events("TranscriptRecorded") == []


def test_publish_round_accepts_longest_transcript_cid(drive):
    flow = drive("committed")
    result = flow.publish(0, transcript="t" * MAX_CID_LENGTH)
    assert result.event("TranscriptRecorded")["transcriptCid"] == "t" * MAX_CID_LENGTH


def test_publish_round_reverts_on_too_long_transcript_cid(drive, reverts):
    flow = drive("committed")
    with reverts("MarketplaceInvalidCid", length=MAX_CID_LENGTH + 1, maxLength=MAX_CID_LENGTH):
        flow.publish(0, transcript="t" * (MAX_CID_LENGTH + 1))
    assert not flow.round(0).published


def test_publish_round_flag_and_rejection_of_one_slot_is_one_strike(drive, market):
    flow = drive("committed")
    flow.publish(0, scores=[0, 3], flags=[0], rejections=[0])
    assert market.get_trainer(flow.task_id, flow.trainers[0].address).strikes == 1
    assert market.get_trainer(flow.task_id, flow.trainers[1].address).points == 3


def test_publish_round_rejection_adds_no_strike_flag_adds_one(drive, market):
    # Prepare: three rounds; trainer 0 rejected every round, trainer 1 flagged every round
    flow = drive("committed", trainers=3, rounds=3)

    # Execute
    flow.publish(0, scores=[0, 0, 2], flags=[1], rejections=[0])
    for _ in range(2):
        flow.run_round(scores=[0, 0, 2], flags=[1], rejections=[0])

    # Assert
    standing = [market.get_trainer(flow.task_id, t.address) for t in flow.trainers]
    assert [s.strikes for s in standing] == [0, 3, 0]
    assert [s.points for s in standing] == [0, 0, 6]


def test_publish_round_early_once_every_submitter_committed(drive, market):
    # Prepare
    flow = drive("committed")
    assert market.chain.timestamp() < flow.round(0).sketch_deadline

    # Execute
    flow.publish(0)

    # Assert
    assert flow.round(0).published


def test_publish_round_after_sketch_deadline_with_missing_commitment_rejected(drive, market):
    # Prepare: trainer 1 submitted but never committed its sketch
    flow = drive("closed")
    flow.commit(0, flow.trainers[:1])
    flow.pass_sketch_deadline()

    # Execute
    flow.publish(0, scores=[4, 0], rejections=[1])

    # Assert: rejected, no points, and no strike (a rejection is not proven)
    assert flow.round(0).rejections == 0b10
    standing = market.get_trainer(flow.task_id, flow.trainers[1].address)
    assert (standing.strikes, standing.points) == (0, 0)


def test_publish_round_with_no_submissions(drive, market):
    # Prepare: nobody submitted
    flow = drive("started")
    flow.close(0)

    # Execute
    flow.publish(0, scores=[0, 0])

    # Assert: no marks, no strikes
    assert flow.round(0).published
    assert all(market.get_trainer(flow.task_id, t.address).strikes == 0 for t in flow.trainers)


def test_publish_round_accepts_max_score(drive, market):
    flow = drive("committed")
    flow.publish(0, scores=[MAX_SCORE, MAX_SCORE])
    assert market.get_trainer(flow.task_id, flow.trainers[0].address).points == MAX_SCORE


@pytest.mark.parametrize("who", ["owner", "trainer", "outsider"])
def test_publish_round_reverts_for_non_aggregator(drive, market, actors, reverts, who):
    flow = drive("committed")
    caller = flow.trainers[0] if who == "trainer" else getattr(actors, who)
    with reverts("MarketplaceUnauthorized", taskId=flow.task_id, caller=caller.address):
        flow.publish(0, sender=caller)
    assert not flow.round(0).published


def test_publish_round_reverts_before_start(drive, market, actors, reverts):
    flow = drive("joined")
    with reverts("MarketplaceWrongState", state=TaskState.OPEN, required=TaskState.TRAINING):
        market.publish_round(actors.aggregator, flow.task_id, 0, flow.publication(0, scores=[0, 0]))


def test_publish_round_reverts_for_other_round(drive, market, actors, reverts):
    flow = drive("committed", rounds=2)
    with reverts("MarketplaceWrongRound", round=1, currentRound=0):
        market.publish_round(actors.aggregator, flow.task_id, 1, flow.publication(0))


def test_publish_round_reverts_when_published_twice(drive, market, actors, reverts):
    flow = drive("published", rounds=1)
    with reverts("MarketplaceWrongRound", round=0, currentRound=1):
        market.publish_round(actors.aggregator, flow.task_id, 0, flow.publication(0, scores=[0, 0]))


def test_publish_round_reverts_before_submissions_closed(drive, reverts):
    flow = drive("submitted")
    with reverts("MarketplaceSubmissionsNotClosed", taskId=flow.task_id, round=0):
        flow.publish(0, scores=[0, 0])


def test_publish_round_reverts_while_sketch_window_open(drive, reverts):
    # Prepare: one of two submitters committed; the sketch window is still open
    flow = drive("closed")
    flow.commit(0, flow.trainers[:1])
    deadline = flow.round(0).sketch_deadline

    # Execute / Assert
    with reverts("MarketplaceSketchWindowOpen", taskId=flow.task_id, round=0, deadline=deadline):
        flow.publish(0, scores=[1, 0], rejections=[1])


def test_publish_round_reverts_after_publish_deadline(drive, reverts):
    # Prepare
    flow = drive("committed")
    deadline = flow.round(0).publish_deadline
    flow.pass_publish_deadline()

    # Execute / Assert
    with reverts("MarketplacePublishDeadlinePassed", taskId=flow.task_id, round=0, deadline=deadline):
        flow.publish(0)


def test_publish_round_reverts_after_implicit_deadline_when_never_closed(drive, reverts):
    # Prepare: nobody closed; the deadline counts as if the round closed at its submission deadline
    flow = drive("submitted")
    info = flow.round(0)
    assert info.publish_deadline == info.submission_deadline + flow.config.sketch_window + flow.config.publish_grace
    flow.pass_publish_deadline()

    # Execute / Assert
    with reverts("MarketplacePublishDeadlinePassed", deadline=info.publish_deadline):
        flow.publish(0, scores=[0, 0])


@pytest.mark.parametrize("scores", [[], [1], [1, 1, 1]])
def test_publish_round_reverts_on_wrong_score_count(drive, reverts, scores):
    flow = drive("committed")
    with reverts("MarketplaceWrongScoreCount", given=len(scores), expected=2):
        flow.publish(0, scores=scores)


@pytest.mark.parametrize("kind", ["flags", "rejections"])
def test_publish_round_reverts_on_marks_for_non_submitter(drive, reverts, kind):
    # Prepare: trainer 1 did not submit
    flow = drive("started")
    flow.submit(0, flow.trainers[:1])
    flow.close(0)
    flow.commit(0)

    # Execute / Assert
    with reverts("MarketplaceInvalidMarks", taskId=flow.task_id, round=0,
                 flags=0b10 if kind == "flags" else 0, rejections=0b10 if kind == "rejections" else 0):
        flow.publish(0, scores=[1, 0], **{kind: [1]})


@pytest.mark.parametrize("slot", [2, 3, 255])
@pytest.mark.parametrize("kind", ["flags", "rejections"])
def test_publish_round_reverts_on_marks_beyond_last_slot(drive, reverts, slot, kind):
    flow = drive("committed")
    with reverts("MarketplaceInvalidMarks", **{kind: 1 << slot}):
        flow.publish(0, scores=[1, 1], **{kind: [slot]})


@pytest.mark.parametrize("flagged", [False, True])
def test_publish_round_reverts_when_uncommitted_submitter_not_rejected(drive, reverts, flagged):
    # Prepare: trainer 1 submitted, never committed; the sketch window is over
    flow = drive("closed")
    flow.commit(0, flow.trainers[:1])
    flow.pass_sketch_deadline()

    # Execute / Assert: a flag is not a rejection
    with reverts("MarketplaceMissingRejection", taskId=flow.task_id, round=0, trainer=flow.trainers[1].address):
        flow.publish(0, scores=[1, 0], flags=[1] if flagged else [])


@pytest.mark.parametrize("mark", ["flags", "rejections"])
def test_publish_round_reverts_on_score_for_marked_trainer(drive, reverts, mark):
    flow = drive("committed")
    with reverts("MarketplaceScoreNotAllowed", taskId=flow.task_id, round=0, trainer=flow.trainers[0].address,
                 score=3):
        flow.publish(0, scores=[3, 1], **{mark: [0]})


def test_publish_round_reverts_on_score_for_non_submitter(drive, reverts):
    # Prepare: trainer 1 did not submit
    flow = drive("started")
    flow.submit(0, flow.trainers[:1])
    flow.close(0)
    flow.commit(0)

    # Execute / Assert
    with reverts("MarketplaceScoreNotAllowed", trainer=flow.trainers[1].address, score=1):
        flow.publish(0, scores=[1, 1])


@pytest.mark.parametrize("score", [MAX_SCORE + 1, 2**256 - 1])
def test_publish_round_reverts_on_score_too_large(drive, reverts, score):
    flow = drive("committed")
    with reverts("MarketplaceScoreTooLarge", score=score, maxScore=MAX_SCORE):
        flow.publish(0, scores=[1, score])


@pytest.mark.parametrize("value", [FIELD, 2**256 - 1])
def test_publish_round_reverts_on_aggregate_commitment_outside_field(drive, reverts, value):
    flow = drive("committed")
    with reverts("MarketplaceInvalidFieldElement", value=value):
        flow.publish(0, aggregate=value)


@pytest.mark.parametrize("length", [0, MAX_CID_LENGTH + 1])
def test_publish_round_reverts_on_invalid_global_model_cid(drive, reverts, length):
    flow = drive("committed")
    with reverts("MarketplaceInvalidCid", length=length, maxLength=MAX_CID_LENGTH):
        flow.publish(0, cid="m" * length)


def test_publish_round_revert_leaves_points_and_strikes(drive, market, reverts):
    # Prepare
    flow = drive("committed")

    # Execute
    with reverts("MarketplaceScoreNotAllowed"):
        flow.publish(0, scores=[1, 5], flags=[1])

    # Assert
    for t in flow.trainers:
        standing = market.get_trainer(flow.task_id, t.address)
        assert (standing.points, standing.strikes) == (0, 0)
    assert flow.task().published_rounds == 0

"""Marketplace.commitSketch: submitters commit once, inside the sketch window, to a field element."""

from __future__ import annotations

import pytest

from tests.contracts.conftest import FIELD, event_names


def test_commit_sketch_records_commitment(drive, market):
    # Prepare
    flow = drive("closed")
    trainer = flow.trainers[0]

    # Execute
    result = market.commit_sketch(trainer, flow.task_id, 0, 12345)

    # Assert
    assert market.get_submission(flow.task_id, 0, trainer.address).sketch_commitment == 12345
    assert market.get_commitments(flow.task_id, 0) == [12345, 0]
    assert flow.round(0).sketches == 1
    assert event_names(result) == ["SketchCommitted"]
    assert result.event("SketchCommitted") == {
        "taskId": flow.task_id, "round": 0, "trainer": trainer.address, "commitment": 12345,
    }


def test_commit_sketch_accepts_largest_field_element(drive, market):
    flow = drive("closed")
    market.commit_sketch(flow.trainers[1], flow.task_id, 0, FIELD - 1)
    assert market.get_commitments(flow.task_id, 0) == [0, FIELD - 1]


def test_commit_sketch_reverts_before_close(drive, market, reverts):
    flow = drive("submitted")
    with reverts("MarketplaceSubmissionsNotClosed", taskId=flow.task_id, round=0):
        market.commit_sketch(flow.trainers[0], flow.task_id, 0, 1)


def test_commit_sketch_reverts_after_sketch_deadline(drive, market, reverts):
    # Prepare
    flow = drive("closed")
    deadline = flow.round(0).sketch_deadline
    flow.pass_sketch_deadline()

    # Execute / Assert
    with reverts("MarketplaceSketchWindowClosed", taskId=flow.task_id, round=0, deadline=deadline):
        market.commit_sketch(flow.trainers[0], flow.task_id, 0, 1)


def test_commit_sketch_reverts_for_trainer_without_submission(drive, market, reverts):
    # Prepare: trainer 1 did not submit
    flow = drive("started")
    flow.submit(0, flow.trainers[:1])
    flow.close(0)
    absent = flow.trainers[1]

    # Execute / Assert
    with reverts("MarketplaceNoSubmission", taskId=flow.task_id, round=0, trainer=absent.address):
        market.commit_sketch(absent, flow.task_id, 0, 1)


def test_commit_sketch_reverts_for_outsider(drive, market, actors, reverts):
    flow = drive("closed")
    with reverts("MarketplaceNoSubmission", trainer=actors.outsider.address):
        market.commit_sketch(actors.outsider, flow.task_id, 0, 1)


def test_commit_sketch_reverts_when_committing_twice(drive, market, reverts):
    # Prepare
    flow = drive("committed")
    trainer = flow.trainers[0]
    stored = market.get_submission(flow.task_id, 0, trainer.address).sketch_commitment

    # Execute / Assert
    with reverts("MarketplaceSketchAlreadyCommitted", taskId=flow.task_id, round=0, trainer=trainer.address):
        market.commit_sketch(trainer, flow.task_id, 0, 777)
    assert market.get_submission(flow.task_id, 0, trainer.address).sketch_commitment == stored


@pytest.mark.parametrize("value", [0, FIELD, FIELD + 1, 2**256 - 1], ids=["zero", "modulus", "modulus+1", "max"])
def test_commit_sketch_reverts_on_invalid_field_element(drive, market, reverts, value):
    flow = drive("closed")
    with reverts("MarketplaceInvalidFieldElement", value=value):
        market.commit_sketch(flow.trainers[0], flow.task_id, 0, value)


def test_commit_sketch_reverts_for_other_round(drive, market, reverts):
    flow = drive("closed", rounds=2)
    with reverts("MarketplaceWrongRound", round=1, currentRound=0):
        market.commit_sketch(flow.trainers[0], flow.task_id, 1, 1)

"""Marketplace.start: who may start, when, and with how many trainers."""

from __future__ import annotations

import pytest

from market.types import TaskState
from tests.contracts.conftest import SUBMISSION_WINDOW, event_names


@pytest.mark.parametrize("role", ["owner", "aggregator"])
def test_start_by_owner_or_aggregator_before_join_deadline(drive, market, actors, role):
    # Prepare
    flow = drive("joined", trainers=3)

    # Execute
    result = flow.start(getattr(actors, role))

    # Assert
    task = flow.task()
    assert task.state is TaskState.TRAINING
    assert task.current_round == 0
    block_time = market.web3.eth.get_block(result.block_number)["timestamp"]
    assert flow.round(0).submission_deadline == block_time + SUBMISSION_WINDOW
    assert event_names(result) == ["TaskStarted", "RoundOpened"]
    assert result.event("TaskStarted") == {"taskId": flow.task_id, "trainers": 3}
    assert result.event("RoundOpened") == {
        "taskId": flow.task_id, "round": 0, "submissionDeadline": block_time + SUBMISSION_WINDOW,
    }


@pytest.mark.parametrize("who", ["trainer", "outsider"])
def test_start_reverts_for_others_before_join_deadline(drive, market, actors, reverts, who):
    # Prepare
    flow = drive("joined")
    caller = actors.trainers[0] if who == "trainer" else actors.outsider

    # Execute / Assert
    with reverts("MarketplaceUnauthorized", taskId=flow.task_id, caller=caller.address):
        market.start(caller, flow.task_id)
    assert flow.task().state is TaskState.OPEN


def test_start_by_anyone_after_join_deadline(drive, actors):
    # Prepare
    flow = drive("joined")
    flow.pass_join_deadline()

    # Execute
    result = flow.start(actors.outsider)

    # Assert
    assert flow.task().state is TaskState.TRAINING
    assert "TaskStarted" in event_names(result)


@pytest.mark.parametrize("who", ["owner", "outsider-after-deadline"])
def test_start_reverts_with_too_few_trainers(make_task, market, actors, reverts, who):
    # Prepare
    flow = make_task(min_trainers=3)
    flow.join(actors.trainers[:2])
    caller = actors.owner
    if who == "outsider-after-deadline":
        flow.pass_join_deadline()
        caller = actors.outsider

    # Execute / Assert
    with reverts("MarketplaceNotEnoughTrainers", taskId=flow.task_id, joined=2, required=3):
        market.start(caller, flow.task_id)


def test_start_reverts_when_already_started(drive, market, actors, reverts):
    flow = drive("started")
    with reverts("MarketplaceWrongState", state=TaskState.TRAINING, required=TaskState.OPEN):
        market.start(actors.owner, flow.task_id)


def test_start_reverts_on_unknown_task(market, actors, reverts):
    with reverts("MarketplaceUnknownTask", taskId=7):
        market.start(actors.owner, 7)

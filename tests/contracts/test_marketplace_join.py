"""Marketplace.join: stake, slots, who may join and when."""

from __future__ import annotations

import pytest

from market.types import TaskState
from tests.contracts.conftest import REWARD, STAKE, event_names


def test_join_takes_stake_and_assigns_slots_in_order(market, actors, make_task):
    # Prepare
    flow = make_task()
    first, second = actors.trainers[:2]

    # Execute
    results = flow.join([first, second])

    # Assert
    assert market.get_trainers(flow.task_id) == [first.address, second.address]
    assert market.get_trainer(flow.task_id, first.address).slot == 0
    assert market.get_trainer(flow.task_id, second.address).slot == 1
    assert market.get_trainer(flow.task_id, second.address).joined is True
    task = flow.task()
    assert task.trainer_count == 2 and task.held_wei == REWARD + 2 * STAKE
    assert market.balance() == REWARD + 2 * STAKE
    assert [event_names(r) for r in results] == [["TrainerJoined"], ["TrainerJoined"]]
    assert results[1].event("TrainerJoined") == {
        "taskId": flow.task_id, "trainer": second.address, "slot": 1, "stake": STAKE,
    }


def test_join_with_zero_stake_task(market, actors, make_task):
    # Prepare
    flow = make_task(stake_wei=0)

    # Execute
    result = market.join(actors.trainers[0], flow.task_id, 0)

    # Assert
    assert result.event("TrainerJoined")["stake"] == 0
    assert flow.task().held_wei == REWARD


def test_join_reverts_on_unknown_task(market, actors, make_task, reverts):
    make_task()
    with reverts("MarketplaceUnknownTask", taskId=2):
        market.join(actors.trainers[0], 2, STAKE)


def test_join_reverts_when_task_started(drive, market, actors, reverts):
    # Prepare
    flow = drive("started")

    # Execute / Assert
    with reverts("MarketplaceWrongState", taskId=flow.task_id, state=TaskState.TRAINING, required=TaskState.OPEN):
        market.join(actors.trainers[3], flow.task_id, STAKE)


def test_join_reverts_when_task_cancelled(make_task, market, actors, reverts):
    # Prepare
    flow = make_task()
    flow.cancel()

    # Execute / Assert
    with reverts("MarketplaceWrongState", state=TaskState.CANCELLED, required=TaskState.OPEN):
        market.join(actors.trainers[0], flow.task_id, STAKE)


def test_join_reverts_after_join_deadline(make_task, market, actors, reverts):
    # Prepare
    flow = make_task()
    flow.pass_join_deadline()

    # Execute / Assert
    with reverts("MarketplaceJoinClosed", taskId=flow.task_id, joinDeadline=flow.config.join_deadline):
        market.join(actors.trainers[0], flow.task_id, STAKE)


@pytest.mark.parametrize("role", ["owner", "aggregator"])
def test_join_reverts_for_owner_and_aggregator(make_task, market, actors, reverts, role):
    # Prepare
    flow = make_task()
    account = getattr(actors, role)

    # Execute / Assert
    with reverts("MarketplaceConflictOfInterest", taskId=flow.task_id, account=account.address):
        market.join(account, flow.task_id, STAKE)


def test_join_reverts_when_joining_twice(make_task, market, actors, reverts):
    # Prepare
    flow = make_task()
    flow.join([actors.trainers[0]])

    # Execute / Assert
    with reverts("MarketplaceAlreadyJoined", taskId=flow.task_id, trainer=actors.trainers[0].address):
        market.join(actors.trainers[0], flow.task_id, STAKE)
    assert flow.task().trainer_count == 1


def test_join_reverts_when_task_full(make_task, market, actors, reverts):
    # Prepare
    flow = make_task(min_trainers=1, max_trainers=2)
    flow.join(actors.trainers[:2])

    # Execute / Assert
    with reverts("MarketplaceTaskFull", taskId=flow.task_id, maxTrainers=2):
        market.join(actors.trainers[2], flow.task_id, STAKE)


@pytest.mark.parametrize("sent", [0, STAKE - 1, STAKE + 1, 2 * STAKE])
def test_join_reverts_on_wrong_stake(make_task, market, actors, reverts, sent):
    # Prepare
    flow = make_task()

    # Execute / Assert
    with reverts("MarketplaceWrongStake", taskId=flow.task_id, sent=sent, required=STAKE):
        market.join(actors.trainers[0], flow.task_id, sent)
    assert market.balance() == REWARD


def test_join_reverts_on_stake_sent_to_zero_stake_task(make_task, market, actors, reverts):
    flow = make_task(stake_wei=0)
    with reverts("MarketplaceWrongStake", sent=1, required=0):
        market.join(actors.trainers[0], flow.task_id, 1)

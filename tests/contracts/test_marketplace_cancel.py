"""Marketplace.cancel: who may cancel an open task, and the refunds."""

from __future__ import annotations

from market.types import CreditKind, TaskState
from tests.contracts.conftest import REWARD, STAKE, assert_money_conserved, credits_by_kind, event_names


def test_cancel_by_owner_before_deadline_refunds_reward_and_stakes(drive, market, actors):
    # Prepare
    flow = drive("joined", trainers=2)
    first, second = flow.trainers

    # Execute
    result = flow.cancel(actors.owner)

    # Assert
    task = flow.task()
    assert task.state is TaskState.CANCELLED
    assert task.held_wei == 0
    assert market.credit_of(actors.owner.address) == REWARD
    assert market.credit_of(first.address) == STAKE and market.credit_of(second.address) == STAKE
    assert market.total_credits() == REWARD + 2 * STAKE == market.balance()
    assert event_names(result) == ["TaskCancelled", "PaymentCredited", "PaymentCredited", "PaymentCredited"]
    assert result.event("TaskCancelled") == {"taskId": flow.task_id, "by": actors.owner.address}
    assert credits_by_kind(result) == [
        (first.address, STAKE, CreditKind.STAKE_RETURNED),
        (second.address, STAKE, CreditKind.STAKE_RETURNED),
        (actors.owner.address, REWARD, CreditKind.REFUND),
    ]
    assert_money_conserved(market, [flow.task_id])


def test_cancel_with_zero_stake_credits_only_the_owner(make_task, market, actors):
    # Prepare
    flow = make_task(stake_wei=0)
    flow.join(actors.trainers[:1])

    # Execute
    result = flow.cancel()

    # Assert
    assert credits_by_kind(result) == [(actors.owner.address, REWARD, CreditKind.REFUND)]
    assert market.credit_of(actors.trainers[0].address) == 0


def test_cancel_reverts_for_non_owner_before_deadline(drive, market, actors, reverts):
    # Prepare: even an undersubscribed task may only be cancelled by its owner before the deadline
    flow = drive("joined", trainers=1, min_trainers=2)

    # Execute / Assert
    for caller in (actors.outsider, actors.aggregator, flow.trainers[0]):
        with reverts("MarketplaceCannotCancel", taskId=flow.task_id, joined=1, minTrainers=2,
                     joinDeadline=flow.config.join_deadline):
            market.cancel(caller, flow.task_id)
    assert flow.task().state is TaskState.OPEN


def test_cancel_by_anyone_after_deadline_when_undersubscribed(drive, market, actors):
    # Prepare
    flow = drive("joined", trainers=1, min_trainers=2)
    flow.pass_join_deadline()

    # Execute
    result = flow.cancel(actors.outsider)

    # Assert
    assert flow.task().state is TaskState.CANCELLED
    assert result.event("TaskCancelled")["by"] == actors.outsider.address
    assert market.credit_of(actors.owner.address) == REWARD
    assert market.credit_of(flow.trainers[0].address) == STAKE
    assert market.credit_of(actors.outsider.address) == 0


def test_cancel_reverts_for_outsider_after_deadline_with_enough_trainers(drive, market, actors, reverts):
    # Prepare
    flow = drive("joined", trainers=2, min_trainers=2)
    flow.pass_join_deadline()

    # Execute / Assert
    with reverts("MarketplaceCannotCancel", taskId=flow.task_id, joined=2, minTrainers=2):
        market.cancel(actors.outsider, flow.task_id)


def test_cancel_reverts_for_owner_after_deadline_with_enough_trainers(drive, market, actors, reverts):
    """IMarketplace: "Only the owner may cancel before the join deadline, and nobody once enough
    trainers joined after it." After the deadline the trainers have a right to `start`."""
    # Prepare
    flow = drive("joined", trainers=2, min_trainers=2)
    flow.pass_join_deadline()

    # Execute / Assert
    with reverts("MarketplaceCannotCancel", taskId=flow.task_id, joined=2, minTrainers=2):
        market.cancel(actors.owner, flow.task_id)
    assert flow.task().state is TaskState.OPEN


def test_cancel_reverts_after_start(drive, market, actors, reverts):
    flow = drive("started")
    with reverts("MarketplaceWrongState", taskId=flow.task_id, state=TaskState.TRAINING, required=TaskState.OPEN):
        market.cancel(actors.owner, flow.task_id)


def test_cancel_reverts_when_already_cancelled(make_task, market, actors, reverts):
    flow = make_task()
    flow.cancel()
    with reverts("MarketplaceWrongState", state=TaskState.CANCELLED, required=TaskState.OPEN):
        market.cancel(actors.owner, flow.task_id)
    assert market.credit_of(actors.owner.address) == REWARD

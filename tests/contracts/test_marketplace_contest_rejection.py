"""Marketplace.contestRejection and the contest window: a rejected trainer puts its own envelope
key on chain before the task is settled; no money moves either way."""

from __future__ import annotations

import pytest

from market.types import TaskState
from tests.contracts.conftest import assert_money_conserved, digest_of, event_names

KEY = digest_of("the trainer's own envelope key")


@pytest.fixture
def rejected(drive):
    """Round 0 of 2 published with trainer 1 rejected."""
    return drive("published", trainers=2, rounds=2, scores=[1, 0], rejections=[1])


def test_contest_rejection_records_the_key_and_moves_no_money(rejected, market):
    # Prepare
    flow = rejected
    trainer = flow.trainers[1]
    credits, held = market.total_credits(), flow.task().held_wei
    earned = [market.get_trainer(flow.task_id, t.address).earned for t in flow.trainers]

    # Execute
    result = market.contest_rejection(trainer, flow.task_id, 0, KEY)

    # Assert: the event and the round's contested bit; nobody's credit or earning changed
    assert event_names(result) == ["RejectionContested"]
    assert result.event("RejectionContested") == {"taskId": flow.task_id, "round": 0, "trainer": trainer.address,
                                                  "key": KEY}
    assert flow.round(0).contested == 0b10
    assert (market.total_credits(), flow.task().held_wei) == (credits, held)
    assert [market.get_trainer(flow.task_id, t.address).earned for t in flow.trainers] == earned
    assert_money_conserved(market, [flow.task_id])


def test_contest_rejection_reverts_when_contested_twice(rejected, market, reverts):
    trainer = rejected.trainers[1]
    market.contest_rejection(trainer, rejected.task_id, 0, KEY)
    with reverts("MarketplaceAlreadyContested", taskId=rejected.task_id, round=0, trainer=trainer.address):
        market.contest_rejection(trainer, rejected.task_id, 0, KEY)


@pytest.mark.parametrize("who", ["accepted trainer", "outsider", "aggregator"])
def test_contest_rejection_reverts_for_anyone_not_rejected(rejected, market, actors, reverts, who):
    caller = {"accepted trainer": rejected.trainers[0], "outsider": actors.outsider,
              "aggregator": actors.aggregator}[who]
    with reverts("MarketplaceNotRejected", taskId=rejected.task_id, round=0, trainer=caller.address):
        market.contest_rejection(caller, rejected.task_id, 0, KEY)


def test_contest_rejection_reverts_for_an_unpublished_round(rejected, market, reverts):
    with reverts("MarketplaceRoundNotPublished", taskId=rejected.task_id, round=1):
        market.contest_rejection(rejected.trainers[1], rejected.task_id, 1, KEY)


def test_contest_rejection_reverts_once_the_task_is_settled(rejected, market, reverts):
    rejected.run_round()
    rejected.finalize()
    with reverts("MarketplaceWrongState", taskId=rejected.task_id, state=TaskState.FINISHED,
                 required=TaskState.TRAINING):
        market.contest_rejection(rejected.trainers[1], rejected.task_id, 0, KEY)


def test_finalize_waits_for_the_contest_window(drive, market, actors, reverts):
    # Prepare: a one-round task with a 500 s contest window; trainer 1 rejected
    flow = drive("published", trainers=2, scores=[1, 0], rejections=[1], contest_window=500)
    until = flow.round(0).published_at + 500

    # Execute / Assert: finalize is refused inside the window, the contest goes through, then
    # finalize succeeds after the window
    with reverts("MarketplaceContestWindowOpen", taskId=flow.task_id, until=until):
        market.finalize(actors.outsider, flow.task_id)
    market.contest_rejection(flow.trainers[1], flow.task_id, 0, KEY)
    market.chain.increase_time(until - market.chain.timestamp() + 1)
    flow.finalize()
    assert flow.task().state is TaskState.FINISHED
    assert_money_conserved(market, [flow.task_id])


def test_create_task_keeps_the_contest_window(make_task, market):
    flow = make_task(contest_window=86_400)
    assert flow.task().config.contest_window == 86_400

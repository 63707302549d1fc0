"""Marketplace.abort: liveness when the aggregator misses a publish deadline."""

from __future__ import annotations

from market.types import SLASH_SINK, CreditKind, TaskState
from tests.contracts.conftest import STAKE, assert_money_conserved, credits_by_kind, event_names, settlement


def test_abort_pays_published_rounds_pro_rata_and_refunds_the_rest(drive, market, actors):
    # Prepare: 3 rounds; round 0 published with points 1 and 2; round 1 never published
    reward = 10**18 + 1
    flow = drive("published", trainers=2, rounds=3, reward=reward, scores=[1, 2])
    flow.pass_publish_deadline(1)

    # Execute
    result = flow.abort(actors.outsider)

    # Assert
    earned = reward * 1 // 3
    unearned = reward - earned
    model = settlement(reward, [([1, 2], [])], [False, False], STAKE, of_rounds=3)
    task = flow.task()
    assert task.state is TaskState.ABORTED and task.held_wei == 0
    assert [market.credit_of(t.address) for t in flow.trainers] == [r + STAKE for r in model["rewards"]]
    assert market.credit_of(actors.owner.address) == unearned + model["dust"]
    assert result.event("TaskAborted") == {
        "taskId": flow.task_id, "round": 1, "by": actors.outsider.address, "rewardPaid": model["reward_paid"],
        "refunded": unearned + model["dust"],
    }
    assert (actors.owner.address, unearned, CreditKind.REFUND) in credits_by_kind(result)
    assert_money_conserved(market, [flow.task_id])


def test_abort_in_first_round_refunds_reward_and_returns_stakes(drive, market, actors):
    # Prepare: round 0 never closed; its effective deadline passes
    flow = drive("started", trainers=2)
    flow.pass_publish_deadline(0)

    # Execute
    result = flow.abort(flow.trainers[0])

    # Assert
    assert market.credit_of(actors.owner.address) == flow.reward
    assert [market.credit_of(t.address) for t in flow.trainers] == [STAKE, STAKE]
    assert result.event("TaskAborted") == {
        "taskId": flow.task_id, "round": 0, "by": flow.trainers[0].address, "rewardPaid": 0,
        "refunded": flow.reward,
    }
    assert event_names(result).count("PaymentCredited") == 3


def test_abort_after_closed_round_uses_its_publish_deadline(drive, market, actors, reverts):
    # Prepare: the round closed late (but before its implicit publish deadline), so its publish
    # deadline is later than the implicit one
    flow = drive("started")
    flow.submit(0)
    flow.pass_submission_deadline(0)
    market.chain.increase_time(flow.config.sketch_window // 2)
    flow.close(0)
    deadline = flow.round(0).publish_deadline
    implicit = flow.round(0).submission_deadline + flow.config.sketch_window + flow.config.publish_grace
    assert deadline > implicit

    # Execute / Assert: past the implicit deadline, before the real one
    with reverts("MarketplacePublishDeadlineNotPassed", taskId=flow.task_id, round=0, deadline=deadline):
        market.abort(actors.outsider, flow.task_id)
    flow.pass_publish_deadline(0)
    flow.abort()
    assert flow.task().state is TaskState.ABORTED


def test_close_after_the_implicit_publish_deadline_reverts(drive, market, actors, reverts):
    # Prepare: nobody closed the round until its implicit publish deadline passed
    flow = drive("started")
    flow.submit(0)
    implicit = flow.round(0).submission_deadline + flow.config.sketch_window + flow.config.publish_grace
    market.chain.increase_time(implicit - market.chain.timestamp() + 1)

    # Execute / Assert: closing (which would push the deadline out) is refused; abort works
    with reverts("MarketplacePublishDeadlinePassed", taskId=flow.task_id, round=0, deadline=implicit):
        market.close_submissions(actors.outsider, flow.task_id, 0)
    flow.abort()
    assert flow.task().state is TaskState.ABORTED


def test_abort_settles_slashed_stakes_like_finalize(drive, market, actors):
    # Prepare: 2 rounds; trainer 1 flagged in round 0 (slashed); round 1 lapses
    flow = drive("published", trainers=2, rounds=2, reward=1000, scores=[5, 0], flags=[1])
    flow.pass_publish_deadline(1)

    # Execute
    flow.abort()

    # Assert: round 0's budget (500) split as Z = 5 + 1·5 (the flagged slot reserves the top
    # score): 250 to trainer 0, 250 withheld; trainer 1's stake and the reserve to the sink, not
    # to trainer 0 nor to the owner; the unpublished round's 500 back to the owner
    assert market.credit_of(flow.trainers[0].address) == 250 + STAKE
    assert market.credit_of(flow.trainers[1].address) == 0
    assert market.credit_of(actors.owner.address) == 500
    assert market.credit_of(SLASH_SINK) == STAKE + 250
    assert_money_conserved(market, [flow.task_id])


def test_abort_reverts_before_publish_deadline(drive, market, actors, reverts):
    # Prepare
    flow = drive("committed")
    deadline = flow.round(0).publish_deadline

    # Execute / Assert: not even the owner may abort early
    for caller in (actors.outsider, actors.owner):
        with reverts("MarketplacePublishDeadlineNotPassed", taskId=flow.task_id, round=0, deadline=deadline):
            market.abort(caller, flow.task_id)
    assert flow.task().state is TaskState.TRAINING


def test_abort_reverts_after_all_rounds_published(drive, market, actors, reverts):
    # Prepare: the only round is published; time runs past every deadline
    flow = drive("published", rounds=1)
    market.chain.increase_time(10_000)

    # Execute / Assert
    with reverts("MarketplaceRoundsRemaining", taskId=flow.task_id, publishedRounds=1, rounds=1):
        market.abort(actors.outsider, flow.task_id)


def test_abort_reverts_before_start(drive, market, actors, reverts):
    flow = drive("joined")
    flow.pass_join_deadline()
    with reverts("MarketplaceWrongState", taskId=flow.task_id, state=TaskState.OPEN, required=TaskState.TRAINING):
        market.abort(actors.outsider, flow.task_id)


def test_abort_reverts_when_already_aborted(drive, market, actors, reverts):
    flow = drive("started")
    flow.pass_publish_deadline(0)
    flow.abort()
    with reverts("MarketplaceWrongState", state=TaskState.ABORTED, required=TaskState.TRAINING):
        market.abort(actors.outsider, flow.task_id)

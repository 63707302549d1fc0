"""Marketplace.finalize: round-by-round payout in integer math, withheld reserves, dust, stakes,
slashing to the sink, the contest window."""

from __future__ import annotations

from market.types import SLASH_SINK, CreditKind, TaskState
from tests.contracts.conftest import (
    MAX_SCORE,
    REWARD,
    STAKE,
    assert_money_conserved,
    credits_by_kind,
    round_pay,
    settlement,
)


def _credits(market, flow):
    return [market.credit_of(t.address) for t in flow.trainers]


def test_finalize_splits_each_round_pro_rata_with_dust_to_owner(drive, market, actors):
    # Prepare: 10 wei over three equal scores: 3 each, 1 wei of dust
    flow = drive("published", trainers=3, reward=10, scores=[1, 1, 1])

    # Execute
    result = flow.finalize(actors.outsider)

    # Assert
    assert flow.task().state is TaskState.FINISHED
    assert flow.task().held_wei == 0
    assert _credits(market, flow) == [3 + STAKE] * 3
    assert market.credit_of(actors.owner.address) == 1
    assert result.event("TaskFinalized") == {"taskId": flow.task_id, "rewardPaid": 9, "slashedStakes": 0, "dust": 1}
    expected = []
    for t in flow.trainers:
        expected += [(t.address, 3, CreditKind.REWARD), (t.address, STAKE, CreditKind.STAKE_RETURNED)]
    expected.append((actors.owner.address, 1, CreditKind.DUST))
    assert credits_by_kind(result) == expected
    assert_money_conserved(market, [flow.task_id])


def test_finalize_uneven_scores_round_down(drive, market, actors):
    # Prepare: 100 wei over points 1, 2, 4 → 14, 28, 57 (99), dust 1
    flow = drive("published", trainers=3, reward=100, scores=[1, 2, 4])

    # Execute
    flow.finalize()

    # Assert
    assert _credits(market, flow) == [14 + STAKE, 28 + STAKE, 57 + STAKE]
    assert market.credit_of(actors.owner.address) == 1


def test_finalize_without_points_withholds_the_round_from_the_owner(drive, market, actors):
    # Prepare: both trainers submitted and were accepted with score 0
    flow = drive("published", scores=[0, 0])

    # Execute
    result = flow.finalize()

    # Assert: nobody earned the round, and the owner (who could have caused it through the
    # task) does not get it back: it is withheld to the sink
    assert market.credit_of(actors.owner.address) == 0
    assert market.credit_of(SLASH_SINK) == REWARD
    assert _credits(market, flow) == [STAKE, STAKE]
    assert result.event("TaskFinalized") == {"taskId": flow.task_id, "rewardPaid": 0, "slashedStakes": 0,
                                             "dust": 0}
    assert (SLASH_SINK, REWARD, CreditKind.WITHHELD) in credits_by_kind(result)


def test_finalize_refunds_a_round_nobody_submitted_to(drive, market, actors):
    # Prepare: round 0 published with no submission at all; round 1 scored
    flow = drive("started", trainers=2, rounds=2, reward=100)
    flow.close(0)
    flow.publish(0, scores=[0, 0])
    flow.run_round(scores=[1, 3])

    # Execute
    result = flow.finalize()

    # Assert: round 0's budget back to the owner (the chain shows nobody came); round 1 paid
    assert flow.round(0).withheld == 0
    assert market.credit_of(actors.owner.address) == 50 + 1  # the refund and round 1's dust
    assert _credits(market, flow) == [12 + STAKE, 37 + STAKE]
    assert (actors.owner.address, 50, CreditKind.REFUND) in credits_by_kind(result)
    assert result.event("TaskFinalized")["dust"] == 1
    assert_money_conserved(market, [flow.task_id])


def test_finalize_large_points_over_rounds_match_integer_model(drive, market, actors):
    # Prepare: three rounds of scores close to MAX_SCORE, a reward that does not divide evenly
    reward = 10**23 + 7  # 100k ETH (a dev account holds 1M)
    per_round = [[MAX_SCORE, MAX_SCORE - 1, 1], [MAX_SCORE, 0, 3], [12345, MAX_SCORE, MAX_SCORE]]
    flow = drive("published", trainers=3, rounds=3, reward=reward, scores=per_round[0])
    for scores in per_round[1:]:
        flow.run_round(scores=scores)
    points = [sum(col) for col in zip(*per_round)]

    # Execute
    result = flow.finalize()

    # Assert
    model = settlement(reward, [(scores, []) for scores in per_round], [False] * 3, STAKE)
    assert [market.get_trainer(flow.task_id, t.address).points for t in flow.trainers] == points
    assert _credits(market, flow) == [r + STAKE for r in model["rewards"]]
    assert market.credit_of(actors.owner.address) == model["dust"]
    assert result.event("TaskFinalized")["rewardPaid"] == model["reward_paid"]
    assert [market.get_trainer(flow.task_id, t.address).earned for t in flow.trainers] == model["rewards"]
    assert sum(model["rewards"]) + model["dust"] == reward
    assert_money_conserved(market, [flow.task_id])


def test_finalize_credits_slashed_stake_to_the_sink_not_to_trainers_or_owner(drive, market, actors):
    # Prepare: trainer 3 flagged (one strike slashes), the others score 1, 2, 3
    flow = drive("published", trainers=4, reward=1000, scores=[1, 2, 3, 0], flags=[3])

    # Execute
    result = flow.finalize()

    # Assert: the others get their reward share and their stake, nothing of the slashed stake;
    # the flagged slot reserves the top score (Z = 6 + 3): its 333 are withheld to the sink
    model = settlement(1000, [([1, 2, 3, 0], [3])], [False, False, False, True], STAKE)
    expected = [model["rewards"][i] + model["stakes"][i] for i in range(4)]
    assert _credits(market, flow) == expected
    assert expected == [111 + STAKE, 222 + STAKE, 333 + STAKE, 0]
    assert market.credit_of(actors.owner.address) == model["dust"] == 1
    assert market.credit_of(actors.aggregator.address) == 0
    assert market.credit_of(SLASH_SINK) == STAKE + 333 == model["sink"]
    assert result.event("TaskFinalized") == {
        "taskId": flow.task_id, "rewardPaid": model["reward_paid"], "slashedStakes": STAKE, "dust": model["dust"],
    }
    assert result.event("StakeSlashed") == {"taskId": flow.task_id, "trainer": flow.trainers[3].address,
                                            "amount": STAKE, "strikes": 1}
    credits = credits_by_kind(result)
    assert (SLASH_SINK, STAKE, CreditKind.SLASHED) in credits
    assert (SLASH_SINK, 333, CreditKind.WITHHELD) in credits
    assert all(kind != CreditKind.SLASH_SHARE for _, _, kind in credits)
    assert [account for account, _, kind in credits if kind == CreditKind.SLASHED] == [SLASH_SINK]
    assert_money_conserved(market, [flow.task_id])


def test_finalize_slashed_events_in_order(drive, market, actors):
    # Prepare: trainer 0 scores, trainer 1 flagged (slashed)
    flow = drive("published", trainers=2, reward=10, scores=[3, 0], flags=[1])

    # Execute
    result = flow.finalize()

    # Assert: per trainer reward / stake or slash, then the sink (slashed, withheld), then the
    # owner's dust; Z = 3 + 3: 5 wei each to trainer 0 and to the sink
    assert [e["event"] for e in result.events] == [
        "PaymentCredited", "PaymentCredited", "StakeSlashed", "PaymentCredited", "PaymentCredited", "TaskFinalized"]
    first = flow.trainers[0].address
    assert credits_by_kind(result) == [
        (first, 5, CreditKind.REWARD), (first, STAKE, CreditKind.STAKE_RETURNED),
        (SLASH_SINK, STAKE, CreditKind.SLASHED), (SLASH_SINK, 5, CreditKind.WITHHELD),
    ]


def test_finalize_credits_slashed_stake_to_the_sink_when_nobody_has_points(drive, market, actors):
    # Prepare: trainer 1 flagged, trainer 0 accepted but scored 0
    flow = drive("published", scores=[0, 0], flags=[1])

    # Execute
    result = flow.finalize()

    # Assert: the owner gets nothing of the reward or the stake: both go to the sink
    assert _credits(market, flow) == [STAKE, 0]
    assert market.credit_of(actors.owner.address) == 0
    assert market.credit_of(SLASH_SINK) == STAKE + REWARD
    assert result.event("TaskFinalized") == {"taskId": flow.task_id, "rewardPaid": 0, "slashedStakes": STAKE,
                                             "dust": 0}
    assert_money_conserved(market, [flow.task_id])


def test_finalize_sink_collects_across_tasks_and_can_never_be_withdrawn(drive, market, actors):
    # Prepare / Execute: two tasks, one slashed trainer each
    drive("finalized", scores=[1, 0], flags=[1])
    drive("finalized", trainers=3, scores=[0, 1, 0], flags=[0, 2])

    # Assert: three stakes in the sink (with the withheld reserves), counted in totalCredits; the
    # binding names the sink
    assert market.slash_sink() == SLASH_SINK
    withheld = round_pay(REWARD, [1, 0], [1])[1] + round_pay(REWARD, [0, 1, 0], [0, 2])[1]
    assert market.credit_of(SLASH_SINK) == 3 * STAKE + withheld
    assert market.total_credits() == market.balance()


def test_finalize_slashed_trainer_keeps_points_of_earlier_rounds(drive, market, actors):
    # Prepare: trainer 0 scores 3 in round 0, then is flagged in round 1 (one strike slashes)
    flow = drive("published", trainers=2, rounds=2, reward=800, scores=[3, 1])
    flow.run_round(scores=[0, 4], flags=[0])

    # Execute
    flow.finalize()

    # Assert: round 0 by scores (3 : 1 of 400), round 1: trainer 1's 4 against trainer 0's
    # reserve of 4 (200 withheld); trainer 0's stake to the sink, not to trainer 1
    model = settlement(800, [([3, 1], []), ([0, 4], [0])], [True, False], STAKE)
    assert model["rewards"] == [300, 100 + 200]
    assert _credits(market, flow) == [300, 300 + STAKE]
    assert market.credit_of(SLASH_SINK) == STAKE + 200
    assert market.credit_of(actors.owner.address) == model["dust"] == 0


def test_finalize_counts_strikes_for_proven_flags_only(drive, market, actors):
    # Prepare: two strikes slash; trainer 0 flagged twice; trainer 1 flagged, then rejected;
    # trainer 2 rejected once for a missing sketch commitment
    flow = drive("published", trainers=3, rounds=3, reward=900, strikes_to_slash=2, scores=[0, 0, 2], flags=[0, 1])
    flow.run_round(scores=[1, 0, 2], rejections=[1])
    flow.submit(2)
    flow.close(2)
    flow.commit(2, flow.trainers[:2])
    flow.pass_sketch_deadline(2)
    flow.publish(2, scores=[0, 1, 0], flags=[0], rejections=[2])

    # Execute
    result = flow.finalize()

    # Assert: the rejections counted nothing; only trainer 0 reached two strikes
    standing = [market.get_trainer(flow.task_id, t.address) for t in flow.trainers]
    assert [s.strikes for s in standing] == [2, 1, 0]
    assert [s.points for s in standing] == [1, 1, 4]
    model = settlement(900, [([0, 0, 2], [0, 1]), ([1, 0, 2], [1]), ([0, 1, 0], [0, 2])],
                       [True, False, False], STAKE)
    expected = [model["rewards"][i] + model["stakes"][i] for i in range(3)]
    assert _credits(market, flow) == expected
    assert expected[1] == 100 + STAKE  # trainer 1 kept its stake: one flag, one rejection
    assert market.credit_of(SLASH_SINK) == STAKE + model["withheld"]
    assert [e["args"]["trainer"] for e in result.events if e["event"] == "StakeSlashed"] == [flow.trainers[0].address]
    assert market.credit_of(actors.owner.address) == model["dust"]
    assert_money_conserved(market, [flow.task_id])


def test_finalize_rejected_every_round_keeps_stake_and_strikes_nothing(drive, market, actors):
    # Prepare: one strike would slash; trainer 1 is rejected in both rounds
    flow = drive("published", trainers=2, rounds=2, reward=100, scores=[1, 0], rejections=[1])
    flow.run_round(scores=[1, 0], rejections=[1])

    # Execute
    result = flow.finalize()

    # Assert: no strike, no slashing, its stake back; the rejections earned it nothing, and the
    # reserve its slot held (half of each round: Z = 1 + 1) went to the sink, not to trainer 0
    info = market.get_trainer(flow.task_id, flow.trainers[1].address)
    assert (info.strikes, info.points, info.earned) == (0, 0, 0)
    assert _credits(market, flow) == [50 + STAKE, STAKE]
    assert market.credit_of(SLASH_SINK) == 50
    assert "StakeSlashed" not in [e["event"] for e in result.events]
    assert result.event("TaskFinalized")["slashedStakes"] == 0


def test_finalize_zero_stake_slash_is_an_event_without_a_credit(drive, market, actors):
    flow = drive("published", stake_wei=0, reward=10, scores=[1, 0], flags=[1])
    result = flow.finalize()
    assert result.event("StakeSlashed") == {"taskId": flow.task_id, "trainer": flow.trainers[1].address,
                                            "amount": 0, "strikes": 1}
    assert market.credit_of(SLASH_SINK) == 5  # the flagged slot's reserve only
    assert all(kind != CreditKind.SLASHED for _, _, kind in credits_by_kind(result))


def test_finalize_by_anyone_returns_stakes_with_zero_stake_task(drive, market, actors):
    flow = drive("published", stake_wei=0, reward=5, scores=[2, 3])
    flow.finalize(flow.trainers[0])
    assert _credits(market, flow) == [2, 3]
    assert market.total_credits() == 5 == market.balance()


def test_finalize_reverts_with_rounds_remaining(drive, market, actors, reverts):
    # Prepare
    flow = drive("started", rounds=2)

    # Execute / Assert: none published, then one of two
    with reverts("MarketplaceRoundsRemaining", taskId=flow.task_id, publishedRounds=0, rounds=2):
        market.finalize(actors.outsider, flow.task_id)
    flow.run_round()
    with reverts("MarketplaceRoundsRemaining", taskId=flow.task_id, publishedRounds=1, rounds=2):
        market.finalize(actors.owner, flow.task_id)


def test_finalize_reverts_before_start(drive, market, actors, reverts):
    flow = drive("joined")
    with reverts("MarketplaceWrongState", taskId=flow.task_id, state=TaskState.OPEN, required=TaskState.TRAINING):
        market.finalize(actors.owner, flow.task_id)


def test_finalize_reverts_when_finalized_twice(drive, market, actors, reverts):
    # Prepare
    flow = drive("finalized")
    credits = market.total_credits()

    # Execute / Assert
    with reverts("MarketplaceWrongState", state=TaskState.FINISHED, required=TaskState.TRAINING):
        market.finalize(actors.outsider, flow.task_id)
    assert market.total_credits() == credits


def test_finalize_reverts_on_cancelled_and_unknown_task(make_task, market, actors, reverts):
    flow = make_task()
    flow.cancel()
    with reverts("MarketplaceWrongState", state=TaskState.CANCELLED):
        market.finalize(actors.owner, flow.task_id)
    with reverts("MarketplaceUnknownTask", taskId=flow.task_id + 1):
        market.finalize(actors.owner, flow.task_id + 1)

"""Marketplace._settleRound: each round pays its own budget at publication; rejected and flagged
slots reserve the round's top score for the sink, so nobody gains from them."""

from __future__ import annotations

import pytest

from market.types import SLASH_SINK, CreditKind
from tests.contracts.conftest import (
    STAKE,
    assert_money_conserved,
    credits_by_kind,
    round_budget,
    round_pay,
    settlement,
)


def test_round_settled_event_and_earned_per_round(drive, market):
    # Prepare / Execute: round 0 of 2, scores 1 and 3, trainer 2 rejected
    flow = drive("published", trainers=3, rounds=2, reward=1001, scores=[1, 3, 0], rejections=[2])

    # Assert: budget 500 (1001·1//2); Z = 4 + 1·3; pays 71 and 214, reserve 214
    budget = round_budget(1001, 0, 2)
    pays, withheld, refunded = round_pay(budget, [1, 3, 0], [2])
    assert (budget, pays, withheld, refunded) == (500, [71, 214, 0], 214, 0)
    result = flow.results[-1]
    assert result.event("RoundSettled") == {"taskId": flow.task_id, "round": 0, "budget": 500, "paid": 285,
                                            "withheld": 214, "refunded": 0}
    assert [market.get_trainer(flow.task_id, t.address).earned for t in flow.trainers] == pays
    assert flow.round(0).withheld == 214
    assert flow.round(0).published_at > 0


@pytest.mark.parametrize("scores,withheld_slots", [
    ([5, 3, 0, 0], [2]), ([5, 3, 0, 0], [2, 3]), ([1, 1, 0, 0], [3]), ([7, 0, 0, 0], [1, 2, 3]),
])
def test_a_rejection_never_raises_another_pay(drive, market, scores, withheld_slots):
    # Prepare / Execute: the slots in withheld_slots rejected
    reward = 10**18 + 3
    flow = drive("published", trainers=4, reward=reward, scores=scores, rejections=withheld_slots)
    earned = [market.get_trainer(flow.task_id, t.address).earned for t in flow.trainers]

    # Assert: each accepted trainer earns at most what it would have, had any rejected slot been
    # accepted with any score up to the round's top instead
    top = max(scores)
    for j in withheld_slots:
        for s_j in (0, 1, top):
            counter = list(scores)
            counter[j] = s_j
            others = [x for x in withheld_slots if x != j]
            pays, _, _ = round_pay(reward, counter, others)
            for i, pay in enumerate(earned):
                if i not in withheld_slots:
                    assert pay <= pays[i], f"slot {i} gained from rejecting slot {j} (counterfactual {s_j})"


def test_aggregator_sybil_gains_nothing_from_rejecting_everyone_else(drive, market, actors):
    # Prepare: the aggregator's second address is trainer 3; it rejects the three honest trainers
    # and gives its sybil the only score (the critical attack of issue 11)
    flow = drive("published", trainers=4, reward=1200, scores=[0, 0, 0, 10**20], rejections=[0, 1, 2])

    # Execute
    result = flow.finalize()

    # Assert: the sybil earns an equal slot's share at most (Z = s + 3·s): a quarter, no more
    # than if all four had scored the same; the rest goes to the sink, not the owner
    sybil = flow.trainers[3].address
    assert market.get_trainer(flow.task_id, sybil).earned == 300
    assert market.credit_of(sybil) == 300 + STAKE
    assert market.credit_of(SLASH_SINK) == 900
    assert market.credit_of(actors.owner.address) == 0
    assert (SLASH_SINK, 900, CreditKind.WITHHELD) in credits_by_kind(result)
    assert [market.credit_of(t.address) for t in flow.trainers[:3]] == [STAKE] * 3  # stakes kept: no strikes
    assert_money_conserved(market, [flow.task_id])


def test_budgets_over_rounds_sum_to_the_reward(drive, market, actors):
    # Prepare / Execute: 3 rounds of a reward that does not divide by 3
    reward = 10**18 + 2
    flow = drive("published", trainers=2, rounds=3, reward=reward, scores=[2, 1])
    flow.run_round(scores=[0, 1], flags=[0])
    flow.run_round(scores=[1, 1])
    flow.finalize()

    # Assert: the model of every round matches the chain, and everything is accounted for
    model = settlement(reward, [([2, 1], []), ([0, 1], [0]), ([1, 1], [])], [True, False], STAKE)
    assert sum(round_budget(reward, r, 3) for r in range(3)) == reward
    assert [market.credit_of(t.address) for t in flow.trainers] == [
        model["rewards"][0], model["rewards"][1] + STAKE]
    assert market.credit_of(SLASH_SINK) == model["sink"]
    assert market.credit_of(actors.owner.address) == model["dust"]
    assert model["reward_paid"] + model["withheld"] + model["dust"] == reward
    assert_money_conserved(market, [flow.task_id])


def test_colluding_majority_gains_nothing_from_getting_the_honest_flagged(drive, market, actors):
    # Prepare: the median rule run for real on 5 sketches: 3 colluders send one agreed vector plus
    # a little noise, 2 honest trainers their own (issue 11's colluding-majority attack)
    import random

    from zk.protocol.rule import provable_round

    rng = random.Random(7)
    agreed = [rng.randint(-1000, 1000) for _ in range(8)]
    sketches = [[v + rng.randint(-5, 5) for v in agreed] for _ in range(3)]
    sketches += [[rng.randint(-1000, 1000) for _ in range(8)] for _ in range(2)]
    result = provable_round(sketches, tau_num=4, tau_den=1)
    assert result.flags == (False, False, False, True, True)  # the attack works on the rule
    scores = list(result.scores)
    flow = drive("published", trainers=5, max_trainers=5, reward=10**18, scores=scores, flags=[3, 4])

    # Execute
    flow.finalize()

    # Assert: the colluders earn no more than 3 equal shares of 5, and no more than if the honest
    # had been accepted with any score up to the round's top; the honest stakes and reserves go
    # to the sink, none to the colluders or the owner
    earned = [market.get_trainer(flow.task_id, t.address).earned for t in flow.trainers]
    assert sum(earned[:3]) <= 3 * 10**18 // 5
    top = max(scores)
    counterfactual, _, _ = round_pay(10**18, scores[:3] + [top, top], [])
    assert all(earned[i] <= counterfactual[i] for i in range(3))
    assert earned[3:] == [0, 0]
    assert market.credit_of(SLASH_SINK) == 2 * STAKE + flow.round(0).withheld
    assert market.credit_of(actors.owner.address) < 10  # dust only


def test_a_missed_round_is_a_strike_and_squatting_loses_the_stake(drive, market, actors):
    # Prepare: a squatter (slot 2) joins and never submits; the others submit both rounds
    # (review finding 7: it kept its stake while stalling every round to its deadline)
    flow = drive("started", trainers=3, rounds=2, strikes_to_slash=2)
    working = flow.trainers[:2]
    squatter = flow.trainers[2]
    for round_ in range(2):
        flow.submit(round_, working)
        flow.close(round_)
        flow.commit(round_)
        flow.publish(round_, scores=[1, 1, 0])
        assert market.get_trainer(flow.task_id, squatter.address).strikes == round_ + 1

    # Execute
    result = flow.finalize()

    # Assert: the squatter's stake went to the sink; the working trainers got theirs back, no strike
    assert [market.get_trainer(flow.task_id, t.address).strikes for t in working] == [0, 0]
    slashed = [e["args"] for e in result.events if e["event"] == "StakeSlashed"]
    assert [(e["trainer"], e["strikes"]) for e in slashed] == [(squatter.address, 2)]
    credits = credits_by_kind(result)
    assert (SLASH_SINK, STAKE, CreditKind.SLASHED) in credits
    assert (squatter.address, STAKE, CreditKind.STAKE_RETURNED) not in credits
    assert_money_conserved(market, [flow.task_id])


def test_a_round_nobody_submitted_to_strikes_nobody(drive, market):
    # Prepare: nobody could submit (or nobody did): the chain cannot tell who was absent
    flow = drive("started", trainers=2, rounds=1)
    flow.close(0)

    # Execute
    flow.publish(0, scores=[0, 0])

    # Assert
    assert [market.get_trainer(flow.task_id, t.address).strikes for t in flow.trainers] == [0, 0]

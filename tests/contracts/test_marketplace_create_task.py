"""Marketplace.createTask: validation, escrow, the task record."""

from __future__ import annotations

import pytest

from market.types import TaskState
from tests.contracts.conftest import (
    FIELD,
    MAX_CID_LENGTH,
    MAX_ROUNDS,
    MAX_SCORE,
    MAX_TRAINERS,
    REWARD,
    ZERO_ADDRESS,
    event_names,
)


def test_create_task_limits_match_contract_constants(market):
    functions = market.contract.functions
    assert functions.SNARK_SCALAR_FIELD().call() == FIELD
    assert functions.MAX_TRAINERS().call() == MAX_TRAINERS
    assert functions.MAX_ROUNDS().call() == MAX_ROUNDS
    assert functions.MAX_CID_LENGTH().call() == MAX_CID_LENGTH
    assert functions.MAX_SCORE().call() == MAX_SCORE


def test_create_task_escrows_reward_and_records_config(market, actors, task_config):
    # Prepare
    config = task_config(rounds=3, min_trainers=2, max_trainers=5, strikes_to_slash=2)
    balance_before = market.balance()

    # Execute
    task_id, result = market.create_task(actors.owner, config, REWARD)

    # Assert
    task = market.get_task(task_id)
    assert task_id == 1 and market.task_count() == 1
    assert task.config == config
    assert task.owner == actors.owner.address
    assert task.reward_wei == REWARD and task.held_wei == REWARD
    assert task.state is TaskState.OPEN
    assert (task.current_round, task.published_rounds, task.trainer_count) == (0, 0, 0)
    assert task.trusted_aggregator is True
    assert market.balance() == balance_before + REWARD
    assert event_names(result) == ["TaskCreated"]
    assert result.event("TaskCreated") == {
        "taskId": 1, "owner": actors.owner.address, "aggregator": actors.aggregator.address, "reward": REWARD,
        "specCid": config.spec_cid, "verifier": ZERO_ADDRESS,
    }


def test_create_task_ids_count_up_from_one(market, actors, task_config):
    # Execute
    ids = [market.create_task(actors.owner, task_config(), 1)[0] for _ in range(3)]

    # Assert
    assert ids == [1, 2, 3]
    assert market.task_count() == 3


def test_create_task_with_verifier_is_not_trusted_aggregator(market, actors, task_config, hash_verifier):
    # Execute
    task_id, result = market.create_task(actors.owner, task_config(verifier=hash_verifier), REWARD)

    # Assert
    task = market.get_task(task_id)
    assert task.trusted_aggregator is False
    assert task.config.verifier == hash_verifier
    assert result.event("TaskCreated")["verifier"] == hash_verifier


def test_create_task_accepts_the_limits(market, actors, task_config):
    # Prepare: the largest rounds, trainers and CID the contract allows
    config = task_config(rounds=MAX_ROUNDS, min_trainers=MAX_TRAINERS, max_trainers=MAX_TRAINERS,
                         spec_cid="b" * MAX_CID_LENGTH)

    # Execute
    task_id, _ = market.create_task(actors.owner, config, 1)

    # Assert
    assert market.get_task(task_id).config == config


def test_create_task_reverts_on_zero_reward(market, actors, task_config, reverts):
    with reverts("MarketplaceZeroReward"):
        market.create_task(actors.owner, task_config(), 0)
    assert market.task_count() == 0


def test_create_task_reverts_on_zero_aggregator(market, actors, task_config, reverts):
    with reverts("MarketplaceInvalidAggregator", aggregator=ZERO_ADDRESS):
        market.create_task(actors.owner, task_config(aggregator=ZERO_ADDRESS), REWARD)


@pytest.mark.parametrize("rounds", [0, MAX_ROUNDS + 1, 65535])
def test_create_task_reverts_on_invalid_rounds(market, actors, task_config, reverts, rounds):
    with reverts("MarketplaceInvalidRounds", rounds=rounds, maxRounds=MAX_ROUNDS):
        market.create_task(actors.owner, task_config(rounds=rounds), REWARD)


@pytest.mark.parametrize(
    ("min_trainers", "max_trainers"),
    [(0, 4), (5, 4), (1, MAX_TRAINERS + 1), (MAX_TRAINERS + 1, MAX_TRAINERS + 1)],
    ids=["min-zero", "min-above-max", "max-above-limit", "both-above-limit"],
)
def test_create_task_reverts_on_invalid_trainer_bounds(market, actors, task_config, reverts, min_trainers,
                                                        max_trainers):
    with reverts("MarketplaceInvalidTrainerBounds", minTrainers=min_trainers, maxTrainers=max_trainers,
                 limit=MAX_TRAINERS):
        market.create_task(actors.owner, task_config(min_trainers=min_trainers, max_trainers=max_trainers), REWARD)


@pytest.mark.parametrize("offset", [-1000, -1, 0], ids=["long-past", "just-past", "latest-block"])
def test_create_task_reverts_on_join_deadline_not_in_future(market, actors, task_config, chain, reverts, offset):
    # Prepare: the next block is at least one second after the latest one
    deadline = chain.timestamp() + offset

    # Execute / Assert
    with reverts("MarketplaceInvalidJoinDeadline", joinDeadline=deadline) as info:
        market.create_task(actors.owner, task_config(join_deadline=deadline), REWARD)
    assert info.value.args_by_name["nowTimestamp"] >= deadline


@pytest.mark.parametrize(
    "windows", [(0, 50, 100), (100, 0, 100), (100, 50, 0), (0, 0, 0)],
    ids=["submission", "sketch", "grace", "all"],
)
def test_create_task_reverts_on_zero_window(market, actors, task_config, reverts, windows):
    submission, sketch, grace = windows
    with reverts("MarketplaceInvalidWindows", submissionWindow=submission, sketchWindow=sketch, publishGrace=grace):
        market.create_task(
            actors.owner, task_config(submission_window=submission, sketch_window=sketch, publish_grace=grace), REWARD,
        )


@pytest.mark.parametrize("length", [0, MAX_CID_LENGTH + 1, 1000])
def test_create_task_reverts_on_invalid_spec_cid(market, actors, task_config, reverts, length):
    with reverts("MarketplaceInvalidCid", length=length, maxLength=MAX_CID_LENGTH):
        market.create_task(actors.owner, task_config(spec_cid="b" * length), REWARD)


def test_create_task_reverts_when_verifier_is_an_eoa(market, actors, task_config, reverts):
    with reverts("MarketplaceInvalidVerifier", verifier=actors.outsider.address):
        market.create_task(actors.owner, task_config(verifier=actors.outsider.address), REWARD)


def test_create_task_reverts_on_zero_strike_limit(market, actors, task_config, reverts):
    with reverts("MarketplaceInvalidStrikeLimit", strikesToSlash=0):
        market.create_task(actors.owner, task_config(strikes_to_slash=0), REWARD)


def test_create_task_revert_keeps_no_ether(market, actors, task_config, reverts):
    # Prepare
    balance_before = market.balance()

    # Execute
    with reverts("MarketplaceInvalidStrikeLimit"):
        market.create_task(actors.owner, task_config(strikes_to_slash=0), REWARD)

    # Assert
    assert market.balance() == balance_before
    assert market.task_count() == 0


def test_get_task_reverts_on_unknown_task(market, reverts):
    with reverts("MarketplaceUnknownTask", taskId=0):
        market.get_task(0)
    with reverts("MarketplaceUnknownTask", taskId=1):
        market.get_task(1)

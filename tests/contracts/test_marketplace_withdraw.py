"""Marketplace.withdraw: pull payments, failed transfers, reentrancy."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from market.chain import RpcChain
from market.marketplace import Marketplace, deploy_contract
from market.types import TaskConfig
from tests.contracts.conftest import AGGREGATOR_KEY, REWARD, STAKE, Harness, actors_of, event_names

REENTRANCY_GUARD_SELECTOR = "0x" + keccak(text="ReentrancyGuardReentrantCall()")[:4].hex()


def _cancelled_with(flow, trainers):
    flow.join(trainers)
    flow.cancel()
    return flow


def test_withdraw_pays_credit_once(make_task, market, actors):
    # Prepare
    flow = _cancelled_with(make_task(), actors.trainers[:1])
    trainer = actors.trainers[0]
    balance_before = market.web3.eth.get_balance(trainer.address)
    contract_before = market.balance()

    # Execute
    result = market.withdraw(trainer)

    # Assert
    fee = result.gas_used * market.web3.eth.get_transaction_receipt(result.tx_hash)["effectiveGasPrice"]
    assert market.web3.eth.get_balance(trainer.address) == balance_before + STAKE - fee
    assert market.credit_of(trainer.address) == 0
    assert market.balance() == contract_before - STAKE
    assert market.total_credits() == REWARD
    assert event_names(result) == ["Withdrawn"]
    assert result.event("Withdrawn") == {"account": trainer.address, "amount": STAKE}


def test_withdraw_collects_credits_of_several_tasks(make_task, market, actors):
    # Prepare
    make_task(reward=3).cancel()
    make_task(reward=4).cancel()

    # Execute
    result = market.withdraw(actors.owner)

    # Assert
    assert result.event("Withdrawn")["amount"] == 7
    assert market.balance() == 0 and market.total_credits() == 0


def test_withdraw_reverts_with_nothing_to_withdraw(market, actors, reverts):
    with reverts("MarketplaceNothingToWithdraw", account=actors.outsider.address):
        market.withdraw(actors.outsider)


def test_withdraw_reverts_when_withdrawing_twice(make_task, market, actors, reverts):
    # Prepare
    make_task().cancel()
    market.withdraw(actors.owner)

    # Execute / Assert
    with reverts("MarketplaceNothingToWithdraw", account=actors.owner.address):
        market.withdraw(actors.owner)


def test_withdraw_reverts_when_transfer_refused_and_keeps_credit(make_task, market, actors, reentrant_trainer,
                                                                  reverts):
    # Prepare: a contract trainer joins, the task is cancelled, the trainer refuses ether
    flow = make_task()
    reentrant_trainer.transact(actors.outsider, "joinTask", flow.task_id, value=STAKE)
    flow.cancel()
    reentrant_trainer.transact(actors.outsider, "configure", True, False)
    contract_before = market.balance()

    # Execute / Assert
    with reverts("MarketplaceTransferFailed", account=reentrant_trainer.address, amount=STAKE):
        reentrant_trainer.transact(actors.outsider, "withdrawFromMarket")
    assert market.credit_of(reentrant_trainer.address) == STAKE
    assert market.total_credits() == REWARD + STAKE
    assert market.balance() == contract_before
    assert reentrant_trainer.balance() == 0

    # and once it accepts ether, the kept credit is paid
    reentrant_trainer.transact(actors.outsider, "configure", False, False)
    reentrant_trainer.transact(actors.outsider, "withdrawFromMarket")
    assert reentrant_trainer.balance() == STAKE


def test_withdraw_blocks_reentry_and_pays_exactly_once(make_task, market, actors, reentrant_trainer):
    # Prepare: a second credit sits in the contract, so a working re-entry would have ether to take
    flow = make_task()
    reentrant_trainer.transact(actors.outsider, "joinTask", flow.task_id, value=STAKE)
    flow.cancel()
    reentrant_trainer.transact(actors.outsider, "configure", False, True)
    contract_before = market.balance()

    # Execute
    result = reentrant_trainer.transact(actors.outsider, "withdrawFromMarket")

    # Assert
    assert reentrant_trainer.call("reentryReverted") is True
    assert reentrant_trainer.balance() == STAKE
    assert market.balance() == contract_before - STAKE
    assert market.credit_of(reentrant_trainer.address) == 0
    assert market.credit_of(actors.owner.address) == REWARD
    assert [e["event"] for e in result.events] == ["Withdrawn"]


@pytest.mark.anvil
def test_withdraw_reentry_reverts_with_reentrancy_guard_error(anvil_chain: RpcChain, gas_report):
    """On anvil the call trace shows why the re-entered withdraw failed: the guard's own error
    (ReentrancyGuardReentrantCall), not merely the credit already being zero."""
    # Prepare
    actors = actors_of(anvil_chain)
    market = Marketplace.deploy(anvil_chain, actors.owner, gas_report=gas_report)
    deployed = deploy_contract(anvil_chain, "ReentrantTrainer", actors.outsider, market.address)
    trainer = Harness(market, "ReentrantTrainer", deployed.contract_address)
    market.register_aggregator_key(actors.aggregator, AGGREGATOR_KEY)
    config = TaskConfig(spec_cid="bafy-spec", aggregator=actors.aggregator.address, aggregator_key=AGGREGATOR_KEY,
                        join_deadline=anvil_chain.timestamp() + 1000, stake_wei=STAKE)
    task_id, _ = market.create_task(actors.owner, config, REWARD)
    trainer.transact(actors.outsider, "joinTask", task_id, value=STAKE)
    market.cancel(actors.owner, task_id)
    trainer.transact(actors.outsider, "configure", False, True)

    # Execute
    result = trainer.transact(actors.outsider, "withdrawFromMarket")

    # Assert
    trace = anvil_chain.web3.provider.make_request(
        "debug_traceTransaction", [result.tx_hash, {"tracer": "callTracer"}])["result"]
    calls = _flatten(trace)
    reentry = [c for c in calls if c.get("to", "").lower() == market.address.lower() and c.get("error")
               and c is not trace]
    assert reentry, f"no failed re-entry in the trace: {trace}"
    assert reentry[0]["output"].lower() == REENTRANCY_GUARD_SELECTOR
    assert trainer.call("reentryReverted") is True
    assert trainer.balance() == STAKE


def _flatten(call: dict) -> list[dict]:
    out = [call]
    for sub in call.get("calls", []) or []:
        out += _flatten(sub)
    return out

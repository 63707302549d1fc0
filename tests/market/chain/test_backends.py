"""Conformance suite of :class:`market.chain.base.ChainBackend`, run on every backend.

The same tests run on the embedded chain (eth-tester/py-evm), anvil and ganache 7 (each node
started by the session fixtures on a free 127.0.0.1 port). Beyond the clock and the accounts,
each backend deploys the Marketplace and runs one whole task; the gas of every call must be the
same on all three, so a gas report taken on one holds for the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from eth_account.signers.local import LocalAccount

from market.chain import ChainBackend, dev_accounts
from market.chain.nodes import ANVIL_CHAIN_ID, GANACHE_CHAIN_ID
from market.exceptions import ContractRevert
from market.marketplace import Marketplace
from market.types import RoundPublication, TaskConfig, TaskState

BACKENDS = ["embedded", "anvil", "ganache"]
EMBEDDED_CHAIN_ID = 131277322940537  # eth-tester's default
CHAIN_IDS = {"embedded": EMBEDDED_CHAIN_ID, "anvil": ANVIL_CHAIN_ID, "ganache": GANACHE_CHAIN_ID}
REWARD = 1000
STAKE = 10**15


@pytest.fixture(params=BACKENDS)
def backend(request) -> tuple[str, ChainBackend]:
    """(name, chain) for each backend."""
    return request.param, request.getfixturevalue(f"{request.param}_chain")


# --- the clock, the accounts, the chain id -----------------------------------------------
def test_backend_chain_id(backend):
    name, chain = backend
    assert chain.chain_id == CHAIN_IDS[name]
    assert chain.chain_id == int(chain.web3.eth.chain_id)
    assert str(CHAIN_IDS[name]) in chain.describe()


def test_backend_dev_accounts_are_the_mnemonic_accounts_and_funded(backend):
    # Prepare
    _, chain = backend
    expected = [a.address for a in dev_accounts()]

    # Execute
    accounts = chain.dev_accounts()

    # Assert
    assert [a.address for a in accounts] == expected
    assert len(accounts) == 10
    for account in accounts:
        assert chain.web3.eth.get_balance(account.address) >= 1_000 * 10**18


@pytest.mark.parametrize("seconds", [1, 3600])
def test_backend_increase_time_moves_the_clock_and_mines(backend, seconds):
    # Prepare: a fresh block first, so "before" is now and not when the shared node last mined
    # (anvil stamps the next block with the wall clock plus the offset: an idle gap would count)
    _, chain = backend
    chain.increase_time(0)
    before, block = chain.timestamp(), chain.block_number()

    # Execute
    chain.increase_time(seconds)

    # Assert: the latest block is `seconds` later (plus at most the wall time the call took)
    after = chain.timestamp()
    assert before + seconds <= after < before + seconds + 60
    assert chain.block_number() == block + 1
    assert chain.web3.eth.get_block("latest")["timestamp"] == after


def test_backend_transaction_mines_a_block(backend, gas_report):
    # Prepare
    _, chain = backend
    block = chain.block_number()

    # Execute
    market = Marketplace.deploy(chain, chain.dev_accounts()[0], gas_report=gas_report)

    # Assert
    assert chain.block_number() > block
    assert market.task_count() == 0
    assert len(chain.web3.eth.get_code(market.address)) > 0


# --- custom errors -----------------------------------------------------------------------
def test_backend_decodes_custom_error_of_a_transaction(backend, gas_report):
    # Prepare
    _, chain = backend
    owner, aggregator, trainer = chain.dev_accounts()[:3]
    market = Marketplace.deploy(chain, owner, gas_report=gas_report)
    market.register_aggregator_key(aggregator, b"\x07" * 32)
    task_id, _ = market.create_task(owner, _config(chain, aggregator), REWARD)
    block = chain.block_number()

    # Execute
    with pytest.raises(ContractRevert) as info:
        market.join(trainer, task_id, STAKE - 1)

    # Assert
    assert info.value.name == "MarketplaceWrongStake"
    assert info.value.args_by_name == {"taskId": task_id, "sent": STAKE - 1, "required": STAKE}
    assert str(STAKE) in str(info.value)
    assert chain.block_number() == block


def test_backend_decodes_custom_error_of_a_view(backend, gas_report):
    # Prepare
    _, chain = backend
    market = Marketplace.deploy(chain, chain.dev_accounts()[0], gas_report=gas_report)

    # Execute
    with pytest.raises(ContractRevert) as info:
        market.get_task(999)

    # Assert
    assert info.value.name == "MarketplaceUnknownTask"
    assert info.value.args_by_name == {"taskId": 999}


# --- one whole task ----------------------------------------------------------------------
@dataclass
class TaskRun:
    """What one whole task did on one backend."""

    gas: list[tuple[str, int]] = field(default_factory=list)
    state: TaskState | None = None
    credits_after: list[int] = field(default_factory=list)
    received: list[int] = field(default_factory=list)
    contract_balance_after: int = -1
    withdrawn: list[int] = field(default_factory=list)


_RUNS: dict[str, TaskRun] = {}


def _config(chain: ChainBackend, aggregator: LocalAccount) -> TaskConfig:
    return TaskConfig(
        spec_cid="bafy-backend-spec", aggregator=aggregator.address, join_deadline=chain.timestamp() + 600,
        aggregator_key=b"\x07" * 32, stake_wei=STAKE, submission_window=300, sketch_window=300, publish_grace=300,
        rounds=1, min_trainers=2, max_trainers=2, strikes_to_slash=1,
    )


def _run_whole_task(name: str, chain: ChainBackend, gas_report) -> TaskRun:
    """Deploy, create, 2 joins, start, 1 round (submit, close, commit, publish), finalize,
    withdraw — once per backend per session."""
    if name in _RUNS:
        return _RUNS[name]
    run = TaskRun()
    owner, aggregator, first, second = chain.dev_accounts()[:4]
    trainers = [first, second]

    market = Marketplace.deploy(chain, owner, gas_report=gas_report)
    run.gas.append(("registerAggregatorKey", market.register_aggregator_key(aggregator, b"\x07" * 32).gas_used))
    task_id, result = market.create_task(owner, _config(chain, aggregator), REWARD)
    run.gas.append(("createTask", result.gas_used))
    for t in trainers:
        run.gas.append(("join", market.join(t, task_id).gas_used))
    run.gas.append(("start", market.start(owner, task_id).gas_used))
    for i, t in enumerate(trainers):
        result = market.submit_update(t, task_id, 0, f"bafy-u{i}", bytes([i + 1]) * 32)
        run.gas.append(("submitUpdate", result.gas_used))
    run.gas.append(("closeSubmissions", market.close_submissions(aggregator, task_id, 0).gas_used))
    for i, t in enumerate(trainers):
        run.gas.append(("commitSketch", market.commit_sketch(t, task_id, 0, 1000 + i).gas_used))
    publication = RoundPublication(global_model_cid="bafy-global", flags=[False, False], rejections=[False, False],
                                   scores=[1, 3], aggregate_commitment=5, transcript_cid="bafy-transcript")
    run.gas.append(("publishRound", market.publish_round(aggregator, task_id, 0, publication).gas_used))
    run.gas.append(("finalize", market.finalize(owner, task_id).gas_used))
    run.state = market.get_task(task_id).state
    run.credits_after = [market.credit_of(t.address) for t in trainers]
    for t in trainers:
        before = chain.web3.eth.get_balance(t.address)
        result = market.withdraw(t)
        receipt = chain.web3.eth.get_transaction_receipt(result.tx_hash)
        fee = result.gas_used * receipt["effectiveGasPrice"]
        run.received.append(chain.web3.eth.get_balance(t.address) - before + fee)
        run.withdrawn.append(result.event("Withdrawn")["amount"])
        run.gas.append(("withdraw", result.gas_used))
    run.contract_balance_after = market.balance()
    _RUNS[name] = run
    return run


def test_backend_runs_a_whole_task(backend, gas_report):
    # Prepare / Execute
    name, chain = backend
    run = _run_whole_task(name, chain, gas_report)

    # Assert: points 1 and 3 split 1000 wei as 250 / 750; stakes back; everything withdrawn
    assert run.state is TaskState.FINISHED
    assert run.credits_after == [250 + STAKE, 750 + STAKE]
    assert run.withdrawn == run.credits_after
    assert run.received == run.credits_after
    assert run.contract_balance_after == 0
    assert [fn for fn, _ in run.gas] == [
        "registerAggregatorKey", "createTask", "join", "join", "start", "submitUpdate", "submitUpdate", "closeSubmissions",
        "commitSketch", "commitSketch", "publishRound", "finalize", "withdraw", "withdraw",
    ]
    assert all(gas > 21_000 for _, gas in run.gas)


def test_backend_gas_used_identical_on_every_backend(request, gas_report):
    # Prepare / Execute
    runs = {name: _run_whole_task(name, request.getfixturevalue(f"{name}_chain"), gas_report) for name in BACKENDS}

    # Assert
    reference = runs["embedded"].gas
    for name in BACKENDS[1:]:
        diffs = [(fn, a, b) for (fn, a), (_, b) in zip(reference, runs[name].gas) if a != b]
        assert not diffs, f"gas differs between embedded and {name} (function, embedded, {name}): {diffs}"

"""The money path of a task, from a script, through the ``market`` library (``scripts/post_task.py``).

An owner posts a task. On the embedded chain there is nobody else, so the development accounts
also play the trainers and the aggregator and take the task from post to withdraw in one
process, in trusted-aggregator mode with made-up update CIDs and scores: the money path, no
machine learning. On an RPC chain it only posts and prints the task id.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from eth_account import Account
from rich.console import Console
from rich.table import Table

from market.chain import EmbeddedChain, RpcChain
from market.config import MarketConfig
from market.deployments import Deployments
from market.gas import GasReport
from market.marketplace import Marketplace
from market.types import RoundPublication, TaskConfig
from market.units import ether, parse_amount

__all__ = ["DEFAULT_SPEC_CID", "post_task", "run_through"]

MONEY_PATH_KEY = b"\x42" * 32
"""The X25519 key the embedded run's aggregator registers (the money path opens no update)."""
DEFAULT_SPEC_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"

console = Console()


def run_through(chain, market: Marketplace, task_id: int, owner, aggregator, trainers) -> None:
    """Play trainers and aggregator: every round submit, close, commit, publish; then settle."""
    task = market.get_task(task_id)
    for rnd in range(task.config.rounds):
        for i, t in enumerate(trainers):
            digest = hashlib.sha3_256(f"{task_id}/{rnd}/{t.address}".encode()).digest()
            market.submit_update(t, task_id, rnd, f"bafy-update-{rnd}-{i}", digest)
        market.close_submissions(aggregator, task_id, rnd)
        for i, t in enumerate(trainers):
            market.commit_sketch(t, task_id, rnd, 1000 + i)
        n = len(trainers)
        flags = [i == n - 1 for i in range(n)]  # the last trainer plays an outlier every round
        scores = [0 if flags[i] else 10 * (i + 1) for i in range(n)]
        market.publish_round(aggregator, task_id, rnd, RoundPublication(f"bafy-model-{rnd}", flags, [False] * n, scores))
        console.print(f"round {rnd}: published, scores {scores}")
    market.finalize(owner, task_id)
    table = Table(title=f"task {task_id} settled")
    for col in ("account", "role", "credited", "strikes", "points"):
        table.add_column(col)
    for who, role in [(owner, "owner")] + [(t, f"trainer {i}") for i, t in enumerate(trainers)]:
        info = market.get_trainer(task_id, who.address)
        table.add_row(who.address, role, ether(market.credit_of(who.address)), str(info.strikes), str(info.points))
    console.print(table)
    for who in [owner, *trainers]:
        if market.credit_of(who.address):
            market.withdraw(who)
    console.print(f"after withdrawals the contract holds {market.balance()} wei")


def post_task(*, rpc_url: str = "embedded", owner_key_file: Path | None = None, aggregator: str | None = None,
              spec_cid: str = DEFAULT_SPEC_CID, reward: str = "1ether", stake: str = "0.1ether", rounds: int = 3,
              trainers: int = 4) -> int:
    """Post a task (on an RPC chain: from the owner key in ``owner_key_file`` for ``aggregator``,
    on the Marketplace of the deployments file); on the embedded chain run it to the end and
    print the gas report. Returns the task id."""
    gas = GasReport()
    embedded = rpc_url == "embedded"
    if embedded:
        chain = EmbeddedChain()
        dev = chain.dev_accounts()
        owner, agg, trainer_accounts = dev[0], dev[1], dev[2 : 2 + trainers]
        market = Marketplace.deploy(chain, owner, gas_report=gas)
    else:
        if owner_key_file is None or aggregator is None:
            raise ValueError("on an RPC chain give the owner key file and the aggregator address")
        chain = RpcChain(rpc_url)
        owner = Account.from_key(owner_key_file.read_text().strip())
        agg, trainer_accounts = None, []
        market = Marketplace(chain, Deployments(MarketConfig().deployments_file).address(chain.chain_id), gas_report=gas)
    if embedded:
        market.register_aggregator_key(agg, MONEY_PATH_KEY)
    config = TaskConfig(
        spec_cid=spec_cid, aggregator=aggregator or agg.address, join_deadline=chain.timestamp() + 3600,
        aggregator_key=MONEY_PATH_KEY if embedded else market.aggregator_key_of(aggregator),
        stake_wei=parse_amount(stake), rounds=rounds, min_trainers=min(2, trainers), max_trainers=max(trainers, 2),
    )
    task_id, result = market.create_task(owner, config, parse_amount(reward))
    console.print(f"task {task_id} posted on {chain.describe()} (gas {result.gas_used:,}), reward {reward}")
    if embedded:
        for t in trainer_accounts:
            market.join(t, task_id)
        market.start(owner, task_id)
        run_through(chain, market, task_id, owner, agg, trainer_accounts)
        console.print(gas.to_markdown())
    return task_id

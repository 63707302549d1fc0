#!/usr/bin/env python3
"""An owner posts a task from a script, through the `market` library.

    python scripts/post_task.py                       # embedded chain: post, then run the task to the end
    python scripts/post_task.py --rpc-url http://127.0.0.1:8545 --owner-key-file KEY --aggregator 0x…

On the embedded chain (the default) there is nobody else, so the script also plays the trainers
and the aggregator with the development accounts and takes the task from post to withdraw in
one process, in trusted-aggregator mode with made-up update CIDs and scores: the money path,
no machine learning. On an RPC chain it only posts and prints the task id.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eth_account import Account  # noqa: E402

from market.chain import EmbeddedChain, RpcChain  # noqa: E402
from market.config import MarketConfig  # noqa: E402
from market.deployments import Deployments  # noqa: E402
from market.gas import GasReport  # noqa: E402
from market.marketplace import Marketplace  # noqa: E402
from market.reverts import ether  # noqa: E402
from market.types import RoundPublication, TaskConfig  # noqa: E402
from market.units import parse_amount  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rpc-url", default="embedded", help="JSON-RPC URL, or 'embedded' (default).")
    parser.add_argument("--owner-key-file", type=Path, help="File with the owner's private key (RPC chains).")
    parser.add_argument("--aggregator", help="Aggregator address (default: a development account).")
    parser.add_argument("--spec-cid", default="bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
    parser.add_argument("--reward", default="1ether")
    parser.add_argument("--stake", default="0.1ether")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trainers", type=int, default=4)
    args = parser.parse_args()

    gas = GasReport()
    if args.rpc_url == "embedded":
        chain = EmbeddedChain()
        dev = chain.dev_accounts()
        owner, aggregator, trainers = dev[0], dev[1], dev[2 : 2 + args.trainers]
        market = Marketplace.deploy(chain, owner, gas_report=gas)
    else:
        if args.owner_key_file is None or args.aggregator is None:
            parser.error("on an RPC chain give --owner-key-file and --aggregator")
        chain = RpcChain(args.rpc_url)
        owner = Account.from_key(args.owner_key_file.read_text().strip())
        aggregator = None
        address = Deployments(MarketConfig().deployments_file).address(chain.chain_id)
        market = Marketplace(chain, address, gas_report=gas)

    config = TaskConfig(
        spec_cid=args.spec_cid,
        aggregator=args.aggregator or aggregator.address,
        join_deadline=chain.timestamp() + 3600,
        stake_wei=parse_amount(args.stake),
        rounds=args.rounds,
        min_trainers=min(2, args.trainers),
        max_trainers=max(args.trainers, 2),
    )
    task_id, result = market.create_task(owner, config, parse_amount(args.reward))
    console.print(f"task {task_id} posted on {chain.describe()} (gas {result.gas_used:,}), reward {args.reward}")
    if args.rpc_url == "embedded":
        for t in trainers:
            market.join(t, task_id)
        market.start(owner, task_id)
        run_through(chain, market, task_id, owner, aggregator, trainers)
        console.print(gas.to_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

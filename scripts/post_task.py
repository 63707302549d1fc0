#!/usr/bin/env python3
"""An owner posts a task from a script, through the `market` library.

    python scripts/post_task.py                       # embedded chain: post, then run the task to the end
    python scripts/post_task.py --rpc-url http://127.0.0.1:8545 --owner-key-file KEY --aggregator 0x…

On the embedded chain (the default) there is nobody else, so the script also plays the trainers
and the aggregator with the development accounts and takes the task from post to withdraw in
one process, in trusted-aggregator mode with made-up update CIDs and scores: the money path,
no machine learning (benchmarks/money_path.py). On an RPC chain it only posts and prints the
task id.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.money_path import DEFAULT_SPEC_CID, post_task


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rpc-url", default="embedded", help="JSON-RPC URL, or 'embedded' (default).")
    parser.add_argument("--owner-key-file", type=Path, help="File with the owner's private key (RPC chains).")
    parser.add_argument("--aggregator", help="Aggregator address (default: a development account).")
    parser.add_argument("--spec-cid", default=DEFAULT_SPEC_CID)
    parser.add_argument("--reward", default="1ether")
    parser.add_argument("--stake", default="0.1ether")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trainers", type=int, default=4)
    args = parser.parse_args()
    if args.rpc_url != "embedded" and (args.owner_key_file is None or args.aggregator is None):
        parser.error("on an RPC chain give --owner-key-file and --aggregator")
    post_task(rpc_url=args.rpc_url, owner_key_file=args.owner_key_file, aggregator=args.aggregator,
              spec_cid=args.spec_cid, reward=args.reward, stake=args.stake, rounds=args.rounds, trainers=args.trainers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

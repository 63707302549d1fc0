#!/usr/bin/env python3
"""Regenerate the committed round verifier(s) from a key, or check that they are fresh.

    python scripts/generate_verifier.py                  # N=16, K=32 from the cached DEVELOPMENT key
    python scripts/generate_verifier.py --n 4 --k 4      # another size
    python scripts/generate_verifier.py --zkey round.zkey  # from a ceremony key (production)
    python scripts/generate_verifier.py --check          # exit 1 if a committed verifier is stale

Writing makes the development key first when the cache has none (groth16py single-party setup,
~20 s at 16x32), then writes zk/keys/round-<N>x<K>.vk.json and
contracts/zk/RoundGroth16Verifier<N>x<K>.sol. Run scripts/compile_contracts.py afterwards.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zk.keys import ceremony_keys, development_keys  # noqa: E402
from zk.round_circuit import RoundShape  # noqa: E402
from zk.solidity import check_committed_verifier, committed_shapes, write_committed_verifier  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=16, help="trainer slots N (default 16)")
    parser.add_argument("--k", type=int, default=32, help="sketch length K (default 32)")
    parser.add_argument("--zkey", type=Path, help="a snarkjs .zkey from a ceremony for Round(N, K)")
    parser.add_argument("--cache", type=Path, help="key cache (default $MARKET_ZK_CACHE or ~/.cache/poc-market/zk)")
    parser.add_argument("--check", action="store_true", help="only check the committed verifiers")
    args = parser.parse_args(argv)

    if args.check:
        stale = 0
        for shape in committed_shapes():
            problems = check_committed_verifier(shape)
            for problem in problems:
                print(f"STALE {shape.name}: {problem}")
            if not problems:
                print(f"ok    {shape.name}")
            stale += bool(problems)
        return 1 if stale else 0

    shape = RoundShape(args.n, args.k)
    if args.zkey is not None:
        keys = ceremony_keys(shape, args.zkey, cache=args.cache)
    else:
        keys = development_keys(shape, cache=args.cache, log=print)
    for path in write_committed_verifier(keys):
        print(f"wrote {path}")
    print(f"key: {keys.describe()}")
    print("next: python scripts/compile_contracts.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

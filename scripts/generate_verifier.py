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
from pathlib import Path

from zk.committed import check_committed_verifiers, regenerate_verifier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=16, help="trainer slots N (default 16)")
    parser.add_argument("--k", type=int, default=32, help="sketch length K (default 32)")
    parser.add_argument("--zkey", type=Path, help="a snarkjs .zkey from a ceremony for Round(N, K)")
    parser.add_argument("--cache", type=Path, help="key cache (default $MARKET_ZK_CACHE or ~/.cache/poc-market/zk)")
    parser.add_argument("--check", action="store_true", help="only check the committed verifiers")
    args = parser.parse_args(argv)
    if args.check:
        return 1 if check_committed_verifiers() else 0
    regenerate_verifier(args.n, args.k, zkey=args.zkey, cache=args.cache)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

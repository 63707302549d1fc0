#!/usr/bin/env python3
"""Run the snarkjs Groth16 ceremony steps for the round circuit on one machine.

A real ceremony spreads the `contribute` steps over independent people and machines and starts
from a public powers-of-tau file (e.g. the Hermez/Polygon `powersOfTau28_hez_final_17.ptau` for
circuits up to 2^17 constraints); zk/README.md lists the commands. This script runs the same
commands locally, with one phase-2 contribution and a beacon, to make the small ceremony key the
tests import (`tests/zk/data/round-1x1.ceremony.zkey`) or to rehearse a ceremony:

    python scripts/zk_ceremony.py --n 1 --k 1 --power 11 --out tests/zk/data
    python scripts/zk_ceremony.py --n 16 --k 32 --ptau powersOfTau28_hez_final_17.ptau --out keys/

Needs node, the npm tools of `make install` (circom2) and snarkjs 0.7.6 (`--snarkjs PATH`, default
node_modules/.bin/snarkjs). The circuit is compiled with `circom --O2`, the simplification
groth16py applies, so the zkey matches the circuit groth16py compiles when it imports it.
Without --ptau a local powers of tau is made (NOT a public one: for tests only). The steps are
zk/ceremony.py's.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from zk.ceremony import DEFAULT_SNARKJS, run_ceremony
from zk.round_circuit import RoundShape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1)
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--power", type=int, default=11, help="powers of tau to make without --ptau (2^power "
                        "must exceed the constraints + public inputs)")
    parser.add_argument("--ptau", type=Path, help="a public powers-of-tau file (production)")
    parser.add_argument("--snarkjs", default=DEFAULT_SNARKJS)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    if shutil.which(args.snarkjs) is None:
        parser.error(f"snarkjs not found at {args.snarkjs}: npm install snarkjs@0.7.6 (or pass --snarkjs)")
    run_ceremony(RoundShape(args.n, args.k), args.out, power=args.power, ptau=args.ptau, snarkjs=args.snarkjs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

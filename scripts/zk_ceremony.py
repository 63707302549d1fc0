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
Without --ptau a local powers of tau is made (NOT a public one: for tests only).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zk.round_circuit import CIRCUITS_DIR, RoundShape  # noqa: E402


def run(*cmd: str) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1)
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--power", type=int, default=11, help="powers of tau to make without --ptau (2^power "
                        "must exceed the constraints + public inputs)")
    parser.add_argument("--ptau", type=Path, help="a public powers-of-tau file (production)")
    parser.add_argument("--snarkjs", default=str(REPO / "node_modules" / ".bin" / "snarkjs"))
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)

    shape = RoundShape(args.n, args.k)
    snarkjs = args.snarkjs
    if shutil.which(snarkjs) is None:
        parser.error(f"snarkjs not found at {snarkjs}: npm install snarkjs@0.7.6 (or pass --snarkjs)")
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"round-{shape.name}"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        main_circom = work / "main.circom"
        main_circom.write_text(shape.main_source())
        run("node", str(REPO / "node_modules" / "circom2" / "cli.js"), str(main_circom), "--r1cs", "--O2",
            "-l", str(CIRCUITS_DIR), "-l", str(REPO / "node_modules"), "-o", str(work))
        r1cs = work / "main.r1cs"
        ptau = args.ptau
        if ptau is None:  # a local phase 1: tests only
            run(snarkjs, "powersoftau", "new", "bn128", str(args.power), str(work / "pot0.ptau"))
            run(snarkjs, "powersoftau", "contribute", str(work / "pot0.ptau"), str(work / "pot1.ptau"),
                "--name=local phase 1", f"-e={secrets.token_hex(32)}")
            run(snarkjs, "powersoftau", "prepare", "phase2", str(work / "pot1.ptau"), str(work / "pot.ptau"))
            ptau = work / "pot.ptau"
        run(snarkjs, "groth16", "setup", str(r1cs), str(ptau), str(work / "c0.zkey"))
        run(snarkjs, "zkey", "contribute", str(work / "c0.zkey"), str(work / "c1.zkey"), "--name=contributor 1",
            f"-e={secrets.token_hex(32)}")
        beacon = secrets.token_hex(32)
        zkey = args.out / f"{name}.ceremony.zkey"
        run(snarkjs, "zkey", "beacon", str(work / "c1.zkey"), str(zkey), beacon, "10", "-n=final beacon")
        run(snarkjs, "zkey", "verify", str(r1cs), str(ptau), str(zkey))
        vk = args.out / f"{name}.ceremony.vk.json"
        run(snarkjs, "zkey", "export", "verificationkey", str(zkey), str(vk))
    meta = {
        "n": shape.n, "k": shape.k, "circuitHash": shape.circuit_hash(),
        "zkeySha256": hashlib.sha256(zkey.read_bytes()).hexdigest(),
        "made": "scripts/zk_ceremony.py: local phase 1" if args.ptau is None else f"phase 1 {args.ptau.name}",
        "beacon": beacon,
    }
    (args.out / f"{name}.ceremony.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {zkey}, {vk} and {name}.ceremony.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

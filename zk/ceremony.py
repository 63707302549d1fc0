"""The snarkjs Groth16 ceremony steps for the round circuit, run on one machine
(``scripts/zk_ceremony.py``).

A real ceremony spreads the ``contribute`` steps over independent people and machines and starts
from a public powers-of-tau file (e.g. the Hermez/Polygon ``powersOfTau28_hez_final_17.ptau``
for circuits up to 2^17 constraints); zk/README.md lists the commands. :func:`run_ceremony` runs
the same commands locally, with one phase-2 contribution and a beacon: to make the small
ceremony key the tests import (``tests/zk/data/round-1x1.ceremony.zkey``) or to rehearse a
ceremony. The circuit is compiled with ``circom --O2``, the simplification groth16py applies, so
the zkey matches the circuit groth16py compiles when it imports it. Without a ``ptau`` a local
powers of tau is made (NOT a public one: for tests only).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from zk.round_circuit import CIRCUITS_DIR, RoundShape

__all__ = ["DEFAULT_SNARKJS", "REPO", "run_ceremony"]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SNARKJS = str(REPO / "node_modules" / ".bin" / "snarkjs")

Echo = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


def _run(echo: Echo, *cmd: str) -> None:
    echo("$ " + " ".join(cmd))
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)


def _local_phase1(snarkjs: str, work: Path, power: int, echo: Echo) -> Path:
    """A local powers of tau (tests only)."""
    _run(echo, snarkjs, "powersoftau", "new", "bn128", str(power), str(work / "pot0.ptau"))
    _run(echo, snarkjs, "powersoftau", "contribute", str(work / "pot0.ptau"), str(work / "pot1.ptau"),
         "--name=local phase 1", f"-e={secrets.token_hex(32)}")
    _run(echo, snarkjs, "powersoftau", "prepare", "phase2", str(work / "pot1.ptau"), str(work / "pot.ptau"))
    return work / "pot.ptau"


def run_ceremony(shape: RoundShape, out: Path, *, power: int = 11, ptau: Path | None = None,
                 snarkjs: str = DEFAULT_SNARKJS, echo: Echo = _print) -> Path:
    """Compile Round(N, K), run phase 2 (one contribution, a beacon) on ``ptau`` (or a local
    phase 1 of 2^``power``), verify, export; write ``round-<N>x<K>.ceremony.{zkey,vk.json,json}``
    into ``out``. Returns the zkey's path."""
    out.mkdir(parents=True, exist_ok=True)
    name = f"round-{shape.name}"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        main_circom = work / "main.circom"
        main_circom.write_text(shape.main_source())
        _run(echo, "node", str(REPO / "node_modules" / "circom2" / "cli.js"), str(main_circom), "--r1cs", "--O2",
             "-l", str(CIRCUITS_DIR), "-l", str(REPO / "node_modules"), "-o", str(work))
        r1cs = work / "main.r1cs"
        phase1 = ptau if ptau is not None else _local_phase1(snarkjs, work, power, echo)
        _run(echo, snarkjs, "groth16", "setup", str(r1cs), str(phase1), str(work / "c0.zkey"))
        _run(echo, snarkjs, "zkey", "contribute", str(work / "c0.zkey"), str(work / "c1.zkey"), "--name=contributor 1",
             f"-e={secrets.token_hex(32)}")
        beacon = secrets.token_hex(32)
        zkey = out / f"{name}.ceremony.zkey"
        _run(echo, snarkjs, "zkey", "beacon", str(work / "c1.zkey"), str(zkey), beacon, "10", "-n=final beacon")
        _run(echo, snarkjs, "zkey", "verify", str(r1cs), str(phase1), str(zkey))
        vk = out / f"{name}.ceremony.vk.json"
        _run(echo, snarkjs, "zkey", "export", "verificationkey", str(zkey), str(vk))
    meta = {
        "n": shape.n, "k": shape.k, "circuitHash": shape.circuit_hash(),
        "zkeySha256": hashlib.sha256(zkey.read_bytes()).hexdigest(),
        "made": "scripts/zk_ceremony.py: local phase 1" if ptau is None else f"phase 1 {ptau.name}",
        "beacon": beacon,
    }
    (out / f"{name}.ceremony.json").write_text(json.dumps(meta, indent=1) + "\n")
    echo(f"wrote {zkey}, {vk} and {name}.ceremony.json")
    return zkey

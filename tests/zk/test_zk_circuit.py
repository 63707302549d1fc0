"""zk/circuits/commitment.circom computes the same commitments as zk/commitment.py.

Needs the circom compiler from npm (``circom2``, in package.json); without it the test fails
and says to run ``make install` (npm install)`.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.zk.conftest import NODE_MODULES, REPO_ROOT
from zk.protocol.commitment import aggregate_commitment, sketch_commitment
from zk.protocol.field import FIELD_MODULUS
from zk.protocol.sketch import SketchParams

CIRCOM = NODE_MODULES / "circom2" / "cli.js"
B = SketchParams().clip

WRAPPER = """
pragma circom 2.0.0;
include "commitment.circom";

template Check() {
    signal input s32[32];
    signal input salt32;
    signal input s16[16];
    signal input salt16;
    signal input s1[1];
    signal input salt1;
    signal input g[32];
    signal output out[4];

    component a = SketchCommitment(32);
    component b = SketchCommitment(16);
    component c = SketchCommitment(1);
    component d = AggregateCommitment(32);
    for (var i = 0; i < 32; i++) { a.sketch[i] <== s32[i]; d.g[i] <== g[i]; }
    for (var i = 0; i < 16; i++) { b.sketch[i] <== s16[i]; }
    c.sketch[0] <== s1[0];
    a.salt <== salt32;
    b.salt <== salt16;
    c.salt <== salt1;
    out[0] <== a.commitment;
    out[1] <== b.commitment;
    out[2] <== c.commitment;
    out[3] <== d.commitment;
}

component main = Check();
"""

WITNESS = """
const wc = require(process.argv[2]);
const fs = require("fs");
const input = JSON.parse(fs.readFileSync(process.argv[4], "utf8"));
wc(fs.readFileSync(process.argv[3])).then(async (calc) => {
    const w = await calc.calculateWitness(input, 0);
    console.log(JSON.stringify(w.slice(1, 5).map(String)));
});
"""


@pytest.mark.node
def test_commitment_circuit_equals_python(tmp_path: Path) -> None:
    if shutil.which("node") is None or not CIRCOM.is_file():
        pytest.fail("circom2 is not in node_modules: run `make install` (npm install) in the repository root (needs Node.js 20)")
    (tmp_path / "check.circom").write_text(WRAPPER)
    (tmp_path / "witness.cjs").write_text(WITNESS)
    subprocess.run(
        [
            "node",
            str(CIRCOM),
            str(tmp_path / "check.circom"),
            "--wasm",
            "-l",
            "zk/circuits",
            "-l",
            "node_modules",
            "-o",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    rng = random.Random(11)

    def sketch(k: int) -> list[int]:
        return [rng.choice([B, -B, 0, -1, rng.randint(-B, B)]) for _ in range(k)]

    s32, s16, s1, g = sketch(32), sketch(16), sketch(1), sketch(32)
    salts = [rng.randrange(FIELD_MODULUS), FIELD_MODULUS - 1, 0]
    inputs = {
        "s32": s32,
        "salt32": salts[0],
        "s16": s16,
        "salt16": salts[1],
        "s1": s1,
        "salt1": salts[2],
        "g": g,
    }
    (tmp_path / "input.json").write_text(json.dumps({k: _strs(v) for k, v in inputs.items()}))
    out = subprocess.run(
        [
            "node",
            str(tmp_path / "witness.cjs"),
            str(tmp_path / "check_js" / "witness_calculator.js"),
            str(tmp_path / "check_js" / "check.wasm"),
            str(tmp_path / "input.json"),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert [int(x) for x in json.loads(out.stdout)] == [
        sketch_commitment(s32, salts[0]),
        sketch_commitment(s16, salts[1]),
        sketch_commitment(s1, salts[2]),
        aggregate_commitment(g),
    ]


def _strs(value: int | list[int]) -> str | list[str]:
    return [str(v) for v in value] if isinstance(value, list) else str(value)

"""Costs of the round circuit: constraints, setup, proving, proof size, verification gas.

For each size: a fresh DEVELOPMENT key (groth16py single-party setup, timed) in a temporary
cache (or a given one, to keep keys), a round of N trainers (one outlier) proved from the
aggregator's own ProvableRoundResult, the proof checked by groth16py and by the py_ecc verifier,
then on the embedded chain (py-evm, shanghai): the verifier deployed, a task with N trainers, and
``publishRound`` with the proof in round 0 (first writes) and round 1 (steady state), beside the
same rounds of a trusted-aggregator task (no proof), plus the adapter's ``verifyRound`` and the
generated verifier's ``verifyProof`` sent alone as transactions (21k base and calldata included).

The alternatives (full run only): the gas of unpacked public inputs (2N + 4, seed included),
extrapolated from the measured cost per input, and "one hash" of the public inputs: a
one-input verifier's gas (measured) against SHA-256 in the circuit (constraints and proving time
of one 512-bit block, measured, times the blocks the packed public inputs need).

:func:`main` is ``scripts/bench_zk.py``; :mod:`benchmarks.zk_table` quotes what it prints.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak

from market.chain import EmbeddedChain
from market.marketplace import Marketplace
from market.solc import REPO_ROOT, SETTINGS
from market.types import TaskConfig
from zk.deploy import deploy_round_verifier_full
from zk.exceptions import ZkToolMissingError
from zk.keys import captured_stdout, compiler_stats, development_keys, forget_loaded_keys, groth16py_module
from zk.protocol.commitment import aggregate_commitment, random_salt, sketch_commitment
from zk.protocol.rule import provable_round
from zk.prover import prove_round
from zk.round_circuit import RoundShape
from zk.verify_py import VerificationKey, verify

__all__ = ["QUICK_SIZES", "SIZES", "ZkCosts", "bench_shape", "main", "measure", "missing_toolchain", "parse_sizes",
           "table"]

ZERO = "0x0000000000000000000000000000000000000000"
FIXED_GAS = 5_000_000
SIZES = [RoundShape(n, k) for n in (4, 8, 16) for k in (16, 32)]
QUICK_SIZES = [RoundShape(4, 16)]
KEYS_LINE = "Keys: DEVELOPMENT keys (groth16py single-party setup). Chain: embedded py-evm, EVM shanghai."

Log = Callable[[str], None]


@dataclass
class ZkCosts:
    """One row per round shape (the measured numbers by name) and the alternatives' numbers."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    alternatives: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "alternatives": self.alternatives}


def missing_toolchain() -> str | None:
    """Why the zk costs cannot be measured here (groth16py with in-process circom, node and the
    npm solc are needed), or None when they can."""
    try:
        groth16py_module()
    except ZkToolMissingError as exc:
        return str(exc)
    if shutil.which("node") is None or not (REPO_ROOT / "node_modules" / "solc").is_dir():
        return "compiling the verifiers needs node and the npm solc (make install)"
    return None


def parse_sizes(text: str | None, *, quick: bool = False) -> list[RoundShape]:
    """``"4x16,16x32"`` as round shapes; None: every size (:data:`QUICK_SIZES` when quick)."""
    if not text:
        return list(QUICK_SIZES if quick else SIZES)
    return [RoundShape(*(int(x) for x in s.lower().split("x"))) for s in text.split(",")]


def make_round(shape: RoundShape, rng: random.Random) -> tuple[list[list[int]], list[int]]:
    """N sketches at a realistic scale (values ~ 2^24 · O(1)), the last one an outlier."""
    center = [rng.randint(-(1 << 26), 1 << 26) for _ in range(shape.k)]
    sketches = [[c + rng.randint(-(1 << 22), 1 << 22) for c in center] for _ in range(shape.n - 1)]
    sketches.append([c + (1 << 30) for c in center])
    return sketches, [random_salt() for _ in range(shape.n)]


def send_fixed(chain: EmbeddedChain, sender, call) -> dict:
    """Send ``call`` with a fixed gas limit (no estimate: on py-evm each estimate re-runs the
    pure-Python pairing precompile ~20 times); return the receipt."""
    web3 = chain.web3
    tx = call.build_transaction({"from": sender.address, "gas": FIXED_GAS, "chainId": chain.chain_id,
                                 "nonce": web3.eth.get_transaction_count(sender.address)})
    tx_hash = web3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    receipt = web3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction failed: {call.fn_name}")
    return receipt


def chain_gas(shape: RoundShape, keys, rounds_data: list[tuple], log: Log | None) -> dict[str, Any]:
    """Deploy, run rounds 0 and 1 with proofs and without (trusted), measure gas."""
    n = shape.n
    chain = EmbeddedChain(accounts=n + 3)
    accounts = chain.dev_accounts()
    owner, aggregator, trainers = accounts[0], accounts[1], accounts[2:2 + n]
    market = Marketplace.deploy(chain, owner)
    deployment = deploy_round_verifier_full(chain, owner, n=n, k=shape.k, keys=keys, log=log)
    market.approve_verifier(owner, deployment.address)
    market.register_aggregator_key(aggregator, b"\x42" * 32)
    out: dict[str, Any] = {"deployGas": deployment.gas_used}
    for mode, verifier in (("zk", deployment.address), ("trusted", ZERO)):
        config = TaskConfig(spec_cid="bafy-bench", aggregator=aggregator.address,
                            join_deadline=chain.timestamp() + 10**4, aggregator_key=b"\x42" * 32,
                            verifier=verifier, stake_wei=10**15, rounds=3, min_trainers=1, max_trainers=n)
        task_id, _ = market.create_task(owner, config, 10**18)
        for t in trainers:
            market.join(t, task_id, 10**15)
        market.start(owner, task_id)
        for round_, data in enumerate(rounds_data):
            out[f"publish{mode.title()}Round{round_}"] = _publish_gas(chain, market, task_id, round_, trainers,
                                                                       aggregator, data, proved=mode == "zk")
            if mode == "zk" and round_ == 1:
                out.update(_verifier_gas(chain, market, owner, keys, deployment, task_id, round_, data))
    chain.close()
    return out


def _publish_gas(chain, market: Marketplace, task_id: int, round_: int, trainers, aggregator, data: tuple, *,
                 proved: bool) -> int:
    """One round of the task (submissions, close, commitments) and the gas of its publishRound."""
    sketches, salts, result, proof = data
    for i, t in enumerate(trainers):
        market.submit_update(t, task_id, round_, f"bafy-u-{round_}-{i}", keccak(text=f"{task_id}/{round_}/{i}"))
    market.close_submissions(aggregator, task_id, round_)
    for t, s, salt in zip(trainers, sketches, salts):
        market.commit_sketch(t, task_id, round_, sketch_commitment(s, salt))
    call = market.contract.functions.publishRound(
        task_id, round_, "bafy-global", result.flags_mask, 0, list(result.scores),
        aggregate_commitment(result.aggregate), proof.proof if proved else b"", "")
    return int(send_fixed(chain, aggregator, call)["gasUsed"])


def _verifier_gas(chain, market: Marketplace, owner, keys, deployment, task_id: int, round_: int,
                  data: tuple) -> dict[str, int]:
    """The adapter's verifyRound and the verifier's verifyProof sent alone, as transactions."""
    from market.artifacts import load_artifact
    from zk.solidity import verifier_artifact

    _sketches, _salts, result, proof = data
    adapter = chain.web3.eth.contract(address=deployment.address, abi=load_artifact("RoundVerifier")["abi"])
    commitments = market.get_commitments(task_id, round_)
    verify_round = adapter.functions.verifyRound(commitments, 0, 0, 0, result.flags_mask, 0, list(result.scores),
                                                 aggregate_commitment(result.aggregate), proof.proof)
    contract = chain.web3.eth.contract(address=deployment.groth16_verifier, abi=verifier_artifact(keys)["abi"])
    w = [int.from_bytes(proof.proof[32 * i:32 * (i + 1)], "big") for i in range(8)]
    verify_proof = contract.functions.verifyProof([w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]],
                                                  proof.public_inputs)
    return {"verifyRoundTx": int(send_fixed(chain, owner, verify_round)["gasUsed"]),
            "verifyProofTx": int(send_fixed(chain, owner, verify_proof)["gasUsed"])}


def bench_shape(shape: RoundShape, cache: Path, rng: random.Random, log: Log) -> dict[str, Any]:
    """Every number of one round shape's row."""
    g = groth16py_module()
    log(f"== Round({shape.n}, {shape.k}): setup …")
    keys = development_keys(shape, cache=cache)
    forget_loaded_keys()
    started = time.perf_counter()
    keys = development_keys(shape, cache=cache, create=False)
    keys.proving_key  # noqa: B018 - loads it
    load_seconds = time.perf_counter() - started
    row: dict[str, Any] = {
        "n": shape.n, "k": shape.k, "publicInputs": shape.public_count, "constraints": keys.meta.get("constraints"),
        "wires": keys.meta.get("wires"), "setupSeconds": keys.meta.get("setupSeconds"),
        "keyLoadSeconds": round(load_seconds, 2), "key": keys.label,
        "provingKeyBytes": (keys.directory / "proving_key.bin").stat().st_size,
    }
    rounds_data, prove_times = [], []
    for _ in range(2):
        sketches, salts = make_round(shape, rng)
        result = provable_round(sketches, None, tau_num=4, tau_den=1, k=shape.k)
        commitments = [sketch_commitment(s, salt) for s, salt in zip(sketches, salts)]
        proof = prove_round(keys, result, commitments=commitments, rejections=[False] * shape.n, sketches=sketches,
                            salts=salts, check=False)
        prove_times.append(proof.seconds)
        rounds_data.append((sketches, salts, result, proof))
    proof = rounds_data[0][3]
    row["proveSeconds"] = round(min(prove_times), 2)
    row["proofBytes"] = len(proof.proof)
    started = time.perf_counter()
    assert g.Verifier(keys.verifying_key).verify(proof.proof, proof.public_inputs)
    row["verifyGroth16pySeconds"] = round(time.perf_counter() - started, 4)
    vk = VerificationKey.from_json(keys.vk_json)
    started = time.perf_counter()
    assert verify(vk, proof.proof, proof.public_inputs)
    row["verifyPyEccSeconds"] = round(time.perf_counter() - started, 2)
    log(f"   proved in {row['proveSeconds']} s; on chain …")
    row.update(chain_gas(shape, keys, rounds_data, log=None))
    row["zkMarginalGasRound1"] = row["publishZkRound1"] - row["publishTrustedRound1"]
    return row


# --- the alternatives --------------------------------------------------------------------------
MUL = """pragma circom 2.1.0;
template One() { signal input a; signal input b; signal input c; c === a * b; }
component main {public [c]} = One();
"""
# 447 message bits: with the padding (1 bit + 64-bit length) exactly one 512-bit block
SHA = """pragma circom 2.1.0;
include "circomlib/circuits/sha256/sha256.circom";
template Block() { signal input bits[447]; signal output out[256];
  component h = Sha256(447); for (var i = 0; i < 447; i++) { h.in[i] <== bits[i]; }
  for (var i = 0; i < 256; i++) { out[i] <== h.out[i]; } }
component main = Block();
"""


def bench_alternatives(rows: list[dict[str, Any]], work: Path, log: Log) -> dict[str, Any]:
    """Unpacked inputs (extrapolated) and one hash of the public inputs (measured parts)."""
    out: dict[str, Any] = {}
    by_p = sorted({(r["publicInputs"], r["verifyProofTx"]) for r in rows})
    if len(by_p) >= 2:
        (p0, g0), (p1, g1) = by_p[0], by_p[-1]
        per_input = (g1 - g0) / (p1 - p0)
        out["verifyProofGasPerInput"] = round(per_input)
        for r in rows:
            unpacked = 2 * r["n"] + 4
            r["unpackedInputs"] = unpacked
            r["verifyProofTxUnpacked"] = round(r["verifyProofTx"] + per_input * (unpacked - r["publicInputs"]))
    out["verifyProofTxOneInput"] = _one_input_verifier_gas(work)
    out.update(_sha256_block(work))
    for r in rows:
        # the packed public inputs as bits: commitments, marks, packed scores, aggregate
        bits = r["n"] * 254 + (2 * r["n"] + 64) + ((r["n"] + 1) // 2) * 252 + 254
        blocks = (bits + 64 + 1 + 511) // 512
        r["oneHashBlocks"] = blocks
        r["oneHashExtraConstraints"] = blocks * out["sha256BlockConstraints"]
        r["oneHashExtraProveSeconds"] = round(blocks * out["sha256BlockProveSeconds"], 1)
    log("   alternatives measured")
    return out


def _one_input_verifier_gas(work: Path) -> int:
    """The verifyProof transaction gas of a one-public-input verifier, measured."""
    g = groth16py_module()
    (work / "one.circom").write_text(MUL)
    with captured_stdout():
        pk, vk = g.setup_circom(str(work / "one.circom"), [])
    proof = bytes(g.prove(pk, {"a": 3, "b": 4, "c": 12}))
    source = vk.to_solidity(pragma="^0.8.24", contract_name="OneInputVerifier")
    artifact = compile_verifier_named(source, "OneInputVerifier")
    chain = EmbeddedChain()
    sender = chain.dev_accounts()[0]
    factory = chain.web3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = send_fixed(chain, sender, factory.constructor())
    contract = chain.web3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
    w = [int.from_bytes(proof[32 * i:32 * (i + 1)], "big") for i in range(8)]
    gas = int(send_fixed(chain, sender, contract.functions.verifyProof(
        [w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]], [12]))["gasUsed"])
    chain.close()
    return gas


def _sha256_block(work: Path) -> dict[str, Any]:
    """Setup time, constraints and proving time of SHA-256 of one 512-bit block in the circuit."""
    from zk.keys import _include_dir  # the circomlib include folder of the key cache

    g = groth16py_module()
    out: dict[str, Any] = {}
    (work / "sha.circom").write_text(SHA)
    started = time.perf_counter()
    with captured_stdout() as lines:
        pk, vk = g.setup_circom(str(work / "sha.circom"), [str(_include_dir(work))])
    out["sha256BlockSetupSeconds"] = round(time.perf_counter() - started, 2)
    out["sha256BlockConstraints"] = compiler_stats(lines).get("non-linear constraints")
    started = time.perf_counter()
    g.prove(pk, {"bits": [random.getrandbits(1) for _ in range(447)]})
    out["sha256BlockProveSeconds"] = round(time.perf_counter() - started, 2)
    return out


def compile_verifier_named(source: str, name: str) -> dict:
    """compile_verifier for a contract not named after a round shape."""
    key = f"{name}.sol"
    request = {"language": "Solidity", "sources": {key: {"content": source}}, "settings": SETTINGS}
    proc = subprocess.run(["node", "scripts/solc_standard_json.cjs"], cwd=REPO_ROOT, input=json.dumps(request),
                          capture_output=True, text=True, check=True)
    data = json.loads(proc.stdout[proc.stdout.index("{"):])["contracts"][key][name]
    return {"abi": data["abi"], "bytecode": "0x" + data["evm"]["bytecode"]["object"]}


def table(rows: list[dict[str, Any]], alt: dict[str, Any]) -> str:
    """The rows (and the alternatives) as Markdown tables."""
    head = ("| N × K | public inputs | constraints | setup s | key load s | prove s | proof B | verify py_ecc s | "
            "publishRound gas r0 / r1 | trusted r0 / r1 | zk extra r1 | verifyRound tx | verifyProof tx |")
    lines = [head, "|" + "|".join(["---"] * (head.count("|") - 1)) + "|"]
    for r in rows:
        lines.append(
            f"| {r['n']} × {r['k']} | {r['publicInputs']} | {r['constraints']:,} | {r['setupSeconds']:.1f} | "
            f"{r['keyLoadSeconds']:.1f} | {r['proveSeconds']:.2f} | {r['proofBytes']} | "
            f"{r['verifyPyEccSeconds']:.2f} | "
            f"{r['publishZkRound0']:,} / {r['publishZkRound1']:,} | {r['publishTrustedRound0']:,} / "
            f"{r['publishTrustedRound1']:,} | {r['zkMarginalGasRound1']:,} | {r['verifyRoundTx']:,} | "
            f"{r['verifyProofTx']:,} |")
    text = "\n".join(lines) + "\n"
    if alt:
        text += "\nAlternatives (verifyProof transaction gas; circuit cost of hashing the public inputs):\n\n"
        text += ("| N × K | packed (chosen) | unpacked 2N+4 (extrapolated) | one hash: gas | "
                 "one hash: +SHA-256 blocks | +constraints | +prove s |\n")
        text += "|---|---|---|---|---|---|---|\n"
        for r in rows:
            text += (f"| {r['n']} × {r['k']} | {r['verifyProofTx']:,} ({r['publicInputs']}) | "
                     f"{r.get('verifyProofTxUnpacked', 0):,} ({r.get('unpackedInputs', '-')}) | "
                     f"{alt['verifyProofTxOneInput']:,} (1) | {r['oneHashBlocks']} | "
                     f"{r['oneHashExtraConstraints']:,} | "
                     f"{r['oneHashExtraProveSeconds']} |\n")
        text += (f"\nMeasured: {alt.get('verifyProofGasPerInput', '?')} gas per extra public input; one SHA-256 block "
                 f"{alt['sha256BlockConstraints']:,} constraints, proved in {alt['sha256BlockProveSeconds']} s.\n")
    return text


def measure(sizes: Sequence[RoundShape], *, cache: Path | None = None, alternatives: bool = True,
            log: Log = print) -> ZkCosts:
    """Every size's row, then (``alternatives``) the alternatives; keys in ``cache`` or a
    temporary one (so that setup is timed)."""
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="bench-zk-") as tmp:
        key_cache = cache or Path(tmp) / "keys"
        rows = [bench_shape(shape, key_cache, rng, log) for shape in sizes]
        alt = bench_alternatives(rows, Path(tmp), log) if alternatives else {}
    return ZkCosts(rows=rows, alternatives=alt)


def main(*, quick: bool = False, sizes: str | None = None, cache: Path | None = None, alternatives: bool = True,
         json_path: Path | None = None, echo: Log = print) -> ZkCosts:
    """``scripts/bench_zk.py``: measure (``quick``: N = 4, K = 16, no alternatives), ``echo``
    the progress and the tables, write the rows as JSON to ``json_path`` when given."""
    costs = measure(parse_sizes(sizes, quick=quick), cache=cache, alternatives=alternatives and not quick, log=echo)
    echo("")
    echo(KEYS_LINE)
    echo(table(costs.rows, costs.alternatives))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(costs.to_json(), indent=1) + "\n")
    return costs

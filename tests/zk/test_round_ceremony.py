"""The production key path: a snarkjs ceremony ``.zkey`` imported with groth16py.

``tests/zk/data/round-1x1.ceremony.zkey`` is a Round(1, 1) key from snarkjs 0.7.6 (local phase 1,
one phase-2 contribution and a beacon: ``scripts/zk_ceremony.py``); ``.vk.json`` is snarkjs's own
export of its verification key. Proofs made in process with the imported key verify under
snarkjs's key (in Python) and on chain through a verifier generated from it.
"""

from __future__ import annotations

import json
from pathlib import Path

import groth16py
import pytest
from web3 import Web3

from market.artifacts import load_artifact
from market.chain import EmbeddedChain
from tests.zk.round_cases import RoundCase, absent, active, rejected
from zk.deploy import deploy_round_verifier_full
from zk.keys import CEREMONY, ceremony_keys
from zk.round_circuit import RoundShape
from zk.verify_py import verify

DATA = Path(__file__).with_name("data")
SHAPE = RoundShape(1, 1)


@pytest.fixture(scope="module")
def ceremony(tmp_path_factory):
    meta = json.loads((DATA / "round-1x1.ceremony.json").read_text())
    if meta["circuitHash"] != SHAPE.circuit_hash():
        pytest.fail("zk/circuits changed since tests/zk/data/round-1x1.ceremony.zkey was made: rerun "
                    "`python scripts/zk_ceremony.py --n 1 --k 1 --power 11 --out tests/zk/data` (needs snarkjs 0.7.6)")
    keys = ceremony_keys(SHAPE, DATA / "round-1x1.ceremony.zkey", cache=tmp_path_factory.mktemp("zk-ceremony"))
    return keys, json.loads((DATA / "round-1x1.ceremony.vk.json").read_text())


def test_ceremony_key_imports_with_the_ceremony_verification_key(ceremony):
    keys, snarkjs_vk = ceremony
    assert keys.origin == CEREMONY and "DEVELOPMENT" not in keys.label
    for field in ("IC", "vk_alpha_1", "vk_beta_2", "vk_gamma_2", "vk_delta_2"):
        assert keys.vk_json[field] == snarkjs_vk[field]


@pytest.mark.parametrize("slots", [[active([123_456])], [absent()], [rejected([5])]],
                         ids=["active", "absent", "rejected"])
def test_ceremony_key_proofs_verify_under_the_snarkjs_key(ceremony, slots):
    keys, snarkjs_vk = ceremony
    case = RoundCase(slots, 1)
    proof = case.prove(keys)
    assert verify(snarkjs_vk, proof.proof, case.public(keys))
    assert groth16py.Verifier(groth16py.VerifyingKey.from_snarkjs(json.dumps(snarkjs_vk))).verify(
        proof.proof, case.public(keys))


def test_ceremony_key_proof_verifies_on_chain(ceremony):
    # Prepare: the verifier generated from the ceremony key (compiled now: not committed)
    keys, _ = ceremony
    case = RoundCase([active([-77])], 1)
    proof = case.prove(keys)
    with EmbeddedChain() as chain:
        deployment = deploy_round_verifier_full(chain, chain.dev_accounts()[0], n=1, k=1, keys=keys)
        adapter = chain.web3.eth.contract(address=Web3.to_checksum_address(deployment.address),
                                          abi=load_artifact("RoundVerifier")["abi"])

        # Execute
        ok = adapter.functions.verifyRound(case.commitments, 0, 0, 0, case.flags_mask, case.rejections_mask,
                                           case.scores, case.aggregate_commitment, proof.proof).call()
        wrong = adapter.functions.verifyRound(case.commitments, 0, 0, 0, case.flags_mask, case.rejections_mask,
                                              [case.scores[0] + 1], case.aggregate_commitment, proof.proof).call()

    # Assert
    assert ok is True and wrong is False
    assert deployment.key_label.startswith("ceremony key")

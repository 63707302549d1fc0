"""contracts/zk/RoundVerifier.sol: the public-input layout, and false (never a revert) for
anything that is not a valid proof of these values."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from web3 import Web3

from market.artifacts import load_artifact
from market.exceptions import TransactionFailed
from market.marketplace import deploy_contract
from tests.zk.round_cases import RoundCase, active, rejected
from zk.deploy import default_verify_gas
from zk.protocol.field import FIELD_MODULUS
from zk.round_circuit import SCORE_BITS, public_inputs
from zk.verify_py import PROOF_LENGTH

K = 4
Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583


@pytest.fixture
def adapter(zk_base):
    chain, _, deployment, _, snapshot = zk_base
    chain.tester.revert_to_snapshot(snapshot)
    return chain.web3.eth.contract(address=deployment.address, abi=load_artifact("RoundVerifier")["abi"])


@pytest.fixture(scope="module")
def proved(round_keys):
    """A proof for three trainers (padded to N = 4 on chain), slot 2 rejected."""
    case = RoundCase([active([3, 1, 4, 1]), active([5, 9, 2, 6]), rejected([5, 3, 5, 8])], K)
    return case, case.prove(round_keys)


def _args(case: RoundCase, proof: bytes, **changes) -> list:
    values = dict(commitments=case.commitments, seed=12345, reference=0, order=0, flags=case.flags_mask,
                  rejections=case.rejections_mask, scores=case.scores, aggregate=case.aggregate_commitment, proof=proof)
    values.update(changes)
    return [values[k] for k in ("commitments", "seed", "reference", "order", "flags", "rejections", "scores",
                                "aggregate", "proof")]


def test_round_verifier_accepts_the_proof_whatever_the_seed_reference_and_order(adapter, proved):
    case, proof = proved
    assert adapter.functions.verifyRound(*_args(case, proof.proof)).call() is True
    assert adapter.functions.verifyRound(*_args(case, proof.proof, seed=99)).call() is True
    assert adapter.functions.verifyRound(*_args(case, proof.proof, reference=7)).call() is True  # ignored
    assert adapter.functions.verifyRound(*_args(case, proof.proof, order=2 | 1 << 6)).call() is True  # ignored


def test_round_verifier_public_inputs_match_python(adapter, round_keys, proved):
    # Prepare: the proved case, and values that fill every packed bit
    case, proof = proved
    big = [(1 << SCORE_BITS) - 1, 1, (1 << SCORE_BITS) - 2]
    commitments = [FIELD_MODULUS - 1, 7, 0]

    # Execute
    ok, chain_inputs = adapter.functions.publicInputs(case.commitments, case.flags_mask, case.rejections_mask,
                                                      case.scores, case.aggregate_commitment).call()
    ok_big, chain_big = adapter.functions.publicInputs(commitments, 0b101, 0b010, big, 5).call()

    # Assert
    assert ok and list(chain_inputs) == proof.public_inputs
    assert ok_big and list(chain_big) == public_inputs(round_keys.shape, commitments=commitments, flags=0b101,
                                                       rejections=0b010, tau_num=4, tau_den=1, scores=big,
                                                       aggregate_commitment=5)
    assert len(chain_big) == round_keys.shape.public_count == 8


@pytest.mark.parametrize("change", [
    "five-slots", "score-count", "marks-beyond-slots", "score-2^126", "commitment-p", "aggregate-p",
])
def test_round_verifier_public_inputs_refuse_unrepresentable_values(adapter, proved, change):
    case, _ = proved
    args = dict(commitments=case.commitments, flags=0, rejections=0, scores=case.scores, aggregate=1)
    if change == "five-slots":
        args.update(commitments=[1] * 5, scores=[0] * 5)
    elif change == "score-count":
        args.update(scores=[0, 0])
    elif change == "marks-beyond-slots":
        args.update(flags=0b1000)
    elif change == "score-2^126":
        args.update(scores=[1 << SCORE_BITS, 0, 0])
    elif change == "commitment-p":
        args.update(commitments=[FIELD_MODULUS, 1, 1])
    elif change == "aggregate-p":
        args.update(aggregate=FIELD_MODULUS)
    ok, inputs = adapter.functions.publicInputs(args["commitments"], args["flags"], args["rejections"], args["scores"],
                                                args["aggregate"]).call()
    assert ok is False and list(inputs) == []
    full = dict(args, seed=0, proof=b"\x00" * PROOF_LENGTH)
    assert adapter.functions.verifyRound(full["commitments"], 0, 0, 0, full["flags"], full["rejections"],
                                         full["scores"], full["aggregate"], full["proof"]).call() is False


def _word(x: int) -> bytes:
    return x.to_bytes(32, "big")


def _malformed(proof: bytes, kind: str) -> bytes:
    if kind == "empty":
        return b""
    if kind == "short":
        return proof[:-1]
    if kind == "long":
        return proof + b"\x00"
    if kind == "zeros":  # every point at infinity
        return b"\x00" * PROOF_LENGTH
    if kind == "coordinate-q":  # a.x = q: the verifier's own range check reverts
        return _word(Q) + proof[32:]
    if kind == "off-curve":  # a = (1, 1): the pairing precompile fails, the verifier hits invalid()
        return _word(1) + _word(1) + proof[64:]
    if kind == "b-words-swapped":  # Fp2 words in the wrong order: not on the twist / not in G2
        return proof[:64] + proof[96:128] + proof[64:96] + proof[160:192] + proof[128:160] + proof[192:]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["empty", "short", "long", "zeros", "coordinate-q", "off-curve", "b-words-swapped"])
def test_round_verifier_returns_false_on_a_malformed_proof(adapter, proved, kind):
    case, proof = proved
    assert adapter.functions.verifyRound(*_args(case, _malformed(proof.proof, kind))).call() is False


def test_round_verifier_caps_the_gas_a_bad_proof_can_burn(adapter, zk_base, proved):
    # Prepare: a proof whose pairing fails inside the generated verifier (invalid() burns all
    # the gas it was given): sent as a transaction with 3M gas
    chain = zk_base[0]
    case, proof = proved
    sender = chain.dev_accounts()[0]
    call = adapter.functions.verifyRound(*_args(case, _malformed(proof.proof, "off-curve")))
    tx = call.build_transaction({"from": sender.address, "gas": 3_000_000, "chainId": chain.chain_id,
                                 "nonce": chain.web3.eth.get_transaction_count(sender.address)})

    # Execute
    receipt = chain.web3.eth.wait_for_transaction_receipt(
        chain.web3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction))

    # Assert: the transaction succeeds (false, no revert) and burns at most the cap and change
    assert receipt["status"] == 1
    cap = adapter.functions.verifyGas().call()
    assert cap == default_verify_gas(zk_base[2].shape)
    assert cap - 50_000 < receipt["gasUsed"] < cap + 60_000


def test_round_verifier_reports_its_configuration(adapter, round_keys):
    shape = round_keys.shape
    assert adapter.functions.usesReference().call() is False
    assert adapter.functions.slots().call() == shape.n
    assert adapter.functions.sketchLength().call() == shape.k
    assert (adapter.functions.tauNumerator().call(), adapter.functions.tauDenominator().call()) == (4, 1)
    assert adapter.functions.publicInputCount().call() == shape.public_count
    signature = f"verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[{shape.public_count}])"
    assert adapter.functions.verifySelector().call() == keccak(text=signature)[:4]


@pytest.mark.parametrize("args", [
    dict(n=0), dict(n=65), dict(k=0), dict(tau_num=0), dict(tau_den=0), dict(tau_num=1 << 32), dict(gas=0),
    dict(verifier="0x" + "11" * 20),
], ids=["n=0", "n=65", "k=0", "tau_num=0", "tau_den=0", "tau_num=2^32", "gas=0", "no-code"])
def test_round_verifier_constructor_refuses_a_bad_configuration(zk_base, args):
    chain, _, deployment, _, snapshot = zk_base
    chain.tester.revert_to_snapshot(snapshot)
    values = dict(verifier=deployment.groth16_verifier, n=4, k=4, tau_num=4, tau_den=1, gas=500_000)
    values.update(args)
    with pytest.raises(TransactionFailed, match="RoundVerifier"):
        deploy_contract(chain, "RoundVerifier", chain.dev_accounts()[0], Web3.to_checksum_address(values["verifier"]),
                        values["n"], values["k"], values["tau_num"], values["tau_den"], values["gas"])

"""contracts/zk/ReferenceRoundVerifier.sol with the generated Groth16 verifier of ReferenceRound(4, 4, 1, 2):
a real proof verifies, anything else returns false (never a revert), the layout equals Python's; the
deploy helper, the prover and the Python re-check of the audit.

One DEVELOPMENT key made once per module in a temporary cache, one embedded chain with the
root-of-trust verifier (and an old RoundVerifier, for ``usesReference``), snapshotted. No Marketplace:
the values it would pass are passed directly.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import pytest
from eth_utils import keccak
from web3 import Web3

from market.artifacts import load_artifact
from market.chain import EmbeddedChain
from market.exceptions import ContractRevert, TransactionFailed
from market.marketplace import revert_data, send_transaction
from market.reverts import RevertDecoder
from tests.zk.test_round_verifier_contract import _malformed
from zk.deploy import default_verify_gas, deploy_reference_verifier, deploy_round_verifier_full
from zk.exceptions import WitnessInputError
from zk.keys import development_keys
from zk.onchain_reference import check_reference_proof, read_reference_verifier, unpack_params, uses_reference
from zk.protocol.commitment import aggregate_commitment, random_salt, sketch_commitment
from zk.protocol.field import FIELD_MODULUS
from zk.protocol.reference_rule import ReferenceRoundResult, ReferenceRuleParams, reference_round
from zk.prover import make_reference_prover
from zk.reference_circuit import ReferenceShape, pack_order, pack_params, reference_public_inputs
from zk.round_circuit import SCORE_BITS
from zk.solidity import (
    generate_verifier_source,
    pairing_library_name,
    verifier_artifact,
    verifier_name,
    verifier_path,
    vk_document,
)
from zk.verify_py import PROOF_LENGTH

SHAPE = ReferenceShape(4, 4)
PARAMS = ReferenceRuleParams()  # h = 1/2, γ = 0, β = 4, δ = 99/100
ADAPTER = "ReferenceRoundVerifier"
REFERENCE = [1000, -2000, 3000, 500]
# slot 1 a near-copy of slot 0 (cosine > 0.999), slot 2 opposed to r
SKETCHES = [[1000, 0, 3000, 0], [1000, 0, 3000, 100], [-1000, 2000, -3000, -500]]
RANKS = [2, 0, 1]  # slot 1 submitted first, then slot 2, then slot 0: slot 0 is the later copy


@dataclass
class Intake:
    """What the prover reads of an aggregator's IntakeResult."""

    sketch: list[int] | None
    salt: int | None


@dataclass
class Outcome:
    """What the prover reads of a root-of-trust RoundOutcome."""

    reference_result: ReferenceRoundResult
    reference_sketch: list[int]
    reference_salt: int
    flags: list[bool]
    rejections: list[bool]
    scores: list[int]
    aggregate_commitment: int
    order: list[int] | None


@dataclass
class Proved:
    """One proved round: three slots (padded to N = 4 on chain), slot 0 (the later copy) and
    slot 2 (opposed) flagged."""

    commitments: list[int]
    reference_commitment: int
    order: int
    flags: int
    rejections: int
    scores: list[int]
    aggregate: int
    proof: bytes
    public: list[int]
    outcome: Outcome
    intakes: list[Intake]


@pytest.fixture(scope="module")
def ref_keys(tmp_path_factory):
    """A DEVELOPMENT key for ReferenceRound(4, 4, 1, 2) and its key cache."""
    cache = tmp_path_factory.mktemp("ref-verifier-cache")
    return development_keys(SHAPE, cache=cache), cache


def _outcome(reference_salt: int) -> Outcome:
    result = reference_round(SKETCHES, [False] * 3, reference=REFERENCE, params=PARAMS, order=RANKS)
    return Outcome(result, list(REFERENCE), reference_salt, list(result.flags), [False] * 3, list(result.scores),
                   aggregate_commitment(list(result.aggregate)), list(RANKS))


@pytest.fixture(scope="module")
def proved(ref_keys) -> Proved:
    keys, _ = ref_keys
    salts = [random_salt() for _ in SKETCHES]
    outcome = _outcome(random_salt())
    assert outcome.flags == [True, False, True] and outcome.scores[1] > 0
    intakes = [Intake(s, salt) for s, salt in zip(SKETCHES, salts)]
    commitments = [sketch_commitment(s, salt) for s, salt in zip(SKETCHES, salts)]
    prover = make_reference_prover(shape=SHAPE, keys=keys)
    proof = prover(1, 0, outcome, commitments, 12345, intakes)
    return Proved(commitments, prover.reference_commitment(outcome), pack_order(RANKS),
                  outcome.reference_result.flags_mask, 0, outcome.scores, outcome.aggregate_commitment, proof,
                  prover.last.public_inputs, outcome, intakes)


@pytest.fixture(scope="module")
def base(ref_keys, round_keys):
    """(chain, reference deployment, old RoundVerifier address, snapshot)."""
    keys, _ = ref_keys
    chain = EmbeddedChain(accounts=2)
    owner = chain.dev_accounts()[0]
    deployment = deploy_reference_verifier(chain, owner, shape=SHAPE, params=PARAMS, keys=keys)
    old = deploy_round_verifier_full(chain, owner, n=4, k=4, keys=round_keys)
    snapshot = chain.tester.take_snapshot()
    yield chain, deployment, old.address, snapshot
    chain.close()


@pytest.fixture
def adapter(base):
    chain, deployment, _, snapshot = base
    chain.tester.revert_to_snapshot(snapshot)
    return chain.web3.eth.contract(address=deployment.address, abi=load_artifact(ADAPTER)["abi"])


def _args(p: Proved, **changes) -> list:
    values = dict(commitments=p.commitments, seed=12345, reference=p.reference_commitment, order=p.order,
                  flags=p.flags, rejections=p.rejections, scores=p.scores, aggregate=p.aggregate, proof=p.proof)
    values.update(changes)
    return [values[k] for k in ("commitments", "seed", "reference", "order", "flags", "rejections", "scores",
                                "aggregate", "proof")]


def test_reference_verifier_accepts_the_proof_whatever_the_seed(adapter, proved):
    assert adapter.functions.verifyRound(*_args(proved)).call() is True
    assert adapter.functions.verifyRound(*_args(proved, seed=99)).call() is True


def _refusals(p: Proved) -> dict[str, dict]:
    other = sketch_commitment([v + 1 for v in REFERENCE], random_salt())
    return {
        "score+1": dict(scores=[p.scores[0] + 1, *p.scores[1:]]),
        "score-moved": dict(scores=[p.scores[1], p.scores[0], p.scores[2]]),
        "flag-cleared": dict(flags=p.flags ^ 0b100),
        "flag-set": dict(flags=p.flags | 0b010),
        "both-copies-flagged": dict(flags=p.flags | 0b010, scores=[0, 0, 0]),
        "earlier-copy-flagged": dict(flags=0b110, scores=[p.scores[1], 0, 0]),
        "order-swapped": dict(order=pack_order([0, 2, 1])),
        "order-same-sort": dict(order=pack_order([3, 0, 1])),
        "order-default": dict(order=0),
        "order-beyond-n": dict(order=p.order | 1 << 24),
        "rejection-set": dict(rejections=0b001),
        "another-reference": dict(reference=other),
        "reference-0": dict(reference=0),
        "reference-p": dict(reference=FIELD_MODULUS),
        "reference-p-plus": dict(reference=p.reference_commitment + FIELD_MODULUS),
        "aggregate+1": dict(aggregate=p.aggregate + 1),
        "commitment-changed": dict(commitments=[p.commitments[0] + 1, *p.commitments[1:]]),
        "fourth-slot": dict(commitments=[*p.commitments, 0], scores=[*p.scores, 0]),
        "five-slots": dict(commitments=[*p.commitments, 0, 0], scores=[*p.scores, 0, 0]),
    }


@pytest.mark.parametrize("change", [
    "score+1", "score-moved", "flag-cleared", "flag-set", "both-copies-flagged", "earlier-copy-flagged",
    "order-swapped", "order-same-sort", "order-default", "order-beyond-n", "rejection-set", "another-reference",
    "reference-0", "reference-p", "reference-p-plus", "aggregate+1", "commitment-changed", "five-slots"])
def test_reference_verifier_returns_false_on_other_values(adapter, proved, change):
    assert adapter.functions.verifyRound(*_args(proved, **_refusals(proved)[change])).call() is False


def test_reference_verifier_pads_absent_slots(adapter, proved):
    # an explicit absent fourth slot is the same statement as three slots padded to N = 4
    assert adapter.functions.verifyRound(*_args(proved, **_refusals(proved)["fourth-slot"])).call() is True


@pytest.mark.parametrize("kind", ["empty", "short", "long", "zeros", "coordinate-q", "off-curve", "b-words-swapped"])
def test_reference_verifier_returns_false_on_a_malformed_proof(adapter, proved, kind):
    assert adapter.functions.verifyRound(*_args(proved, proof=_malformed(proved.proof, kind))).call() is False


def test_reference_verifier_caps_the_gas_a_bad_proof_can_burn(adapter, base, proved):
    # Prepare: a proof whose pairing fails inside the generated verifier, sent with 3M gas
    chain = base[0]
    sender = chain.dev_accounts()[0]
    call = adapter.functions.verifyRound(*_args(proved, proof=_malformed(proved.proof, "off-curve")))
    tx = call.build_transaction({"from": sender.address, "gas": 3_000_000, "chainId": chain.chain_id,
                                 "nonce": chain.web3.eth.get_transaction_count(sender.address)})

    # Execute
    receipt = chain.web3.eth.wait_for_transaction_receipt(
        chain.web3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction))

    # Assert: no revert, and at most the cap and change burnt
    cap = adapter.functions.verifyGas().call()
    assert receipt["status"] == 1 and cap == default_verify_gas(SHAPE)
    assert cap - 50_000 < receipt["gasUsed"] < cap + 60_000


def test_reference_verifier_public_inputs_match_python(adapter, proved):
    # Prepare: the proved round, and values that fill every packed bit
    big = [(1 << SCORE_BITS) - 1, 1, (1 << SCORE_BITS) - 2]
    commitments = [FIELD_MODULUS - 1, 7, 0]
    f = adapter.functions

    # Execute
    ok, inputs = f.publicInputs(proved.commitments, proved.reference_commitment, proved.order, proved.flags,
                                proved.rejections, proved.scores, proved.aggregate).call()
    top = (1 << 24) - 1  # every rank 63
    ok_big, inputs_big = f.publicInputs(commitments, FIELD_MODULUS - 2, top, 0b101, 0b010, big, 5).call()

    # Assert
    assert ok and list(inputs) == proved.public and inputs[SHAPE.n + 1] == pack_order(RANKS)
    assert ok_big and list(inputs_big) == reference_public_inputs(
        SHAPE, commitments=commitments, reference_commitment=FIELD_MODULUS - 2, order=top, flags=0b101,
        rejections=0b010, params=PARAMS, scores=big, aggregate_commitment=5)
    assert len(inputs_big) == SHAPE.public_count == 11


@pytest.mark.parametrize("change", [
    "five-slots", "score-count", "marks-beyond-slots", "score-2^126", "commitment-p", "aggregate-p", "reference-0",
    "reference-p", "order-2^24", "order-p",
])
def test_reference_verifier_public_inputs_refuse_unrepresentable_values(adapter, proved, change):
    args = dict(commitments=proved.commitments, reference=1, order=0, flags=0, rejections=0, scores=proved.scores,
                aggregate=1)
    args.update({
        "order-2^24": dict(order=1 << 24), "order-p": dict(order=FIELD_MODULUS),
        "five-slots": dict(commitments=[1] * 5, scores=[0] * 5), "score-count": dict(scores=[0, 0]),
        "marks-beyond-slots": dict(rejections=0b1000), "score-2^126": dict(scores=[1 << SCORE_BITS, 0, 0]),
        "commitment-p": dict(commitments=[FIELD_MODULUS, 1, 1]), "aggregate-p": dict(aggregate=FIELD_MODULUS),
        "reference-0": dict(reference=0), "reference-p": dict(reference=FIELD_MODULUS),
    }[change])
    ok, inputs = adapter.functions.publicInputs(args["commitments"], args["reference"], args["order"], args["flags"],
                                                args["rejections"], args["scores"], args["aggregate"]).call()
    assert ok is False and list(inputs) == []
    assert adapter.functions.verifyRound(args["commitments"], 0, args["reference"], args["order"], args["flags"],
                                         args["rejections"], args["scores"], args["aggregate"],
                                         b"\x00" * PROOF_LENGTH).call() is False


def test_reference_verifier_reports_its_configuration(adapter, base):
    _, deployment, old, _ = base
    f = adapter.functions
    assert f.usesReference().call() is True
    assert f.groth16Verifier().call() == deployment.groth16_verifier
    assert (f.slots().call(), f.sketchLength().call()) == (4, 4)
    assert (f.hNumerator().call(), f.hDenominator().call()) == (1, 2)
    assert f.params().call() == pack_params(PARAMS)
    assert f.publicInputCount().call() == SHAPE.public_count
    signature = f"verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[{SHAPE.public_count}])"
    assert f.verifySelector().call() == keccak(text=signature)[:4]
    old_adapter = adapter.w3.eth.contract(address=old, abi=load_artifact("RoundVerifier")["abi"])
    assert old_adapter.functions.usesReference().call() is False


_GOOD = dict(n=4, k=4, h_num=1, h_den=2, params=pack_params(PARAMS), gas=500_000)
_BAD_CONFIGS = {
    "n=0": dict(n=0), "n=43": dict(n=43), "k=0": dict(k=0), "k=2^14+1": dict(k=(1 << 14) + 1),
    "h_num=0": dict(h_num=0), "h_den=0": dict(h_den=0), "h_num=2^32": dict(h_num=1 << 32),
    "h_den=2^32": dict(h_den=1 << 32), "params-bit-192": dict(params=pack_params(PARAMS) | 1 << 192),
    "gamma_den=0": dict(params=pack_params(PARAMS) & ~(((1 << 32) - 1) << 32)),
    "beta_num=0": dict(params=pack_params(PARAMS) & ~(((1 << 32) - 1) << 64)),
    "delta_den=0": dict(params=pack_params(PARAMS) & ~(((1 << 32) - 1) << 160)),
    "gas=0": dict(gas=0), "no-code": dict(verifier="0x" + "11" * 20),
}


def _deploy_adapter(chain, values: dict):
    artifact = load_artifact(ADAPTER)
    decoder = RevertDecoder(artifact["abi"])
    factory = chain.web3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    call = factory.constructor(Web3.to_checksum_address(values["verifier"]), values["n"], values["k"],
                               values["h_num"], values["h_den"], values["params"], values["gas"])

    def revert(exc: BaseException, fn: str) -> Exception:
        return decoder.decode(revert_data(exc)) or TransactionFailed(f"{fn} reverted: {exc}")
    return send_transaction(chain, chain.dev_accounts()[0], call, f"deploy {ADAPTER}", revert=revert)


@pytest.mark.parametrize("change", list(_BAD_CONFIGS), ids=list(_BAD_CONFIGS))
def test_reference_verifier_constructor_refuses_a_bad_configuration(base, change):
    chain, deployment, _, snapshot = base
    chain.tester.revert_to_snapshot(snapshot)
    values = {**_GOOD, "verifier": deployment.groth16_verifier, **_BAD_CONFIGS[change]}
    with pytest.raises(ContractRevert) as refused:
        _deploy_adapter(chain, values)
    assert refused.value.name == "ReferenceRoundVerifierInvalidConfig"
    args = refused.value.args_by_name
    assert args["verifier"] == Web3.to_checksum_address(values["verifier"])
    assert (args["slots"], args["sketchLength"], args["hNumerator"], args["hDenominator"], args["params"],
            args["verifyGas"]) == tuple(values[k] for k in ("n", "k", "h_num", "h_den", "params", "gas"))


def test_reference_verifier_constructor_accepts_every_bound(base):
    chain, deployment, _, snapshot = base
    chain.tester.revert_to_snapshot(snapshot)
    top = (1 << 32) - 1
    values = dict(_GOOD, verifier=deployment.groth16_verifier, n=42, k=1 << 14, h_num=top, h_den=top,
                  params=pack_params(ReferenceRuleParams(1, 2, 0, top, top, top, top, top)))
    assert _deploy_adapter(chain, values).contract_address


def test_reference_deploy_helper_records_the_deployment(base, ref_keys):
    chain, deployment, _, snapshot = base
    keys, _ = ref_keys
    assert deployment.shape == SHAPE and deployment.params == PARAMS and "DEVELOPMENT" in deployment.key_label
    assert deployment.gas_used > 0 and chain.web3.eth.get_code(deployment.groth16_verifier)
    chain.tester.revert_to_snapshot(snapshot)
    owner = chain.dev_accounts()[0]
    with pytest.raises(ValueError, match="h = 1/1"):
        deploy_reference_verifier(chain, owner, shape=SHAPE, params=ReferenceRuleParams(h_num=1, h_den=1), keys=keys)
    with pytest.raises(ValueError, match="keys are for"):
        deploy_reference_verifier(chain, owner, shape=ReferenceShape(5, 3), params=PARAMS, keys=keys)


def test_reference_generated_verifier_is_named_for_solidity(base, ref_keys):
    # Prepare
    chain, deployment, _, _ = base
    keys, _ = ref_keys
    big = ReferenceShape(16, 32)

    # Execute
    source = generate_verifier_source(SHAPE, keys.vk_json, origin=keys.origin, circuit_hash=keys.circuit_hash)
    artifact = verifier_artifact(keys)

    # Assert: valid identifiers, apart from the committed round verifier's, and the deployed code
    assert verifier_name(big) == "ReferenceGroth16Verifier16x32h1d2" and big.name == "ref16x32h1-2"
    assert pairing_library_name(big) == "Groth16PairingRef16x32h1d2"
    for name in (verifier_name(SHAPE), pairing_library_name(SHAPE)):
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
    assert f"contract {verifier_name(SHAPE)}" in source and f"library {pairing_library_name(SHAPE)}" in source
    header, body = source.split("pragma solidity")
    assert not re.search(r"\bPairing\b", body) and "ReferenceRound(4, 4, 1, 2)" in header
    assert artifact["contractName"] == "ReferenceGroth16Verifier4x4h1d2"
    assert not verifier_path(SHAPE).exists()  # compiled on demand, never committed
    deployed = bytes(chain.web3.eth.get_code(deployment.groth16_verifier)).hex()
    assert deployed == artifact["deployedBytecode"].removeprefix("0x")
    assert vk_document(keys)["circuit"] == "ReferenceRound" and vk_document(keys)["hDen"] == 2


def test_reference_prover_refuses_values_not_the_rules(ref_keys, proved):
    keys, _ = ref_keys
    prover = make_reference_prover(shape=SHAPE, keys=keys)
    outcome = proved.outcome
    wrong = dataclasses.replace(outcome, scores=[outcome.scores[0] + 1, *outcome.scores[1:]])
    with pytest.raises(WitnessInputError, match="not the reference rule's"):
        prover(1, 0, wrong, proved.commitments, 0, proved.intakes)
    with pytest.raises(WitnessInputError, match="intake results"):
        prover(1, 0, outcome, proved.commitments, 0, proved.intakes[:2])
    assert prover.reference_commitment(outcome) == proved.reference_commitment
    assert prover.key_document()["circuit"] == "ReferenceRound"


def _check(base, proved, **changes):
    chain, deployment, _, _ = base
    values = dict(proof=proved.proof, commitments=proved.commitments, reference_commitment=proved.reference_commitment,
                  order=proved.order, flags=proved.flags, rejections=proved.rejections, scores=proved.scores,
                  aggregate_commitment=proved.aggregate)
    values.update(changes)
    return check_reference_proof(chain.web3, deployment.address, **values)


def test_reference_audit_recheck_verifies_under_the_deployed_key(base, ref_keys, proved):
    keys, cache = ref_keys
    given = _check(base, proved, keys=[vk_document(keys)], cache=cache)
    cached = _check(base, proved, cache=cache)
    assert given.ok and given.key_source == "given key" and "verifies" in given.detail
    assert cached.ok and cached.key_source.startswith("the local key cache")


def test_reference_audit_recheck_refuses_what_the_chain_would(base, ref_keys, proved):
    chain, _, old, _ = base
    keys, cache = ref_keys
    doc = [vk_document(keys)]
    wrong = _check(base, proved, keys=doc, cache=cache, scores=[proved.scores[0] + 1, *proved.scores[1:]])
    assert not wrong.ok and "DOES NOT verify" in wrong.detail
    swapped = _check(base, proved, keys=doc, cache=cache, order=pack_order([0, 2, 1]))
    assert not swapped.ok and "DOES NOT verify" in swapped.detail
    beyond = _check(base, proved, keys=doc, cache=cache, order=1 << 24)
    assert not beyond.ok and "not public inputs" in beyond.detail
    assert "no reference commitment" in _check(base, proved, keys=doc, cache=cache, reference_commitment=0).detail
    too_many = _check(base, proved, keys=doc, cache=cache, commitments=[1] * 5, scores=[0] * 5)
    assert not too_many.ok and "not public inputs" in too_many.detail
    assert "no known key" in _check(base, proved, cache=cache / "empty").detail
    assert "not a ReferenceRoundVerifier" in check_reference_proof(
        chain.web3, old, proof=proved.proof, commitments=proved.commitments, reference_commitment=1, flags=0,
        rejections=0, scores=proved.scores, aggregate_commitment=proved.aggregate, cache=cache).detail


def test_reference_audit_reads_the_adapter(base):
    chain, deployment, old, _ = base
    verifier = read_reference_verifier(chain.web3, deployment.address)
    assert verifier.shape == SHAPE and verifier.params == PARAMS
    assert verifier.groth16_verifier == deployment.groth16_verifier
    assert uses_reference(chain.web3, deployment.address) and not uses_reference(chain.web3, old)
    assert not uses_reference(chain.web3, "0x" + "11" * 20)
    assert unpack_params(pack_params(ReferenceRuleParams(3, 4, 5, 6, 7, 8, 9, 10)), h_num=3, h_den=4) == \
        ReferenceRuleParams(3, 4, 5, 6, 7, 8, 9, 10)

"""Rounds published through the Marketplace with the Groth16 round verifier, on the embedded chain.

The task names the RoundVerifier adapter; the Marketplace feeds it the commitments it stored.
An honest round publishes (proofVerified); changing any one flag, rejection, score, stored
commitment or the aggregate commitment makes the Marketplace revert MarketplaceProofRejected,
and the independent Python verifier refuses the same public inputs.
"""

from __future__ import annotations

import pytest

from market.exceptions import ContractRevert
from tests.zk.round_cases import B, RoundCase, absent, active, rejected, uncommitted
from zk.protocol.commitment import random_salt, sketch_commitment
from zk.verify_py import VerificationKey, verify

K = 4
# three close updates around a center and one far above it: the lower median is the center,
# D the distance of the two neighbours, and only the far one is flagged
GOOD = [[400_000, -250_000, 90_000, 1_000], [401_000, -250_700, 90_500, 1_300], [399_000, -249_300, 89_500, 700],
        [5_400_000, 4_750_000, 5_090_000, 5_001_000]]


def honest_case() -> RoundCase:
    """Four trainers, the last an outlier (flagged), all scored but it."""
    return RoundCase([active(s) for s in GOOD], K)


@pytest.fixture(scope="module")
def py_vk(round_keys) -> VerificationKey:
    return VerificationKey.from_json(round_keys.vk_json)


def test_round_chain_honest_round_is_published_verified(zk_market, round_verifier, py_vk, round_keys):
    # Prepare
    case = honest_case()

    # Execute
    pub, result = zk_market.run(case, round_verifier)

    # Assert
    published = result.event("RoundPublished")
    assert published["proofVerified"] is True
    assert published["flags"] == 0b1000
    assert list(published["scores"]) == case.scores and case.scores[3] == 0 and min(case.scores[:3]) > 0
    info = zk_market.market.get_round(pub.task_id, 0)
    assert info.proof_verified
    assert verify(py_vk, pub.proof.proof, case.public(round_keys))
    trainer = zk_market.market.get_trainer(pub.task_id, zk_market.trainers[0].address)
    assert trainer.points == case.scores[0]


def _tampered(case: RoundCase, what: str) -> dict:
    """The case's published values with one changed."""
    values = dict(flags=case.flags_mask, rejections=case.rejections_mask, scores=case.scores,
                  aggregate=case.aggregate_commitment)
    if what == "flag":  # flag slot 0 as well (score 0 so the Marketplace's own checks pass)
        values["flags"] |= 1
        values["scores"][0] = 0
    elif what == "unflag":
        values["flags"] &= ~0b1000
    elif what == "rejection":  # reject slot 1 instead of scoring it
        values["rejections"] |= 0b10
        values["scores"][1] = 0
    elif what == "score":
        values["scores"][2] += 1
    elif what == "score-zeroed":
        values["scores"][0] = 0
    elif what == "aggregate":
        values["aggregate"] = sketch_commitment([1, 2, 3, 4], random_salt())
    else:
        raise AssertionError(what)
    return values


@pytest.mark.parametrize("what", ["flag", "unflag", "rejection", "score", "score-zeroed", "aggregate"])
def test_round_chain_rejects_a_changed_public_value(zk_market, round_verifier, round_keys, py_vk, what):
    # Prepare: a proof for the honest values
    case = honest_case()
    task_id = zk_market.prepare(case, round_verifier)
    proof = case.prove(round_keys)
    values = _tampered(case, what)

    # Execute / Assert: the chain refuses, and so does the Python verifier
    with pytest.raises(ContractRevert) as info:
        zk_market.publish(task_id, proof=proof.proof, **values)
    assert info.value.name == "MarketplaceProofRejected"
    public = case.public(round_keys, flags=values["flags"], rejections=values["rejections"], scores=values["scores"],
                         aggregate_commitment=values["aggregate"])
    assert not verify(py_vk, proof.proof, public)


def test_round_chain_rejects_a_proof_for_other_commitments(zk_market, round_verifier, round_keys, py_vk):
    # Prepare: trainer 2 stored a different commitment than the one the proof opens
    case = honest_case()
    proof = case.prove(round_keys)
    case.slots[2].salt = random_salt()  # the trainer commits with another salt
    task_id = zk_market.prepare(case, round_verifier)
    stored = zk_market.market.get_commitments(task_id, 0)
    assert stored[2] != proof.public_inputs[2]

    # Execute / Assert
    with pytest.raises(ContractRevert) as info:
        zk_market.publish(task_id, proof=proof.proof, flags=case.flags_mask, rejections=case.rejections_mask,
                          scores=case.scores, aggregate=case.aggregate_commitment)
    assert info.value.name == "MarketplaceProofRejected"
    assert not verify(py_vk, proof.proof, case.public(round_keys, commitments=stored))


CHAIN_EDGE_CASES = {
    "one-trainer": lambda: RoundCase([active([7, -7, 7, -7])], K),
    "all-rejected": lambda: RoundCase([rejected(GOOD[0]), uncommitted(K), rejected(GOOD[1])], K),
    "empty-slot": lambda: RoundCase([active(GOOD[0]), absent(), active(GOOD[1])], K),
    "zero-sketch": lambda: RoundCase([active([0] * K), active(GOOD[0]), active(GOOD[1])], K),
    "extremes": lambda: RoundCase([active([B, -B, B, -B]), active([B] * K), active([-B] * K), active([B, B, -B, 0])],
                                  K),
}


@pytest.mark.parametrize("name", list(CHAIN_EDGE_CASES))
def test_round_chain_edge_case_is_published_verified(zk_market, round_verifier, name):
    case = CHAIN_EDGE_CASES[name]()
    _, result = zk_market.run(case, round_verifier)
    assert result.event("RoundPublished")["proofVerified"] is True


def test_round_chain_all_flagged_with_tau_half(zk_market, round_verifier, round_verifier_half_tau):
    # Prepare: with τ = 1/2 every trainer is flagged; the τ = 4 adapter refuses the same proof
    case = RoundCase([active([1, 0, 0, 0]), active([0, 1, 0, 0]), active([-1, -1, 0, 0])], K, tau=(1, 2))
    assert all(case.result.flags)
    task_id = zk_market.prepare(case, round_verifier)
    proof = case.prove(zk_market.keys)
    values = dict(flags=case.flags_mask, rejections=0, scores=case.scores, aggregate=case.aggregate_commitment)
    with pytest.raises(ContractRevert) as info:
        zk_market.publish(task_id, proof=proof.proof, **values)
    assert info.value.name == "MarketplaceProofRejected"

    # Execute
    _, result = zk_market.run(case, round_verifier_half_tau)

    # Assert
    published = result.event("RoundPublished")
    assert published["proofVerified"] is True and published["flags"] == 0b111

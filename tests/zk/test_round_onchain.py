"""zk/onchain.py: a published round's proof verified again in Python, under the key the deployed
verifier was generated from, with public inputs rebuilt from chain data (what `market audit` does)."""

from __future__ import annotations

import copy

import pytest

from tests.zk.test_round_chain import honest_case
from zk.onchain import (
    NotARoundVerifierError,
    check_published_proof,
    matching_key_document,
    published_proof,
    read_round_verifier,
)
from zk.solidity import vk_document


def test_read_round_verifier_reads_the_adapter(zk_market, zk_base, round_keys):
    # Execute
    onchain = read_round_verifier(zk_market.chain.web3, zk_base[2].address)

    # Assert
    assert onchain.shape == round_keys.shape
    assert (onchain.tau_num, onchain.tau_den) == (4, 1)
    assert onchain.groth16_verifier == zk_base[2].groth16_verifier


def test_read_round_verifier_refuses_another_contract(zk_market):
    # Execute / Assert: the Marketplace is no RoundVerifier
    with pytest.raises(NotARoundVerifierError, match="not a RoundVerifier adapter"):
        read_round_verifier(zk_market.chain.web3, zk_market.market.address)


def test_published_round_proof_verifies_in_python(zk_market, round_verifier, round_keys):
    # Prepare
    pub, result = zk_market.run(honest_case(), round_verifier)

    # Execute
    check = check_published_proof(zk_market.market, pub.task_id, 0, keys=[vk_document(round_keys)],
                                  cache=round_keys.directory.parent)

    # Assert: the proof read back from the calldata is the one sent, and it verifies
    assert published_proof(zk_market.market, result.tx_hash) == pub.proof.proof
    assert check.ok, check.detail
    assert check.key_source == "given key" and "verifies" in check.detail


def test_transcript_key_is_used_only_when_it_generates_the_deployed_verifier(zk_market, round_verifier,
                                                                            round_keys, tmp_path):
    # Prepare: a key document whose α is another point (2·α) is not the deployed verifier's key
    pub, _ = zk_market.run(honest_case(), round_verifier)
    right = vk_document(round_keys)
    wrong = copy.deepcopy(right)
    from py_ecc.bn128 import FQ, multiply

    x, y, _ = (int(v) for v in wrong["verificationKey"]["vk_alpha_1"])
    x2, y2 = multiply((FQ(x), FQ(y)), 2)
    wrong["verificationKey"]["vk_alpha_1"] = [str(int(x2)), str(int(y2)), "1"]

    # Execute
    onchain = read_round_verifier(zk_market.chain.web3, round_verifier)
    cache = round_keys.directory.parent
    # an auditor whose own key cache is empty: the transcript's key is its only candidate
    with_wrong = check_published_proof(zk_market.market, pub.task_id, 0, transcript_key=wrong,
                                       cache=tmp_path)
    with_right = check_published_proof(zk_market.market, pub.task_id, 0, transcript_key=right,
                                       cache=cache)
    found = matching_key_document(zk_market.chain.web3, onchain, [("wrong", wrong), ("right", right)], cache=cache)

    # Assert: the wrong key is never taken on the transcript's word; the right one is found
    assert not with_wrong.ok
    assert "no known key generates the verifier" in with_wrong.detail
    assert with_right.ok and with_right.key_source == "the aggregator's transcript"
    assert found is not None and found[0] == "right"


def test_trusted_task_has_no_proof_to_check(zk_market):
    # Prepare: a trusted-aggregator task (verifier 0), one round published without a proof
    case = honest_case()
    task_id = zk_market.prepare(case, "0x0000000000000000000000000000000000000000")
    zk_market.publish(task_id, flags=case.flags_mask, rejections=case.rejections_mask, scores=case.scores,
                      aggregate=case.aggregate_commitment, proof=b"")

    # Execute
    check = check_published_proof(zk_market.market, task_id, 0)

    # Assert
    assert not check.ok and "trusted-aggregator mode" in check.detail

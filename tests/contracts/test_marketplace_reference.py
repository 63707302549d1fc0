"""The round's reference (the root-of-trust rule): its digest before any submission, its sketch
commitment after the seed, and the commitment among the values the verifier checks.

A task whose verifier says ``usesReference()`` (ReferenceHashCheckVerifier here) refuses
submissions until the aggregator fixed the round's reference digest, refuses the digest once a
submission exists (so it cannot be aimed at an update), and publishes only with the reference's
sketch commitment, which the Marketplace itself passes to the verifier.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from market.marketplace import deploy_contract
from tests.contracts.conftest import FIELD, hash_proof

REFERENCE = keccak(text="the round's reference update")
SKETCH = 123_456_789


@pytest.fixture
def reference_verifier(chain, actors, market) -> str:
    address = deploy_contract(chain, "ReferenceHashCheckVerifier", actors.owner).contract_address
    market.approve_verifier(actors.owner, address)
    return address


@pytest.fixture
def started(drive, reference_verifier):
    """A started reference task, 2 trainers, 2 rounds; round 0 open, no reference yet."""
    return drive("started", trainers=2, rounds=2, verifier=reference_verifier)


def _through_close(flow, market, round_: int = 0) -> None:
    market.commit_reference(flow.aggregator, flow.task_id, round_, REFERENCE)
    flow.submit(round_)
    flow.close(round_)
    flow.commit(round_)


def test_the_task_reads_uses_reference_from_its_verifier(drive, reference_verifier, hash_verifier) -> None:
    assert drive("created", verifier=reference_verifier).task().uses_reference is True
    assert drive("created", verifier=hash_verifier).task().uses_reference is False
    assert drive("created").task().uses_reference is False  # trusted aggregator


def test_submission_waits_for_the_reference_digest(started, market, reverts) -> None:
    flow = started
    with reverts("MarketplaceReferenceMissing", taskId=flow.task_id, round=0):
        flow.submit(0, flow.trainers[:1])
    result = market.commit_reference(flow.aggregator, flow.task_id, 0, REFERENCE)
    assert result.event("ReferenceCommitted")["digest"] == REFERENCE
    assert flow.round(0).reference_digest == REFERENCE
    flow.submit(0)
    assert flow.round(0).submissions == 2


def test_the_reference_digest_is_fixed_before_any_submission_and_once(started, market, reverts) -> None:
    flow = started
    market.commit_reference(flow.aggregator, flow.task_id, 0, REFERENCE)
    with reverts("MarketplaceReferenceAlreadyCommitted", taskId=flow.task_id, round=0):
        market.commit_reference(flow.aggregator, flow.task_id, 0, keccak(text="another"))
    flow.submit(0, flow.trainers[:1])
    assert flow.round(0).reference_digest == REFERENCE


def test_the_reference_digest_refuses_bad_callers_and_values(started, market, actors, reverts, drive,
                                                             hash_verifier) -> None:
    flow = started
    with reverts("MarketplaceUnauthorized", taskId=flow.task_id, caller=actors.outsider.address):
        market.commit_reference(actors.outsider, flow.task_id, 0, REFERENCE)
    with reverts("MarketplaceInvalidDigest"):
        market.commit_reference(flow.aggregator, flow.task_id, 0, b"\x00" * 32)
    with reverts("MarketplaceWrongRound", taskId=flow.task_id, round=1):
        market.commit_reference(flow.aggregator, flow.task_id, 1, REFERENCE)
    plain = drive("started", verifier=hash_verifier)
    with reverts("MarketplaceReferenceNotUsed", taskId=plain.task_id):
        market.commit_reference(plain.aggregator, plain.task_id, 0, REFERENCE)
    with reverts("MarketplaceReferenceNotUsed", taskId=plain.task_id):
        market.commit_reference_sketch(plain.aggregator, plain.task_id, 0, SKETCH)


def test_the_sketch_commitment_comes_after_the_seed_and_once(started, market, reverts, actors) -> None:
    flow = started
    market.commit_reference(flow.aggregator, flow.task_id, 0, REFERENCE)
    flow.submit(0)
    with reverts("MarketplaceSubmissionsNotClosed", taskId=flow.task_id, round=0):
        market.commit_reference_sketch(flow.aggregator, flow.task_id, 0, SKETCH)
    flow.close(0)
    with reverts("MarketplaceUnauthorized", taskId=flow.task_id, caller=actors.outsider.address):
        market.commit_reference_sketch(actors.outsider, flow.task_id, 0, SKETCH)
    for bad in (0, FIELD):
        with reverts("MarketplaceInvalidFieldElement", value=bad):
            market.commit_reference_sketch(flow.aggregator, flow.task_id, 0, bad)
    result = market.commit_reference_sketch(flow.aggregator, flow.task_id, 0, SKETCH)
    assert result.event("ReferenceSketchCommitted")["commitment"] == SKETCH
    assert flow.round(0).reference_commitment == SKETCH
    with reverts("MarketplaceReferenceAlreadyCommitted", taskId=flow.task_id, round=0):
        market.commit_reference_sketch(flow.aggregator, flow.task_id, 0, SKETCH + 1)


def test_publication_needs_the_reference_commitment_and_proves_it(started, market, reverts) -> None:
    flow = started
    _through_close(flow, market)
    with reverts("MarketplaceReferenceMissing", taskId=flow.task_id, round=0):
        flow.publish(0, scores=[1, 2], proof=b"\x01" * 32)
    market.commit_reference_sketch(flow.aggregator, flow.task_id, 0, SKETCH)
    without = hash_proof(market, flow.task_id, 0, flags=0, rejections=0, scores=[1, 2], aggregate=0, reference=0)
    with reverts("MarketplaceProofRejected", taskId=flow.task_id, round=0):
        flow.publish(0, scores=[1, 2], proof=without)
    other = hash_proof(market, flow.task_id, 0, flags=0, rejections=0, scores=[1, 2], aggregate=0, reference=SKETCH + 1)
    with reverts("MarketplaceProofRejected", taskId=flow.task_id, round=0):
        flow.publish(0, scores=[1, 2], proof=other)
    result = flow.publish(0, scores=[1, 2])  # the default proof hashes the chain's reference commitment
    assert result.event("RoundPublished")["proofVerified"] is True
    with reverts("MarketplaceReferenceMissing", taskId=flow.task_id, round=1):
        flow.submit(1, flow.trainers[:1])  # round 1 needs its own reference


def test_an_empty_round_may_get_its_reference_late(started, market, reverts) -> None:
    flow = started
    flow.close(0)  # nobody could submit: no digest yet
    with reverts("MarketplaceReferenceMissing", taskId=flow.task_id, round=0):
        market.commit_reference_sketch(flow.aggregator, flow.task_id, 0, SKETCH)
    market.commit_reference(flow.aggregator, flow.task_id, 0, REFERENCE)  # no update to aim at
    market.commit_reference_sketch(flow.aggregator, flow.task_id, 0, SKETCH)
    result = flow.publish(0, scores=[0, 0], rejections=[])
    assert result.event("RoundSettled")["refunded"] > 0  # nobody submitted: the budget goes back


def test_the_round_records_the_submission_order(drive, reference_verifier, market) -> None:
    flow = drive("started", trainers=4, rounds=1, verifier=reference_verifier)
    market.commit_reference(flow.aggregator, flow.task_id, 0, REFERENCE)
    flow.submit(0, [flow.trainers[2], flow.trainers[0], flow.trainers[3]])  # slot 1 never submits
    info = flow.round(0)
    assert info.ranks(4) == [1, 0, 0, 2]
    assert info.order == 1 << 0 | 0 << 6 | 0 << 12 | 2 << 18

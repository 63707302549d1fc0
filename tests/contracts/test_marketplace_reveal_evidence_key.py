"""Marketplace.revealEvidenceKey: the aggregator's evidence for a rejected submission."""

from __future__ import annotations

import pytest

from tests.contracts.conftest import digest_of, event_names

KEY = digest_of("x25519-decryption-key")


@pytest.fixture
def rejected(drive):
    """Round 0 of 2 published with trainer 1 rejected."""
    return drive("published", trainers=2, rounds=2, scores=[1, 0], rejections=[1])


def test_reveal_evidence_key_emits_event_for_rejected_trainer(rejected, market, actors):
    # Prepare
    flow = rejected
    trainer = flow.trainers[1]

    # Execute
    result = market.reveal_evidence_key(actors.aggregator, flow.task_id, 0, trainer.address, KEY)

    # Assert
    assert event_names(result) == ["EvidenceKeyRevealed"]
    assert result.event("EvidenceKeyRevealed") == {
        "taskId": flow.task_id, "round": 0, "trainer": trainer.address, "key": KEY,
    }
    logged = market.events("EvidenceKeyRevealed", taskId=flow.task_id)
    assert [e["args"]["trainer"] for e in logged] == [trainer.address]
    assert market.round_keys("EvidenceKeyRevealed", flow.task_id, 0) == {trainer.address: KEY}
    assert market.round_keys("EvidenceKeyRevealed", flow.task_id, 1) == {}
    assert market.round_keys("RejectionContested", flow.task_id, 0) == {}


def test_reveal_evidence_key_after_task_finished(rejected, market, actors):
    # Prepare: evidence may come after the task ended
    flow = rejected
    flow.run_round()
    flow.finalize()

    # Execute
    result = market.reveal_evidence_key(actors.aggregator, flow.task_id, 0, flow.trainers[1].address, KEY)

    # Assert
    assert result.event("EvidenceKeyRevealed")["round"] == 0


@pytest.mark.parametrize("who", ["owner", "outsider", "trainer"])
def test_reveal_evidence_key_reverts_for_non_aggregator(rejected, market, actors, reverts, who):
    caller = rejected.trainers[0] if who == "trainer" else getattr(actors, who)
    with reverts("MarketplaceUnauthorized", taskId=rejected.task_id, caller=caller.address):
        market.reveal_evidence_key(caller, rejected.task_id, 0, rejected.trainers[1].address, KEY)


@pytest.mark.parametrize("round_", [1, 2, 999])
def test_reveal_evidence_key_reverts_for_unpublished_round(rejected, market, actors, reverts, round_):
    with reverts("MarketplaceRoundNotPublished", taskId=rejected.task_id, round=round_):
        market.reveal_evidence_key(actors.aggregator, rejected.task_id, round_, rejected.trainers[1].address, KEY)


def test_reveal_evidence_key_reverts_for_trainer_not_rejected(rejected, market, actors, reverts):
    trainer = rejected.trainers[0]
    with reverts("MarketplaceNotRejected", taskId=rejected.task_id, round=0, trainer=trainer.address):
        market.reveal_evidence_key(actors.aggregator, rejected.task_id, 0, trainer.address, KEY)


def test_reveal_evidence_key_reverts_for_flagged_only_trainer(drive, market, actors, reverts):
    # Prepare: flagged is not rejected: there is no invalid submission to give evidence for
    flow = drive("published", scores=[1, 0], flags=[1])

    # Execute / Assert
    with reverts("MarketplaceNotRejected", trainer=flow.trainers[1].address):
        market.reveal_evidence_key(actors.aggregator, flow.task_id, 0, flow.trainers[1].address, KEY)


def test_reveal_evidence_key_reverts_for_account_that_never_joined(rejected, market, actors, reverts):
    flow = rejected
    with reverts("MarketplaceNotRejected", trainer=actors.outsider.address):
        market.reveal_evidence_key(actors.aggregator, flow.task_id, 0, actors.outsider.address, KEY)


def test_reveal_evidence_key_reverts_for_non_member_when_slot_zero_rejected(drive, market, actors, reverts):
    # Prepare: slot 0 rejected; an outsider's (unset) slot is also 0, but it never joined
    flow = drive("published", scores=[0, 1], rejections=[0])

    # Execute / Assert
    with reverts("MarketplaceNotRejected", trainer=actors.outsider.address):
        market.reveal_evidence_key(actors.aggregator, flow.task_id, 0, actors.outsider.address, KEY)


def test_reveal_evidence_key_reverts_on_unknown_task(market, actors, reverts):
    with reverts("MarketplaceUnknownTask", taskId=5):
        market.reveal_evidence_key(actors.aggregator, 5, 0, actors.trainers[0].address, KEY)

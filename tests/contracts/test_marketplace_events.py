"""Every state change emits an event: the events each call emits, in order, and the event log."""

from __future__ import annotations

from market.artifacts import load_artifact
from market.marketplace import deploy_contract
from market.types import SLASH_SINK, CreditKind
from tests.contracts.conftest import REWARD, STAKE, credits_by_kind, digest_of, event_names


def test_events_whole_task_emits_one_event_per_state_change(drive, market, actors):
    # Prepare / Execute: a 2-trainer, 2-round task from post to withdraw; trainer 1 rejected in round 1
    flow = drive("created", trainers=2, rounds=2)
    flow.join(actors.trainers[:2])
    flow.start()
    flow.run_round(scores=[1, 2])
    flow.submit(1)
    flow.close(1)
    flow.commit(1)
    flow.publish(1, scores=[3, 0], rejections=[1])
    reveal = market.reveal_evidence_key(actors.aggregator, flow.task_id, 1, flow.trainers[1].address, digest_of("k"))
    contest = market.contest_rejection(flow.trainers[1], flow.task_id, 1, digest_of("k"))
    flow.finalize()
    withdraw = market.withdraw(flow.trainers[0])

    # Assert: the events of each call, in order
    names = [(r.function, event_names(r)) for r in flow.results]
    assert names == [
        ("createTask", ["TaskCreated"]),
        ("join", ["TrainerJoined"]),
        ("join", ["TrainerJoined"]),
        ("start", ["TaskStarted", "RoundOpened"]),
        ("submitUpdate", ["UpdateSubmitted"]),
        ("submitUpdate", ["UpdateSubmitted"]),
        ("closeSubmissions", ["SubmissionsClosed"]),
        ("commitSketch", ["SketchCommitted"]),
        ("commitSketch", ["SketchCommitted"]),
        ("publishRound", ["RoundPublished", "RoundSettled", "RoundOpened"]),
        ("submitUpdate", ["UpdateSubmitted"]),
        ("submitUpdate", ["UpdateSubmitted"]),
        ("closeSubmissions", ["SubmissionsClosed"]),
        ("commitSketch", ["SketchCommitted"]),
        ("commitSketch", ["SketchCommitted"]),
        ("publishRound", ["RoundPublished", "RoundSettled"]),
        ("finalize", ["PaymentCredited"] * 6 + ["TaskFinalized"]),
    ]
    assert event_names(reveal) == ["EvidenceKeyRevealed"]
    assert event_names(contest) == ["RejectionContested"]
    assert event_names(withdraw) == ["Withdrawn"]
    # round 0 (half the reward) by scores 1 : 2; round 1: trainer 0's 3 against the rejected
    # slot's reserve of 3 (a quarter of the reward withheld); the rejection is no strike
    first, second = (t.address for t in flow.trainers)
    half = REWARD // 2
    reward_first, reward_second, withheld = half // 3 + half * 3 // 6, half * 2 // 3, half * 3 // 6
    assert credits_by_kind(flow.results[-1]) == [
        (first, reward_first, CreditKind.REWARD),
        (first, STAKE, CreditKind.STAKE_RETURNED),
        (second, reward_second, CreditKind.REWARD),
        (second, STAKE, CreditKind.STAKE_RETURNED),
        (SLASH_SINK, withheld, CreditKind.WITHHELD),
        (actors.owner.address, REWARD - reward_first - reward_second - withheld, CreditKind.DUST),
    ]


def test_events_log_holds_every_declared_event(drive, make_task, market, actors):
    # Prepare / Execute: one finished task (with a transcript, an evidence key, a slashed stake and
    # a withdrawal), one cancelled, one aborted
    flow = drive("committed", trainers=3, rounds=1)
    flow.publish(0, scores=[1, 0, 0], flags=[2], rejections=[1], transcript="bafy-transcript")
    market.reveal_evidence_key(actors.aggregator, flow.task_id, 0, flow.trainers[1].address, digest_of("k"))
    market.contest_rejection(flow.trainers[1], flow.task_id, 0, digest_of("k"))
    flow.finalize()
    market.withdraw(flow.trainers[0])
    make_task().cancel()
    admitting = make_task(allowlist_only=True)
    market.allow_trainers(actors.owner, admitting.task_id, [actors.trainers[0].address])  # TrainerAllowed
    admitting.join(actors.trainers[:1])
    market.leave(actors.trainers[0], admitting.task_id)  # TrainerLeft
    aborted = drive("started")
    aborted.pass_publish_deadline(0)
    aborted.abort()
    reference_verifier = deploy_contract(market.chain, "ReferenceHashCheckVerifier", actors.owner).contract_address
    market.approve_verifier(actors.owner, reference_verifier)  # VerifierApproved
    reference = drive("started", verifier=reference_verifier)
    market.commit_reference(actors.aggregator, reference.task_id, 0, digest_of("reference"))
    reference.close(0)  # nobody submitted: the round may still get its reference sketch
    market.commit_reference_sketch(actors.aggregator, reference.task_id, 0, 7)

    # Assert: the chain's log has at least one of every event the ABI declares
    declared = {e["name"] for e in load_artifact("Marketplace")["abi"] if e["type"] == "event"}
    logged = {name for name in declared if market.events(name)}
    assert logged == declared


def test_events_filter_by_task(drive, market):
    # Prepare
    first = drive("joined")
    second = drive("joined", trainers=3)

    # Execute
    joined_first = market.events("TrainerJoined", taskId=first.task_id)
    joined_second = market.events("TrainerJoined", taskId=second.task_id)

    # Assert
    assert [e["args"]["slot"] for e in joined_first] == [0, 1]
    assert [e["args"]["slot"] for e in joined_second] == [0, 1, 2]
    assert all(e["args"]["taskId"] == second.task_id for e in joined_second)

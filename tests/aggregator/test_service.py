"""The aggregator service on the embedded chain: rounds to publication, idempotent restarts,
and audits that reproduce (or catch) the posted numbers."""

from __future__ import annotations

import json

import pytest

from aggregator.audit import audit_task
from market.exceptions import ChainError
from market.types import SLASH_SINK
from tests.aggregator.conftest import make_small_task
from zk.protocol.actions import ActionKind, NodeAction


def _run_round(task, agg) -> None:
    task.trainers_step()                     # train and submit
    assert agg.step().kind is ActionKind.CLOSED     # everyone submitted: close early
    task.trainers_step()                     # sketches
    assert agg.step().kind is ActionKind.PUBLISHED


def test_service_runs_rounds_finalizes_and_audit_reproduces(tmp_path):
    task = make_small_task(tmp_path, attacks={3: "gaussian_noise:sigma=0.5"})
    agg = task.aggregator()

    # Execute
    for _ in range(2):
        _run_round(task, agg)
    assert agg.step() == NodeAction(ActionKind.FINALIZED)

    # Assert: the noisy trainer is flagged both rounds and earns nothing; the audit reproduces
    m = task.market
    assert [agg.rounds[r].outcome.flags for r in (0, 1)] == [[False, False, False, True]] * 2
    info = m.get_trainer(task.task_id, task.trainers[3].address)
    assert info.points == 0 and info.strikes == 2
    credited = {t.address: m.credit_of(t.address) for t in task.trainers}
    assert credited[task.trainers[3].address] == 0  # slashed stake too (strikes_to_slash = 1)
    withheld = sum(m.get_round(task.task_id, r).withheld for r in (0, 1))
    assert withheld > 0  # the flagged slot's reserve, each round
    assert m.credit_of(SLASH_SINK) == 10**16 + withheld  # to the sink, not to the other trainers
    assert all(credited[t.address] > 10**16 for t in task.trainers[:3])
    audits = audit_task(m, task.storage, task.task_id)
    assert [a.ok for a in audits] == [True, True], [c for a in audits for c in a.checks if not c.ok]
    assert agg.rounds[1].outcome.accuracy > agg.rounds[0].outcome.accuracy_before
    assert set(agg.rounds[0].outcome.shapley) == {"gtg", "loo"}


def test_aggregator_killed_before_publishing_restarts_with_the_same_publication(tmp_path, monkeypatch):
    task = make_small_task(tmp_path, rounds=1)
    first = task.aggregator()
    task.trainers_step()
    first.step()
    task.trainers_step()

    # Execute: the first aggregator dies while sending publishRound (after saving its result)
    def crash(*args, **kwargs):
        raise ChainError("connection reset while sending publishRound")

    monkeypatch.setattr(task.market, "publish_round", crash)
    with pytest.raises(ChainError):
        first.step()
    saved = first.state.rounds[0]
    monkeypatch.undo()
    second = task.aggregator()
    assert second.step() == NodeAction(ActionKind.PUBLISHED, 0)
    assert second.step() == NodeAction(ActionKind.FINALIZED)

    # Assert: exactly one publication, with what the first run had saved
    published = task.market.events("RoundPublished", taskId=task.task_id)
    assert len(published) == 1
    args = published[0]["args"]
    assert args["globalModelCid"] == saved.model_cid
    assert [int(s) for s in args["scores"]] == saved.scores
    assert second.state.rounds[0].transcript_cid == saved.transcript_cid


def test_aggregator_restarted_after_publishing_never_publishes_twice(tmp_path):
    task = make_small_task(tmp_path, rounds=2)
    first = task.aggregator()
    _run_round(task, first)

    # Execute: a fresh process over the same state directory
    second = task.aggregator()
    action = second.step()

    # Assert: it moves on to round 1 instead of republishing round 0
    assert action.kind is ActionKind.WAITING and str(action).startswith("round 1: waiting for submissions")
    assert len(task.market.events("RoundPublished", taskId=task.task_id)) == 1


def test_audit_catches_scores_that_do_not_follow_the_rule(tmp_path):
    from market.types import RoundPublication

    task = make_small_task(tmp_path, rounds=1)
    honest = task.aggregator()
    task.trainers_step()
    honest.step()
    task.trainers_step()
    saved = honest._assess(0)  # the honest result and transcript, not published

    # Execute: a dishonest aggregator (trusted mode) posts other scores with the honest transcript
    scores = list(saved.scores)
    scores[0], scores[1] = scores[1], scores[0] + 1
    task.market.publish_round(task.aggregator_account, task.task_id, 0, RoundPublication(
        saved.model_cid, saved.flags, saved.rejections, scores, saved.aggregate_commitment, b"",
        saved.transcript_cid))

    # Assert
    audit = audit_task(task.market, task.storage, task.task_id)[0]
    failed = [c.what for c in audit.checks if not c.ok]
    assert failed == ["scores follow the provable rule"]


def test_service_streams_a_round_above_its_memory_budget(tmp_path):
    # Prepare: a 1-byte budget, so every round's updates are "too big" to hold at once
    task = make_small_task(tmp_path, rounds=1, attacks={3: "gaussian_noise:sigma=0.5"})
    logs = []
    agg = task.aggregator(memory_budget=1, log=logs.append)

    # Execute
    _run_round(task, agg)

    # Assert: streamed (no update held after intake, no validation Shapley), same verdicts, audited
    entry = agg.rounds[0]
    assert any("streaming intake" in line for line in logs)
    assert all(it is not None and it.accepted and it.tensors is None for it in entry.intakes)
    assert entry.outcome.flags == [False, False, False, True]
    assert entry.outcome.shapley == {} and entry.outcome.accuracy > entry.outcome.accuracy_before
    transcript = json.loads(task.storage.get(entry.publication.transcript_cid))
    assert transcript["streamed"] is True and transcript["validation_shapley"] == {}
    assert audit_task(task.market, task.storage, task.task_id)[0].ok


def test_spec_without_initial_model_needs_the_initial_state_builder(tmp_path):
    from market.model_state import InitialModelMissing
    from trainers.models import initial_state

    # Prepare: the spec names no initial model; trainers build theirs from the seed
    task = make_small_task(tmp_path, rounds=1, initial_model=False)
    without = task.aggregator()
    agg = task.aggregator(initial_state=initial_state)

    # Execute / Assert: without a builder the aggregator says what the spec lacks; with one it
    # starts from the same seed-built model the trainers train on, and publishes the round
    with pytest.raises(InitialModelMissing, match="initial model CID"):
        without.global_state(0)
    state, cid = agg.global_state(0)
    assert cid is None and set(state) == set(agg._param_spec())
    _run_round(task, agg)
    assert audit_task(task.market, task.storage, task.task_id)[0].ok


def test_run_retries_transport_errors_and_lets_a_contract_revert_through(tmp_path, monkeypatch):
    import threading

    from aggregator.service import AggregatorNode
    from market.exceptions import ContractRevert
    from tests.aggregator.conftest import make_evaluator

    task = make_small_task(tmp_path, rounds=1)
    task.trainers_step()
    stop, logs = threading.Event(), []

    def log(line: str) -> None:
        logs.append(line)
        if line.startswith("round 0: closed with "):
            stop.set()

    # Prepare: the first closeSubmissions call loses its connection
    real_close, calls = task.market.close_submissions, []

    def flaky_close(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise ChainError("connection reset while sending closeSubmissions")
        return real_close(*args, **kwargs)

    monkeypatch.setattr(task.market, "close_submissions", flaky_close)

    # Execute: a transport error is retried, then the round closes
    ended = task.aggregator(log=log).run(poll_seconds=0.01, stop=stop, timeout=120)

    # Assert
    assert ended == NodeAction(ActionKind.STOPPED)
    assert len(calls) == 2 and logs[0] == "retrying in 0.0s after: connection reset while sending closeSubmissions"
    assert task.market.get_round(task.task_id, 0).closed

    # Execute: a node with the owner's account (not the task's aggregator) reaches publishRound
    task.trainers_step()
    impostor = AggregatorNode(market=task.market, storage=task.storage, account=task.owner, encryption_key=task.key,
                              task_id=task.task_id, state_dir=tmp_path / "impostor",
                              evaluate_factory=lambda s: make_evaluator(s, task.validation))

    # Assert: the contract's refusal is raised at once, not retried
    with pytest.raises(ContractRevert) as info:
        impostor.run(poll_seconds=0.01, timeout=60)
    assert info.value.name == "MarketplaceUnauthorized"
    assert not isinstance(info.value, ChainError)


def test_aggregator_killed_between_publishing_and_revealing_reveals_after_the_restart(tmp_path, monkeypatch):
    # Prepare: trainer 3 sends an update far over the norm bound (rejected: its key is owed on chain)
    task = make_small_task(tmp_path, rounds=2, attacks={3: "sign_flip:scale=100000"})
    for node in task.nodes:
        node.contest = False  # only the aggregator's reveal may put the key on chain
    first = task.aggregator()
    task.trainers_step()
    first.step()
    task.trainers_step()

    # Execute: the first aggregator's reveal never leaves (the process dies after publishRound is mined)
    def dead(*args, **kwargs):
        raise ChainError("connection reset while sending revealEvidenceKey")

    monkeypatch.setattr(task.market, "reveal_evidence_key", dead)
    with pytest.raises(ChainError):
        first.step()
    assert task.market.get_round(task.task_id, 0).published
    assert first.state.rounds[0].published and first.state.rounds[0].unrevealed == [task.trainers[3].address]
    monkeypatch.undo()
    second = task.aggregator()
    action = second.step()
    third = task.aggregator()  # and once more: nothing is revealed twice

    # Assert: the restarted node reveals round 0's key before anything else, exactly once
    assert action == NodeAction(ActionKind.REVEALED, 0)
    revealed = task.market.events("EvidenceKeyRevealed", taskId=task.task_id)
    assert [(e["args"]["round"], e["args"]["trainer"]) for e in revealed] == [(0, task.trainers[3].address)]
    assert bytes(revealed[0]["args"]["key"]) == first.state.rounds[0].evidence[task.trainers[3].address]
    assert second.state.rounds[0].done and second.state.rounds[0].reveals[task.trainers[3].address].startswith("0x")
    assert third.step().kind is ActionKind.WAITING
    assert len(task.market.events("EvidenceKeyRevealed", taskId=task.task_id)) == 1


def test_a_reveal_found_on_chain_is_recorded_not_sent_again(tmp_path):
    task = make_small_task(tmp_path, rounds=1, attacks={3: "sign_flip:scale=100000"})
    for node in task.nodes:
        node.contest = False
    agg = task.aggregator()
    _run_round(task, agg)
    saved = agg.state.rounds[0]
    trainer = task.trainers[3].address
    assert saved.done and saved.reveals[trainer].startswith("0x")

    # Execute: a state file from before the reveal was recorded (the node died right after sending it)
    from dataclasses import replace

    from aggregator.state import save_state

    agg.state.rounds[0] = replace(saved, reveals={})
    save_state(agg.dir / "state.json", agg.state)
    again = task.aggregator()
    action = again.step()

    # Assert: recorded from the chain's event, not revealed a second time
    assert action == NodeAction(ActionKind.REVEALED, 0)
    assert again.state.rounds[0].reveals == {trainer: "on chain"}
    assert len(task.market.events("EvidenceKeyRevealed", taskId=task.task_id)) == 1


def test_the_service_logs_each_rounds_accuracy_and_shapley_estimates(tmp_path):
    task = make_small_task(tmp_path, rounds=1, attacks={3: "sign_flip:scale=100000"})
    logs: list[str] = []
    agg = task.aggregator(log=logs.append)
    _run_round(task, agg)
    assert any(line.startswith(f"round 0: rejected {task.trainers[3].address}: norm-too-large") for line in logs)
    assert "round 0: 3 accepted, " in "\n".join(logs)
    assert any(line.startswith("round 0: validation accuracy ") and " → " in line for line in logs)
    assert any("Shapley per slot (reported, not paid): " in line and line.rsplit(": ", 1)[1].count(",") == 3
               for line in logs)  # one value per slot

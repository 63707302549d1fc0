"""The aggregator service on the embedded chain: rounds to publication, idempotent restarts,
and audits that reproduce (or catch) the posted numbers."""

from __future__ import annotations

import json

import pytest

from aggregator.audit import audit_task
from market.exceptions import ChainError
from tests.aggregator.conftest import make_small_task


def _run_round(task, agg) -> None:
    task.trainers_step()                     # train and submit
    assert agg.step().endswith("closed")     # everyone submitted: close early
    task.trainers_step()                     # sketches
    assert agg.step().endswith("published")


def test_service_runs_rounds_finalizes_and_audit_reproduces(tmp_path):
    task = make_small_task(tmp_path, attacks={3: "gaussian_noise:sigma=0.5"})
    agg = task.aggregator()

    # Execute
    for _ in range(2):
        _run_round(task, agg)
    assert agg.step() == "finalized"

    # Assert: the noisy trainer is flagged both rounds and earns nothing; the audit reproduces
    m = task.market
    assert [agg.rounds[r].outcome.flags for r in (0, 1)] == [[False, False, False, True]] * 2
    info = m.get_trainer(task.task_id, task.trainers[3].address)
    assert info.points == 0 and info.strikes == 2
    credited = {t.address: m.credit_of(t.address) for t in task.trainers}
    assert credited[task.trainers[3].address] == 0  # slashed stake too (strikes_to_slash = 1)
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
    saved = dict(first.state["rounds"]["0"])
    monkeypatch.undo()
    second = task.aggregator()
    assert second.step() == "round 0: published"
    assert second.step() == "finalized"

    # Assert: exactly one publication, with what the first run had saved
    published = task.market.events("RoundPublished", taskId=task.task_id)
    assert len(published) == 1
    args = published[0]["args"]
    assert args["globalModelCid"] == saved["model_cid"]
    assert [int(s) for s in args["scores"]] == saved["scores"]
    assert second.state["rounds"]["0"]["transcript_cid"] == saved["transcript_cid"]


def test_aggregator_restarted_after_publishing_never_publishes_twice(tmp_path):
    task = make_small_task(tmp_path, rounds=2)
    first = task.aggregator()
    _run_round(task, first)

    # Execute: a fresh process over the same state directory
    second = task.aggregator()
    action = second.step()

    # Assert: it moves on to round 1 instead of republishing round 0
    assert action.startswith("round 1: waiting for submissions")
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
    scores = list(saved["scores"])
    scores[0], scores[1] = scores[1], scores[0] + 1
    task.market.publish_round(task.aggregator_account, task.task_id, 0, RoundPublication(
        saved["model_cid"], saved["flags"], saved["rejections"], scores, saved["aggregate_commitment"], b"",
        saved["transcript_cid"]))

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

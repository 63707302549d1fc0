"""One view of the phase (zk/protocol/phase.py) and the nodes' actions as values
(zk/protocol/actions.py): crafted tasks and rounds, each boundary of the contract's windows."""

from __future__ import annotations

import pytest

from market.types import RoundInfo, TaskConfig, TaskInfo, TaskState
from zk.protocol.actions import ActionKind, NodeAction
from zk.protocol.phase import RoundPhase, current_round, round_phase

SUBMISSION_DEADLINE = 1_000
SKETCH_DEADLINE = 2_000


def _task(state: TaskState = TaskState.TRAINING, *, current: int = 0, rounds: int = 2, trainers: int = 3) -> TaskInfo:
    config = TaskConfig(spec_cid="bafyspec", aggregator="0x" + "11" * 20, join_deadline=500, rounds=rounds)
    return TaskInfo(task_id=1, config=config, owner="0x" + "22" * 20, reward_wei=1, held_wei=1, state=state,
                    current_round=current, published_rounds=current, trainer_count=trainers,
                    trusted_aggregator=True)


def _round(*, closed: bool = False, submissions: int = 0, sketches: int = 0) -> RoundInfo:
    return RoundInfo(submission_deadline=SUBMISSION_DEADLINE, sketch_deadline=SKETCH_DEADLINE if closed else 0,
                     publish_deadline=3_000, submissions=submissions, sketches=sketches, closed=closed,
                     published=False, proof_verified=False, seed=7 if closed else 0, flags=0, rejections=0,
                     aggregate_commitment=0, global_model_cid="")


@pytest.mark.parametrize("state", [TaskState.FINISHED, TaskState.CANCELLED, TaskState.ABORTED])
def test_round_phase_of_an_ended_task_is_ended_without_a_round(state):
    assert current_round(_task(state)) is None
    assert round_phase(_task(state), None, 0) is RoundPhase.ENDED


def test_round_phase_of_an_open_task_is_joining():
    assert current_round(_task(TaskState.OPEN)) is None
    assert round_phase(_task(TaskState.OPEN), None, 0) is RoundPhase.JOINING


def test_round_phase_after_the_last_round_is_finalizable():
    task = _task(current=2, rounds=2)
    assert current_round(task) is None
    assert round_phase(task, None, 10_000) is RoundPhase.FINALIZABLE


@pytest.mark.parametrize(("now", "submissions", "phase"), [
    (SUBMISSION_DEADLINE, 2, RoundPhase.SUBMISSIONS_OPEN),       # the deadline second still accepts
    (SUBMISSION_DEADLINE, 3, RoundPhase.SUBMISSIONS_COMPLETE),   # everyone is in: close early
    (SUBMISSION_DEADLINE + 1, 0, RoundPhase.SUBMISSIONS_OVER),
    (SUBMISSION_DEADLINE + 1, 3, RoundPhase.SUBMISSIONS_OVER),
])
def test_round_phase_of_a_round_before_closing(now, submissions, phase):
    task = _task(current=1)
    assert current_round(task) == 1
    assert round_phase(task, _round(submissions=submissions), now) is phase


@pytest.mark.parametrize(("now", "sketches", "phase"), [
    (SKETCH_DEADLINE, 1, RoundPhase.SKETCHES_OPEN),
    (SKETCH_DEADLINE, 2, RoundPhase.SKETCHES_COMPLETE),      # every submitter committed: publish early
    (SKETCH_DEADLINE + 1, 0, RoundPhase.SKETCHES_OVER),
    (SUBMISSION_DEADLINE + 5, 1, RoundPhase.SKETCHES_OPEN),  # closed: the submission deadline no longer counts
])
def test_round_phase_of_a_closed_round(now, sketches, phase):
    assert round_phase(_task(), _round(closed=True, submissions=2, sketches=sketches), now) is phase


def test_round_phase_properties_follow_the_contract_checks():
    accepts_submissions = {p for p in RoundPhase if p.accepts_submissions}
    closable = {p for p in RoundPhase if p.closable}
    accepts_sketches = {p for p in RoundPhase if p.accepts_sketches}
    publishable = {p for p in RoundPhase if p.publishable}
    seed_fixed = {p for p in RoundPhase if p.seed_fixed}
    assert accepts_submissions == {RoundPhase.SUBMISSIONS_OPEN, RoundPhase.SUBMISSIONS_COMPLETE}
    assert closable == {RoundPhase.SUBMISSIONS_COMPLETE, RoundPhase.SUBMISSIONS_OVER}
    assert accepts_sketches == {RoundPhase.SKETCHES_OPEN, RoundPhase.SKETCHES_COMPLETE}
    assert publishable == {RoundPhase.SKETCHES_COMPLETE, RoundPhase.SKETCHES_OVER}
    assert seed_fixed == {RoundPhase.SKETCHES_OPEN, RoundPhase.SKETCHES_COMPLETE, RoundPhase.SKETCHES_OVER}


def test_round_phase_needs_the_round_record_while_a_round_is_under_way():
    with pytest.raises(ValueError, match="round 0"):
        round_phase(_task(), None, 0)


@pytest.mark.parametrize(("action", "text"), [
    (NodeAction(ActionKind.FINISHED), "finished"),
    (NodeAction(ActionKind.FINALIZED), "finalized"),
    (NodeAction(ActionKind.STOPPED), "stopped"),
    (NodeAction(ActionKind.WAITING, detail="start"), "waiting for start"),
    (NodeAction(ActionKind.WAITING, detail="finalize"), "waiting for finalize"),
    (NodeAction(ActionKind.WAITING, 2, "the seed"), "round 2: waiting for the seed"),
    (NodeAction(ActionKind.WAITING, 0, "sketches (3/4)"), "round 0: waiting for sketches (3/4)"),
    (NodeAction(ActionKind.SUBMITTED, 1), "round 1: submitted"),
    (NodeAction(ActionKind.SUBMITTED_ELSEWHERE, 1), "round 1 submitted elsewhere"),
    (NodeAction(ActionKind.MISSED, 0), "round 0 missed"),
    (NodeAction(ActionKind.SKETCH_MISSED, 0), "round 0: sketch window missed"),
    (NodeAction(ActionKind.COMMITTED, 0), "round 0: committed"),
    (NodeAction(ActionKind.CLOSED, 3), "round 3: closed"),
    (NodeAction(ActionKind.PUBLISHED, 3), "round 3: published"),
])
def test_node_action_text_is_the_log_line(action, text):
    assert str(action) == action.text == text


def test_action_kinds_say_when_a_loop_sleeps_and_when_it_ends():
    assert {k for k in ActionKind if k.final} == {ActionKind.FINISHED, ActionKind.FINALIZED}
    assert {k for k in ActionKind if k.idle} == {ActionKind.WAITING, ActionKind.SUBMITTED_ELSEWHERE,
                                                 ActionKind.MISSED, ActionKind.SKETCH_MISSED}

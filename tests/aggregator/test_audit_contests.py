"""A rejected trainer contests with its own envelope key; `market audit` answers the contest."""

from __future__ import annotations

from aggregator.audit import audit_task
from market.types import RoundPublication
from tests.aggregator.conftest import make_small_task
from zk.protocol.actions import ActionKind


def test_a_wrong_rejection_is_contested_by_the_trainer_and_the_audit_shows_it(tmp_path):
    # Prepare: an aggregator (trusted mode) that rejects honest trainer 0 and posts the honest
    # transcript otherwise
    task = make_small_task(tmp_path, rounds=2)
    honest = task.aggregator()
    task.trainers_step()
    honest.step()
    task.trainers_step()
    saved = honest._assess(0)
    rejections, scores = list(saved.rejections), list(saved.scores)
    rejections[0], scores[0] = True, 0
    task.market.publish_round(task.aggregator_account, task.task_id, 0, RoundPublication(
        saved.model_cid, saved.flags, rejections, scores, saved.aggregate_commitment, b"", saved.transcript_cid))

    # Execute: the trainers step once more (round 1 opens)
    actions = task.trainers_step()

    # Assert: trainer 0 (only) contested, with the key it kept; its node records it; the contest
    # moved no money and added no strike
    assert actions[0].kind is ActionKind.CONTESTED and actions[0].round == 0
    assert all(a.kind is not ActionKind.CONTESTED for a in actions[1:])
    assert task.nodes[0].rounds[0].contested
    logged = task.market.events("RejectionContested", taskId=task.task_id)
    assert [(e["args"]["trainer"], e["args"]["round"]) for e in logged] == [(task.trainers[0].address, 0)]
    assert task.market.get_round(task.task_id, 0).contested == 0b1
    assert task.market.get_trainer(task.task_id, task.trainers[0].address).strikes == 0
    assert task.nodes[0].step().kind is not ActionKind.CONTESTED  # once per round
    # the audit opens the envelope with the trainer's key: the package is valid, so the contest
    # stands against the rejection
    audit = audit_task(task.market, task.storage, task.task_id, [0])[0]
    failed = {c.what: c.detail for c in audit.checks if not c.ok}
    assert "slot 0: the trainer's contest is answered (rejection upheld with its own key)" in failed
    assert "not backed" in failed["slot 0: the trainer's contest is answered (rejection upheld with its own key)"]

"""The aggregator service on the root-of-trust rule: the reference from the sealed root set,
its flags and Shapley scores, its files across a restart, and the audit that recomputes it."""

from __future__ import annotations

import numpy as np

from aggregator.audit import audit_task
from aggregator.evaluation import make_reference_trainer
from aggregator.reference import reference_digest
from market.storage import EmbeddedStorage
from tests.aggregator.conftest import make_small_task
from zk.protocol.actions import ActionKind, NodeAction
from zk.protocol.transcript import RoundTranscript


def _run_round(task, agg) -> None:
    task.trainers_step()
    assert agg.step().kind is ActionKind.CLOSED
    task.trainers_step()
    assert agg.step().kind is ActionKind.PUBLISHED


def test_the_reference_rule_flags_noise_pays_by_shapley_and_the_audit_recomputes_it(tmp_path):
    task = make_small_task(tmp_path, attacks={3: "sign_flip:scale=3"}, reference=True)
    agg = task.aggregator()
    for _ in range(2):
        _run_round(task, agg)
    assert agg.step() == NodeAction(ActionKind.FINALIZED)

    for r in (0, 1):
        outcome = agg.rounds[r].outcome
        assert outcome.reference_result is not None
        assert outcome.flags == [False, False, False, True]  # the sign-flipper points against the reference
        assert outcome.labels[3] == "misaligned"
        assert all(s > 0 for s in outcome.scores[:3]) and outcome.scores[3] == 0
        transcript = RoundTranscript.from_json(task.storage.get(agg.rounds[r].publication.transcript_cid))
        assert transcript.reference is not None and transcript.reference.sketch == outcome.reference_sketch
        assert transcript.reference.reasons[3] == "misaligned"
    trainer = make_reference_trainer(task.spec, task.root)
    audits = audit_task(task.market, task.storage, task.task_id, reference_trainer=trainer)
    assert all(a.ok for a in audits), [c for a in audits for c in a.checks if not c.ok]
    assert any("recomputed from the revealed root set" in c.what for c in audits[0].checks)


def test_the_reference_is_deterministic_and_a_wrong_root_set_is_caught(tmp_path):
    task = make_small_task(tmp_path, reference=True, rounds=1)
    agg = task.aggregator()
    _run_round(task, agg)
    state = {k: np.array(v) for k, v in agg.global_state(0)[0].items()}
    saved = agg.references.update(0, lambda: (_ for _ in ()).throw(AssertionError("recomputed")))
    again = make_reference_trainer(task.spec, task.root)(state, 0)
    assert reference_digest(saved) == reference_digest(again)  # bit for bit
    other = type(task.root)(task.root.X[::-1].copy(), task.root.y[::-1].copy())
    audits = audit_task(task.market, task.storage, task.task_id,
                        reference_trainer=make_reference_trainer(task.spec, other))
    failed = [c.what for a in audits for c in a.checks if not c.ok]
    assert failed == ["reference recomputed from the revealed root set (digest, sketch, commitment)"]


def test_a_tampered_reference_sketch_in_the_transcript_fails_the_audit(tmp_path, monkeypatch):
    task = make_small_task(tmp_path, reference=True, rounds=1)
    agg = task.aggregator()
    original = EmbeddedStorage.put

    def tamper(self, data: bytes) -> str:
        if b"poc-market-round-transcript" in data:
            doc = RoundTranscript.from_json(data)
            sketch = list(doc.reference.sketch)
            sketch[0] += 1
            data = doc.model_copy(update={"reference": doc.reference.model_copy(update={"sketch": sketch})}).to_json()
        return original(self, data)

    monkeypatch.setattr(EmbeddedStorage, "put", tamper)
    _run_round(task, agg)
    failed = [c.what for a in audit_task(task.market, task.storage, task.task_id) for c in a.checks if not c.ok]
    assert "reference sketch opens the transcript's commitment (trusted aggregator: none on chain)" in failed

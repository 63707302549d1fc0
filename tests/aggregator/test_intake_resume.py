"""Intake progress is saved per submission (aggregator/state.py's IntakeProgress): a restart after
a crash mid-intake takes the saved verdicts back (equivalent to the ones made), checks again what
was cut short, and rejects a submission that stopped the aggregator twice instead of crashing on
it a third time (issue 12, finding 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import aggregator.intake as intake
import aggregator.round_intake as round_intake
from aggregator.exceptions import AggregatorError
from aggregator.intake import INTAKE_ERROR
from aggregator.round_intake import MAX_CHECK_ATTEMPTS, intake_round
from aggregator.round_pipeline import assess_round
from aggregator.state import INTAKE_PROGRESS_VERSION, IntakeProgress
from market.encryption import generate_private_key
from market.storage import EmbeddedStorage
from market.task_spec import ScoringSection
from market.types import SubmissionInfo
from tests.aggregator.conftest import make_small_task
from tests.aggregator.test_intake_faults import SPEC, _checks, _honest
from zk.protocol.actions import ActionKind, NodeAction

FIELDS = ("slot", "trainer", "reason", "detail", "metadata", "sketch", "salt", "evidence_key")


def _round(storage, key):
    """Slots 0-2 honest, 3 with a wrong commitment (keeps its evidence key), 4 with a wrong digest."""
    entries = [_honest(storage, key, slot) for slot in range(5)]
    slot, trainer, sub = entries[3]
    entries[3] = (slot, trainer, SubmissionInfo(sub.update_cid, sub.update_digest, sub.sketch_commitment + 1))
    slot, trainer, sub = entries[4]
    entries[4] = (slot, trainer, SubmissionInfo(sub.update_cid, b"\x42" * 32, sub.sketch_commitment))
    return entries + [None]


def test_verdicts_read_back_from_the_journal_are_equivalent_and_not_checked_again(tmp_path, monkeypatch):
    # Prepare: a round's intake with its journal
    key, storage = generate_private_key(), EmbeddedStorage(tmp_path / "blocks")
    entries, path = _round(storage, key), tmp_path / "intake-round0.jsonl"
    made = intake_round(storage, entries, stream=False, journal=IntakeProgress(path), **_checks(key))

    # Execute: a restarted node reads the journal; nothing may be checked again
    monkeypatch.setattr(round_intake, "check_fetched", lambda *a, **k: pytest.fail("a saved verdict was re-checked"))
    restored = intake_round(storage, entries, stream=False, journal=IntakeProgress(path), **_checks(key))

    # Assert: the same verdicts field by field, the same tensors read again, the same round
    assert [r.reason if r else "-" for r in made] == [None, None, None, "sketch-mismatch", "wrong-digest", "-"]
    assert made[3].evidence_key is not None
    for a, b in zip(made[:-1], restored[:-1]):
        assert all(getattr(a, name) == getattr(b, name) for name in FIELDS), a.slot
    for a, b in zip(made[:3], restored[:3]):
        assert b.tensors is None and all(np.array_equal(a.tensors[n], b.load_tensors()[n]) for n in SPEC)
    zeros = {name: np.zeros(shape, np.float32) for name, (shape, _) in SPEC.items()}
    one, two = (assess_round(r, global_state=zeros, scoring=ScoringSection()) for r in (made, restored))
    assert (one.flags, one.scores, one.aggregate_commitment) == (two.flags, two.scores, two.aggregate_commitment)


def test_journal_ignores_a_torn_last_line_and_refuses_other_damage(tmp_path):
    key, storage = generate_private_key(), EmbeddedStorage(tmp_path / "blocks")
    entries, path = _round(storage, key), tmp_path / "intake.jsonl"
    intake_round(storage, entries[:2], stream=False, journal=IntakeProgress(path), **_checks(key))
    good = path.read_text()

    path.write_text(good + '{"version":1,"event":"beg')  # killed mid-write
    journal = IntakeProgress(path)
    assert journal.restored(0, entries[0][2].update_cid, entries[0][2].update_digest).accepted
    path.write_text('{"torn": tru\n' + good)
    with pytest.raises(AggregatorError, match="line 1 is not an intake progress record"):
        IntakeProgress(path)
    newer = json.dumps({"version": INTAKE_PROGRESS_VERSION + 1, "event": "begun", "slot": 0, "cid": "x", "digest": ""})
    path.write_text(newer + "\n")
    with pytest.raises(AggregatorError, match="newer"):
        IntakeProgress(path)


class Killed(BaseException):
    """Stands for the process dying (SIGKILL, a segfault) in the middle of a check."""


@pytest.mark.parametrize("kills", [1, MAX_CHECK_ATTEMPTS], ids=["killed-once", "killed-every-time"])
def test_restart_after_a_crash_mid_intake_resumes_from_saved_progress(tmp_path, monkeypatch, kills):
    # Prepare: checking slot 2's update kills the aggregator (``kills`` times in a row)
    task = make_small_task(tmp_path, rounds=1)
    task.trainers_step()
    task.aggregator().step()
    task.trainers_step()
    victim, real_check = task.trainers[2].address, intake.check_sketch
    checked: list[str] = []
    left = [kills]

    def check(package, **kwargs):
        checked.append(package.metadata.trainer)
        if package.metadata.trainer == victim and left[0] > 0:
            left[0] -= 1
            raise Killed
        return real_check(package, **kwargs)

    monkeypatch.setattr(intake, "check_sketch", check)
    for _ in range(kills):
        with pytest.raises(Killed):
            task.aggregator().step()

    # Execute: a restarted node
    checked.clear()
    node = task.aggregator()
    assert node.step() == NodeAction(ActionKind.PUBLISHED, 0)

    # Assert: slots 0 and 1 came back from the journal; slot 2 is checked again after one kill and
    # rejected (no strike) after MAX_CHECK_ATTEMPTS; the journal goes once the round is saved
    addresses = [t.address for t in task.trainers]
    intakes = node.rounds[0].intakes
    if kills == 1:
        assert checked == addresses[2:]
        assert all(it.accepted for it in intakes)
    else:
        assert checked == addresses[3:]
        assert [it.reason for it in intakes] == [None, None, INTAKE_ERROR, None]
        assert "stopped the aggregator 2 times" in intakes[2].detail
        assert node.rounds[0].publication.rejections == [False, False, True, False]
    assert task.market.get_trainer(task.task_id, victim).strikes == 0
    assert not (node.dir / "intake-round0.jsonl").exists()

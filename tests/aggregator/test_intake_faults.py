"""Intake cannot crash (issue 12, finding 2): whatever one submission makes intake raise is a
rejection with a reason, reads are bounded, a node that does not answer is retried rather than
blamed, and a round's missing CIDs are waited for at once, not one after another."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import aggregator.intake as intake
from aggregator.audit import audit_task
from aggregator.intake import INTAKE_ERROR, TOO_LARGE, UNAVAILABLE, envelope_bound, fetch_and_check
from aggregator.round_intake import intake_round
from market.encryption import (
    EnvelopeContext,
    encrypt_for_aggregator,
    envelope_digest,
    generate_private_key,
    public_key_bytes,
)
from market.storage import EmbeddedStorage, NodeApiError, NotFound, StorageUnavailable, compute_cid
from market.task_spec import ScoringSection
from market.types import SubmissionInfo
from market.update_package import UpdateMetadata, build_update_package, model_spec_hash
from tests.aggregator.conftest import make_small_task
from zk.protocol.actions import ActionKind, NodeAction
from zk.protocol.commitment import random_salt, sketch_commitment
from zk.protocol.sketch import SketchParams, sketch_update

SPEC = {"layer.bias": ((3,), "float32"), "layer.weight": ((3, 5), "float32")}
SEED, TASK, CHAIN_ID, CONTRACT, MAX_BYTES = 5, 2, 31337, "0x" + "c0" * 20, 1 << 16
TRAINERS = [f"0x{i:040x}" for i in range(1, 9)]


def _checks(key) -> dict:
    return dict(private_key=key, param_spec=SPEC, chain_id=CHAIN_ID, contract=CONTRACT, task_id=TASK, round_=0,
                seed=SEED, sketch_params=SketchParams(k=ScoringSection().sketch_k), max_bytes=MAX_BYTES, max_norm=1e6)


def _honest(storage, key, slot: int) -> tuple[int, str, SubmissionInfo]:
    trainer = TRAINERS[slot]
    update = {name: np.full(shape, 0.01 * (slot + 1), np.float32) for name, (shape, _) in SPEC.items()}
    salt = random_salt()
    meta = UpdateMetadata(task_id=TASK, round=0, trainer=trainer, num_samples=10, salt=salt.to_bytes(32, "big"),
                          model_spec_hash=model_spec_hash(SPEC))
    context = EnvelopeContext(chain_id=CHAIN_ID, contract=CONTRACT, task_id=TASK, round=0, trainer=trainer)
    envelope = encrypt_for_aggregator(build_update_package(update, meta), public_key_bytes(key), context)
    commitment = sketch_commitment(sketch_update(update, SEED, SketchParams(k=ScoringSection().sketch_k)), salt)
    return slot, trainer, SubmissionInfo(storage.put(envelope), envelope_digest(envelope), commitment)


class FaultyStorage(EmbeddedStorage):
    """An embedded store whose reads of chosen CIDs raise chosen exceptions (a test double for
    node faults the embedded store cannot produce)."""

    def __init__(self, root, faults: dict[str, BaseException]) -> None:
        super().__init__(root)
        self.faults = faults

    def get(self, cid: str, *, max_bytes: int | None = None) -> bytes:
        if cid in self.faults:
            raise self.faults[cid]
        return super().get(cid, max_bytes=max_bytes)


# --- per submission ----------------------------------------------------------------------
@pytest.mark.parametrize("fault", [NodeApiError("cat", 500, "this dag node is a directory"),
                                   MemoryError(), RecursionError("maximum recursion depth exceeded")],
                         ids=["node-api-error", "memory-error", "recursion-error"])
def test_unexpected_read_fault_is_an_intake_error_rejection(tmp_path, fault):
    cid = compute_cid(b"a directory, say")
    storage = FaultyStorage(tmp_path / "blocks", {cid: fault})
    result = fetch_and_check(storage, cid, slot=0, trainer=TRAINERS[0], digest=b"\0" * 32, commitment=1,
                             **_checks(generate_private_key()))
    assert result.reason == INTAKE_ERROR and result.detail.startswith(type(fault).__name__)
    assert result.evidence_key is None


def test_node_that_does_not_answer_is_not_the_trainers_fault(tmp_path):
    key = generate_private_key()
    storage = FaultyStorage(tmp_path / "blocks", {})
    entries = [_honest(storage, key, 0), _honest(storage, key, 1)]
    storage.faults[entries[1][2].update_cid] = StorageUnavailable("IPFS node at http://127.0.0.1:5001 unusable")
    with pytest.raises(StorageUnavailable):
        intake_round(storage, entries, stream=False, **_checks(key))


def test_content_over_the_envelope_bound_is_too_large(tmp_path):
    key, storage = generate_private_key(), EmbeddedStorage(tmp_path / "blocks")
    cid = storage.put(b"\x07" * (envelope_bound(MAX_BYTES) + 1))
    result = fetch_and_check(storage, cid, slot=0, trainer=TRAINERS[0], digest=b"\0" * 32, commitment=1,
                             **_checks(key))
    assert result.reason == TOO_LARGE and "over the limit" in result.detail


def test_a_stage_that_raises_is_a_rejection_and_the_round_is_published(tmp_path, monkeypatch):
    # Prepare: the package loader raises (as a recursion bomb did) for slot 3's update only
    task = make_small_task(tmp_path, rounds=1)
    agg = task.aggregator()
    bomber = task.trainers[3].address
    real_load = intake.load_update_package

    def load(plaintext, *args, **kwargs):
        package = real_load(plaintext, *args, **kwargs)
        if package.metadata.trainer == bomber:
            raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")
        return package

    monkeypatch.setattr(intake, "load_update_package", load)
    task.trainers_step()
    agg.step()
    task.trainers_step()

    # Execute
    assert agg.step() == NodeAction(ActionKind.PUBLISHED, 0)

    # Assert: slot 3 rejected with the exception's type, no key, no strike; the others accepted
    it = agg.rounds[0].intakes[3]
    assert it.reason == INTAKE_ERROR and it.detail.startswith("RecursionError: maximum recursion depth")
    assert it.evidence_key is None and agg.state.rounds[0].evidence == {}
    assert agg.rounds[0].publication.rejections == [False, False, False, True]
    assert task.market.get_trainer(task.task_id, bomber).strikes == 0
    monkeypatch.setattr(intake, "load_update_package", real_load)
    failed = [c for c in audit_task(task.market, task.storage, task.task_id)[0].checks if not c.ok]
    assert [c.what for c in failed] == ["slot 3: rejection (intake-error) reproduces"]  # an unbacked rejection, shown


# --- parallel fetches ----------------------------------------------------------------------
class WaitingStorage(EmbeddedStorage):
    """A store (test double for an IPFS node searching the network) whose missing CIDs answer
    NotFound only once ``parties`` reads wait at the same time; it counts the concurrent waits."""

    def __init__(self, root, parties: int) -> None:
        super().__init__(root)
        self.barrier = threading.Barrier(parties, timeout=20)
        self.lock = threading.Lock()
        self.waiting = self.most_waiting = 0

    def get(self, cid: str, *, max_bytes: int | None = None) -> bytes:
        if self.has(cid):
            return super().get(cid, max_bytes=max_bytes)
        with self.lock:
            self.waiting += 1
            self.most_waiting = max(self.most_waiting, self.waiting)
        try:
            self.barrier.wait()  # raises BrokenBarrierError (an intake-error) if reads came one at a time
        finally:
            with self.lock:
                self.waiting -= 1
        raise NotFound(cid, f"{cid}: the node's fetch deadline passed")


@pytest.mark.parametrize(("missing", "workers"), [(6, 8), (4, 2)])
def test_missing_cids_are_waited_for_together_and_results_keep_slot_order(tmp_path, missing, workers):
    # Prepare: one stored submission at slot 0 and ``missing`` CIDs nobody stored after it
    key = generate_private_key()
    storage = WaitingStorage(tmp_path / "blocks", parties=min(missing, workers))
    honest = _honest(storage, key, 0)
    ghosts = [(slot, TRAINERS[slot], SubmissionInfo(compute_cid(b"never stored %d" % slot), bytes([slot]) * 32, 1))
              for slot in range(1, missing + 1)]

    # Execute
    results = intake_round(storage, [honest, None, *ghosts], stream=False, workers=workers, **_checks(key))

    # Assert: every missing CID unavailable (not a broken barrier), as many waits at once as the window
    assert [r.slot if r else None for r in results] == [0, None, *range(1, missing + 1)]
    assert results[0].accepted
    assert [r.reason for r in results[2:]] == [UNAVAILABLE] * missing
    assert storage.most_waiting == min(missing, workers)

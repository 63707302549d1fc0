"""Streaming intake (memory O(d)): accepted updates drop their tensors after their checks and
are read again, one at a time, for FedAvg; the round comes out exactly as in memory."""

from __future__ import annotations

import numpy as np
import pytest

from aggregator.exceptions import UpdateReloadError
from aggregator.intake import intake_round, update_bytes
from aggregator.round_pipeline import assess_round
from market.encryption import (
    EnvelopeContext,
    encrypt_for_aggregator,
    envelope_digest,
    generate_private_key,
    public_key_bytes,
)
from market.storage import EmbeddedStorage, NotFound
from market.task_spec import ScoringSection
from market.types import SubmissionInfo
from market.update_package import UpdateMetadata, build_update_package, model_spec_hash
from zk.protocol.commitment import random_salt, sketch_commitment
from zk.protocol.sketch import SketchParams, sketch_update

SPEC = {"layer.bias": ((3,), "float32"), "layer.weight": ((3, 5), "float32")}
SEED, TASK, ROUND = 1234567, 7, 0
CHAIN_ID, CONTRACT = 31337, "0x" + "c0" * 20
TRAINERS = [f"0x{i:040x}" for i in range(1, 6)]


class ForgetfulStorage(EmbeddedStorage):
    """An embedded store that loses a CID after it was read once (a node that dropped it)."""

    def __init__(self, root, forget: str) -> None:
        super().__init__(root)
        self.forget, self.reads = forget, 0

    def get(self, cid: str, *, max_bytes: int | None = None) -> bytes:
        if cid == self.forget:
            self.reads += 1
            if self.reads > 1:
                raise NotFound(f"{cid} is no longer stored")
        return super().get(cid, max_bytes=max_bytes)


def _round(storage, key):
    """Five stored submissions, the last a 50x outlier; (submissions per slot, updates)."""
    rng = np.random.default_rng(0)
    params = SketchParams(k=ScoringSection().sketch_k)
    entries, updates = [], []
    for slot, trainer in enumerate(TRAINERS):
        scale = 0.5 if slot == len(TRAINERS) - 1 else 0.01
        update = {name: rng.normal(0, scale, shape).astype(np.float32) for name, (shape, _) in SPEC.items()}
        salt = random_salt()
        meta = UpdateMetadata(task_id=TASK, round=ROUND, trainer=trainer, num_samples=50 + 10 * slot,
                              salt=salt.to_bytes(32, "big"), model_spec_hash=model_spec_hash(SPEC))
        context = EnvelopeContext(chain_id=CHAIN_ID, contract=CONTRACT, task_id=TASK, round=ROUND, trainer=trainer)
        envelope = encrypt_for_aggregator(build_update_package(update, meta), public_key_bytes(key), context)
        cid = storage.put(envelope)
        commitment = sketch_commitment(sketch_update(update, SEED, params), salt)
        sub = SubmissionInfo(update_cid=cid, update_digest=envelope_digest(envelope), sketch_commitment=commitment)
        entries.append((slot, trainer, sub))
        updates.append(update)
    return entries, updates


def _intake(storage, entries, key, *, stream):
    return intake_round(storage, entries, stream=stream, private_key=key, param_spec=SPEC, chain_id=CHAIN_ID,
                        contract=CONTRACT, task_id=TASK,
                        round_=ROUND, seed=SEED, sketch_params=SketchParams(k=ScoringSection().sketch_k),
                        max_bytes=1 << 20, max_norm=1e6)


def test_streamed_round_equals_the_in_memory_round(tmp_path):
    # Prepare
    key = generate_private_key()
    storage = EmbeddedStorage(tmp_path / "blocks")
    entries, updates = _round(storage, key)
    global_state = {name: np.zeros(shape, np.float32) for name, (shape, _) in SPEC.items()}

    # Execute
    kept = _intake(storage, entries + [None], key, stream=False)
    streamed = _intake(storage, entries + [None], key, stream=True)
    a = assess_round(kept, global_state=global_state, scoring=ScoringSection())
    b = assess_round(streamed, global_state=global_state, scoring=ScoringSection())

    # Assert: nothing held after intake, the tensors read again are the sent ones, same outcome
    assert streamed[-1] is None and all(it.accepted for it in streamed[:-1])
    assert all(it.tensors is None for it in streamed[:-1])
    assert all(kept_it.tensors is not None for kept_it in kept[:-1])
    for it, update in zip(streamed, updates):
        assert all(np.array_equal(it.load_tensors()[name], update[name]) for name in SPEC)
    assert a.flags == b.flags == [False, False, False, False, True, False]
    assert a.scores == b.scores and a.aggregate_commitment == b.aggregate_commitment
    assert all(np.array_equal(a.new_global[name], b.new_global[name]) for name in SPEC)


def test_update_that_cannot_be_read_again_is_an_error_not_a_silent_skip(tmp_path):
    # Prepare: the store loses slot 1's update after intake read it
    key = generate_private_key()
    probe = EmbeddedStorage(tmp_path / "blocks")
    entries, _ = _round(probe, key)
    storage = ForgetfulStorage(tmp_path / "blocks", forget=entries[1][2].update_cid)
    streamed = _intake(storage, entries, key, stream=True)

    # Execute / Assert
    assert streamed[1].accepted and streamed[1].tensors is None
    with pytest.raises(UpdateReloadError, match="can no longer be read"):
        assess_round(streamed, global_state={n: np.zeros(s, np.float32) for n, (s, _) in SPEC.items()},
                     scoring=ScoringSection())


def test_rejected_result_has_no_tensors_to_read_again(tmp_path):
    # Prepare: slot 0's commitment is wrong (rejected: nothing to reload)
    key = generate_private_key()
    storage = EmbeddedStorage(tmp_path / "blocks")
    entries, _ = _round(storage, key)
    slot, trainer, sub = entries[0]
    entries[0] = (slot, trainer, SubmissionInfo(sub.update_cid, sub.update_digest, sub.sketch_commitment + 1))

    # Execute
    streamed = _intake(storage, entries, key, stream=True)

    # Assert
    assert streamed[0].reason == "sketch-mismatch" and streamed[0].reload is None
    with pytest.raises(UpdateReloadError, match="cannot read them again"):
        streamed[0].load_tensors()


def test_update_bytes_counts_every_tensor():
    assert update_bytes(SPEC) == (3 + 15) * 4
    assert update_bytes({"w": ((10, 10), "float64")}) == 800

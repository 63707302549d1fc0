"""The digits task spec built from settings, and its stored initial model (:mod:`trainers.task_builder`)."""

from __future__ import annotations

import numpy as np

from market.storage import EmbeddedStorage
from market.task_spec import TaskSpec
from trainers.models import build_model, model_from_bytes, state_to_numpy
from trainers.task_builder import digits_task_spec, initial_model_bytes, store_task_spec


def test_digits_task_spec_takes_the_training_and_scoring_settings() -> None:
    # Execute
    spec = digits_task_spec(arch="cnn", epochs=4, learning_rate=0.05, batch_size=8, detector="mud_hog", tau=2.5)
    # Assert
    example = TaskSpec.example_digits(arch="cnn", epochs=4)
    assert spec.model == example.model and spec.data == example.data and spec.model.initial_model_cid is None
    assert spec.training.local_epochs == 4 and spec.training.learning_rate == 0.05 and spec.training.batch_size == 8
    assert spec.scoring.detector == "mud_hog" and spec.scoring.tau == 2.5


def test_store_task_spec_stores_the_seeded_model_then_the_spec_naming_it(tmp_path) -> None:
    # Prepare
    storage = EmbeddedStorage(tmp_path / "blocks")
    spec = digits_task_spec(arch="mlp", epochs=5, learning_rate=0.3, batch_size=16, detector="provable", tau=4.0)
    # Execute
    stored, cid = store_task_spec(storage, spec)
    # Assert
    assert TaskSpec.from_json(storage.get(cid)) == stored
    assert storage.get(stored.model.initial_model_cid) == initial_model_bytes(spec)
    model = model_from_bytes(storage.get(stored.model.initial_model_cid), spec.model, dtype=spec.training.dtype)
    seeded = state_to_numpy(build_model(spec.model, dtype=spec.training.dtype))
    for name, value in state_to_numpy(model).items():
        np.testing.assert_array_equal(value, seeded[name])

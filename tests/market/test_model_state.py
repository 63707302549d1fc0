"""Model states without torch: safetensors bytes of numpy states and the state round 0 starts from."""

from __future__ import annotations

import numpy as np
import pytest

from market.model_state import (
    InitialModelMissing,
    ModelStateError,
    param_spec,
    round_start_state,
    state_from_bytes,
    state_to_bytes,
)
from market.storage import EmbeddedStorage
from market.task_spec import TaskSpec


def _state(spec: TaskSpec, value: float = 0.5) -> dict[str, np.ndarray]:
    return {name: np.full(shape, value, dtype) for name, (shape, dtype) in param_spec(spec.model).items()}


def test_state_bytes_round_trip_with_metadata() -> None:
    # Prepare
    spec = TaskSpec.example_digits()
    state = _state(spec)
    # Execute
    data = state_to_bytes(state, metadata={"round": "3"})
    again = state_from_bytes(data, expect=param_spec(spec.model))
    # Assert: a safetensors header, not a pickle; the same arrays back
    assert data[8:9] == b"{"
    assert set(again) == set(state) and all(np.array_equal(again[k], state[k]) for k in state)


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: {k: v for k, v in list(s.items())[1:]}, "do not fit the model"),
    (lambda s: {**s, "layers.0.bias": np.zeros(3, np.float32)}, r"layers\.0\.bias"),
    (lambda s: {**s, "layers.0.bias": s["layers.0.bias"].astype(np.float64)}, "expected float32"),
    (lambda s: {**s, "layers.0.bias": np.full_like(s["layers.0.bias"], np.inf)}, "NaN or infinite"),
])  # fmt: skip
def test_state_from_bytes_refuses_what_does_not_fit_the_spec(change, message) -> None:
    spec = TaskSpec.example_digits()
    with pytest.raises(ModelStateError, match=message):
        state_from_bytes(state_to_bytes(change(_state(spec))), expect=param_spec(spec.model))


def test_state_from_bytes_refuses_garbage() -> None:
    with pytest.raises(ModelStateError, match="not a readable safetensors"):
        state_from_bytes(b"\x80\x04not safetensors")


def test_round_start_state_reads_the_initial_model_the_spec_names(tmp_path) -> None:
    # Prepare
    storage = EmbeddedStorage(tmp_path / "blocks")
    spec = TaskSpec.example_digits()
    cid = storage.put(state_to_bytes(_state(spec, 0.25)))
    # Execute
    state, got = round_start_state(None, storage, spec.with_initial_model(cid), 0, 0)
    # Assert
    assert got == cid and all(np.all(v == 0.25) for v in state.values())


def test_round_start_state_without_initial_model_asks_the_caller_or_refuses() -> None:
    spec = TaskSpec.example_digits()
    assert spec.model.initial_model_cid is None
    with pytest.raises(InitialModelMissing, match="initial model CID"):
        round_start_state(None, None, spec, 7, 0)
    state, cid = round_start_state(None, None, spec, 7, 0, initial_state=lambda s: _state(s, 1.0))
    assert cid is None and set(state) == set(param_spec(spec.model))

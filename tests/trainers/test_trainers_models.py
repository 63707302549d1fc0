"""Model registry: deterministic initialisation, param specs, safetensors round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from market import model_state
from market.task_spec import ModelSection, TaskSpec
from market.update_package import UpdateMetadata, build_update_package, load_update_package, model_spec_hash
from trainers.exceptions import ModelBytesError, ModelError
from trainers.models import (
    build_model,
    load_state,
    model_from_bytes,
    model_to_bytes,
    param_spec,
    state_from_bytes,
    state_to_numpy,
    with_input_range,
)

ARCHS = ["mlp", "cnn", "logreg"]


def _section(arch: str, **changes) -> ModelSection:
    return TaskSpec.example_digits(arch=arch).model.model_copy(update=changes)


@pytest.mark.parametrize("arch", ARCHS)
def test_build_model_same_seed_gives_bit_identical_weights(arch: str) -> None:
    # Prepare
    torch.manual_seed(123)  # the global RNG must not matter
    a = state_to_numpy(build_model(_section(arch, init_seed=7)))
    torch.manual_seed(456)
    b = state_to_numpy(build_model(_section(arch, init_seed=7)))
    # Execute
    c = state_to_numpy(build_model(_section(arch, init_seed=8)))
    # Assert
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("arch", ARCHS)
def test_param_spec_of_section_matches_built_model_and_forward_shape(arch: str) -> None:
    section = _section(arch)
    model = build_model(section)
    spec = param_spec(section)
    assert spec == param_spec(model)
    assert all(dtype == "float32" for _, dtype in spec.values())
    out = model(torch.zeros((5, *section.input_shape)))
    assert out.shape == (5, 10)


def test_param_spec_float64_follows_dtype() -> None:
    spec = param_spec(_section("mlp"), dtype="float64")
    assert {dtype for _, dtype in spec.values()} == {"float64"}
    assert param_spec(build_model(_section("mlp"), dtype="float64")) == spec


@pytest.mark.parametrize("arch", ARCHS)
def test_model_bytes_round_trip_through_safetensors(arch: str) -> None:
    # Prepare
    section = _section(arch, init_seed=3)
    model = build_model(section)
    # Execute
    data = model_to_bytes(model)
    again = model_from_bytes(data, section)
    # Assert
    assert data[8:9] == b"{"  # a safetensors header, not a pickle
    before, after = state_to_numpy(model), state_to_numpy(again)
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_model_from_bytes_refuses_other_architecture_and_garbage() -> None:
    data = model_to_bytes(build_model(_section("mlp")))
    with pytest.raises(ModelBytesError, match="do not fit the model"):
        model_from_bytes(data, _section("logreg"))
    with pytest.raises(ModelBytesError, match="not a readable safetensors"):
        state_from_bytes(b"\x80\x04not safetensors")


def test_model_from_bytes_refuses_wrong_shape() -> None:
    small = _section("mlp", params={"hidden": [16]})
    with pytest.raises(ModelBytesError, match=r"layers\.0\.weight"):
        model_from_bytes(model_to_bytes(build_model(small)), _section("mlp"))


def test_param_spec_is_what_update_packages_validate_against() -> None:
    # Prepare
    section = _section("cnn")
    spec = param_spec(section)
    tensors = {k: np.zeros(shape, dtype) for k, (shape, dtype) in spec.items()}
    meta = UpdateMetadata(task_id=0, round=0, trainer="0x" + "00" * 20, num_samples=1, salt=b"\x01" * 32,
                          model_spec_hash=model_spec_hash(spec))
    # Execute
    package = load_update_package(build_update_package(tensors, meta), spec)
    # Assert
    assert set(package.tensors) == set(spec)


def test_load_state_checks_names_and_shapes() -> None:
    model = build_model(_section("mlp"))
    state = state_to_numpy(model)
    with pytest.raises(ModelError, match="missing"):
        load_state(model, {k: v for k, v in state.items() if k != "layers.0.bias"})
    with pytest.raises(ModelError, match="shape"):
        load_state(model, {**state, "layers.0.bias": np.zeros(3, np.float32)})


@pytest.mark.parametrize(("arch", "params", "message"), [
    ("mlp", {"hidden": [0]}, "positive integer"),
    ("mlp", {"depth": 3}, "unknown"),
    ("logreg", {"hidden": [3]}, "unknown"),
    ("mlp", {"input_range": [1, 0]}, "low < high"),
])  # fmt: skip
def test_build_model_refuses_bad_params(arch: str, params: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        build_model(_section(arch, params=params))


def test_cnn_needs_chw_input() -> None:
    with pytest.raises(ModelError, match=r"\[C, H, W\]"):
        build_model(_section("cnn", input_shape=(64,)))


def test_input_range_scales_inputs_without_adding_state() -> None:
    example = TaskSpec.example_digits(arch="mlp")
    assert example.model.params["input_range"] == [0.0, 16.0]  # the example already rescales
    params = {k: v for k, v in example.model.params.items() if k != "input_range"}
    spec = example.model_copy(update={"model": example.model.model_copy(update={"params": params})})
    scaled = with_input_range(spec)
    assert scaled.model.params["input_range"] == [0.0, 16.0]
    assert param_spec(scaled.model) == param_spec(spec.model)
    plain, ranged = build_model(spec.model), build_model(scaled.model)
    x = torch.rand(4, 64) * 16
    assert torch.allclose(ranged(x), plain(x / 16.0), atol=1e-6)
    assert with_input_range(scaled) is scaled


@pytest.mark.parametrize(("arch", "params", "input_shape", "dtype"), [
    ("mlp", None, None, "float32"),
    ("mlp", {"hidden": [16, 8, 4]}, None, "float64"),
    ("mlp", {"hidden": 5}, (2, 4, 8), "float32"),
    ("logreg", None, None, "float32"),
    ("logreg", {}, (3, 5), "float64"),
    ("cnn", None, None, "float32"),
    ("cnn", {"channels": [4, 6, 2], "hidden": [12]}, (3, 9, 7), "float32"),
    ("cnn", {"channels": 3}, (1, 1, 5), "float64"),  # H < 2: no pooling
    ("cnn", {"channels": [2, 2], "input_range": [0, 1]}, (2, 3, 3), "float32"),
])  # fmt: skip
def test_torch_free_param_spec_equals_the_built_model(arch, params, input_shape, dtype) -> None:
    # Prepare
    changes = {} if params is None else {"params": params}
    if input_shape is not None:
        changes["input_shape"] = input_shape
    section = _section(arch, **changes)
    # Execute
    computed = model_state.param_spec(section, dtype=dtype)
    # Assert: the same names, in the same order, with the same shapes and dtypes as torch's
    built = param_spec(build_model(section, dtype=dtype))
    assert list(computed.items()) == list(built.items())
    assert computed == param_spec(section, dtype=dtype)


@pytest.mark.parametrize(("arch", "params", "message"), [
    ("mlp", {"hidden": [0]}, "positive integer"),
    ("mlp", {"depth": 3}, "unknown"),
    ("logreg", {"hidden": [3]}, "unknown"),
])  # fmt: skip
def test_torch_free_param_spec_refuses_what_build_model_refuses(arch, params, message) -> None:
    with pytest.raises(ModelError, match=message):
        build_model(_section(arch, params=params))
    with pytest.raises(model_state.ModelStateError, match=message):
        model_state.param_spec(_section(arch, params=params))


def test_state_from_bytes_keeps_refusing_with_model_bytes_error() -> None:
    data = model_to_bytes(build_model(_section("mlp")))
    assert data == model_state.state_to_bytes(state_to_numpy(build_model(_section("mlp"))))
    with pytest.raises(ModelBytesError, match="do not fit the model"):
        state_from_bytes(data, expect=param_spec(_section("logreg")))

"""The spec's fixed input scaling (:mod:`trainers.input_scaling`): one range or per-feature
standardisation, stateless, checked with a message naming the parameter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from market.model_state import param_spec as layout_of
from market.task_spec import ModelSection, TaskSpec
from trainers.data import Dataset
from trainers.exceptions import ModelError
from trainers.input_scaling import input_scaling, standardization, with_standardization
from trainers.models import build_model, param_spec
from trainers.task_builder import data_task_spec


def _section(arch: str = "mlp", shape: tuple[int, ...] = (3,), **params) -> ModelSection:
    return ModelSection(arch=arch, input_shape=shape, num_classes=2, params=params)


def test_standardize_maps_each_feature_by_its_own_mean_and_std() -> None:
    # Prepare: three features on very different scales
    rng = np.random.default_rng(0)
    X = np.stack([rng.normal(5, 2, 400), rng.normal(-3000, 900, 400), rng.normal(0.01, 0.001, 400)], axis=1)
    section = _section(standardize=standardization(X))
    # Execute
    model = build_model(section)
    scaled = model.scale(torch.as_tensor(X, dtype=torch.float32)).numpy()
    # Assert: every feature lands at mean 0, std 1 (float32 arithmetic)
    assert np.allclose(scaled.mean(axis=0), 0, atol=1e-4) and np.allclose(scaled.std(axis=0), 1, atol=1e-4)


def test_a_constant_feature_is_only_shifted() -> None:
    X = np.array([[1.0, 7.0], [3.0, 7.0]])
    params = standardization(X)
    assert params == {"mean": [2.0, 7.0], "std": [1.0, 1.0]}


def test_the_scaling_is_stateless_and_in_the_model_hash() -> None:
    # Prepare
    plain, ranged = _section(), _section(input_range=[0, 10])
    standardized = _section(standardize={"mean": [0, 1, 2], "std": [1, 2, 3]})
    # Assert: no parameter is added (updates keep their layout), but the model hash differs
    assert param_spec(plain) == param_spec(ranged) == param_spec(standardized) == layout_of(standardized)
    assert list(build_model(standardized).state_dict()) == list(build_model(plain).state_dict())
    hashes = {TaskSpec.example_digits().model_copy(update={"model": s}).model_hash() for s in (plain, ranged, standardized)}
    assert len(hashes) == 3


@pytest.mark.parametrize(("params", "message"), [
    ({"standardize": {"mean": [0, 0], "std": [1, 1, 1]}}, "standardize.mean must be 3 finite numbers"),
    ({"standardize": {"mean": [0, 0, 0], "std": [1, 0, 1]}}, "std must be positive; element 1"),
    ({"standardize": {"mean": [0, 0, float("nan")], "std": [1, 1, 1]}}, "standardize.mean must be 3 finite"),
    ({"standardize": {"mean": [0, 0, 0]}}, 'must be {"mean": [...], "std": [...]}'),
    ({"standardize": [0, 1]}, 'must be {"mean"'),
    ({"input_range": [3, 1]}, "input_range must be [low, high] with low < high"),
    ({"input_range": [0, 1], "standardize": {"mean": [0, 0, 0], "std": [1, 1, 1]}}, "give one input scaling"),
])
def test_a_bad_scaling_is_refused_naming_the_parameter(params, message) -> None:
    with pytest.raises(ModelError) as err:
        build_model(_section(**params))
    assert message in str(err.value)


def test_cnn_standardizes_per_input_element() -> None:
    # Prepare: a [1, 2, 2] image input, four elements
    X = np.arange(40, dtype=np.float64).reshape(10, 1, 2, 2) * np.array([1, 10, 100, 1000]).reshape(1, 1, 2, 2)
    section = _section("cnn", (1, 2, 2), channels=2, standardize=standardization(X))
    # Execute
    scaled = build_model(section).scale(torch.as_tensor(X, dtype=torch.float32)).numpy()
    # Assert
    assert scaled.shape == X.shape and np.allclose(scaled.reshape(10, 4).std(axis=0), 1, atol=1e-4)


def test_with_standardization_replaces_an_input_range() -> None:
    spec = TaskSpec.example_digits()
    X = np.random.default_rng(1).uniform(0, 16, (50, 64))
    out = with_standardization(spec, X)
    assert "input_range" not in out.model.params and len(out.model.params["standardize"]["std"]) == 64
    assert input_scaling(out.model) is not None and out.model_hash() != spec.model_hash()


def test_data_task_spec_takes_the_files_schema_and_refuses_cnn_for_flat_features() -> None:
    # Prepare
    rng = np.random.default_rng(2)
    data = Dataset(rng.normal(100, 50, (60, 5)).astype(np.float32), rng.integers(0, 3, 60), "mine")
    settings = dict(name="mine", epochs=5, learning_rate=0.3, batch_size=16, detector="provable", tau=4.0)
    # Execute
    spec = data_task_spec(data, arch="mlp", label_column="y", **settings)
    # Assert
    assert spec.model.input_shape == spec.data.input_shape == (5,) and spec.data.num_classes == 3
    assert spec.data.label_column == "y" and spec.data.kind == "tabular"
    assert np.allclose(spec.model.params["standardize"]["mean"], data.X.mean(axis=0), rtol=1e-5)
    assert "standardize" not in data_task_spec(data, arch="logreg", standardize=False, **settings).model.params
    with pytest.raises(ValueError, match=r"--model cnn needs inputs shaped \[C, H, W\]"):
        data_task_spec(data, arch="cnn", **settings)

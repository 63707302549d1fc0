"""The fixed input scaling a task spec's model applies before its first layer.

Two forms, both in ``model.params`` (so in the spec's model hash: every party builds the same
network from the spec alone), both stateless (nothing in the state dict, nothing in an update):

- ``input_range = [low, high]``: one range for every feature, ``x ← (x − low) / (high − low)``
  (the digits' 0–16 pixels onto [0, 1]);
- ``standardize = {"mean": [...], "std": [...]}``: one mean and one standard deviation per input
  element (``prod(input_shape)`` of each, in C order), ``x ← (x − mean) / std``. For tabular data
  whose features live on different scales (the breast-cancer set's run from 0.001 to 4,254: one
  range squeezes the small ones to nothing, raw values make SGD diverge). The owner computes
  them from data it holds (:func:`standardization`, ``market task spec --data FILE``); they
  describe that data's distribution, not any trainer's.

A spec names at most one of the two. :func:`input_scaling` parses and checks them into an
:class:`InputScaling` (shift and multiplier arrays shaped like one sample), which the model
registry applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from market.task_spec import ModelSection, TaskSpec
from trainers.exceptions import ModelError

__all__ = ["InputScaling", "input_scaling", "standardization", "with_standardization"]

MIN_STD = 1e-12
"""A feature whose standard deviation is below this (a constant column) gets std 1: it is only shifted."""


@dataclass(frozen=True)
class InputScaling:
    """``x ← (x − shift) · multiplier``, both broadcast over one sample's shape."""

    shift: np.ndarray
    multiplier: np.ndarray


def _finite_numbers(value: Any, length: int | None = None) -> bool:
    return (isinstance(value, (list, tuple)) and (length is None or len(value) == length)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))


def _from_range(value: Any) -> InputScaling:
    if not _finite_numbers(value, 2) or not value[0] < value[1]:
        raise ModelError(f"model.params.input_range must be [low, high] with low < high, got {value!r}")
    low, high = float(value[0]), float(value[1])
    return InputScaling(np.array(low), np.array(1.0 / (high - low)))


def _from_standardize(value: Any, input_shape: tuple[int, ...]) -> InputScaling:
    size = math.prod(input_shape)
    if not isinstance(value, dict) or set(value) != {"mean", "std"}:
        raise ModelError('model.params.standardize must be {"mean": [...], "std": [...]}, '
                         f"got {type(value).__name__} {sorted(value) if isinstance(value, dict) else value!r}")
    for key in ("mean", "std"):
        if not _finite_numbers(value[key], size):
            got = len(value[key]) if isinstance(value[key], (list, tuple)) else type(value[key]).__name__
            raise ModelError(f"model.params.standardize.{key} must be {size} finite numbers "
                             f"(one per input element of {list(input_shape)}), got {got}")
    std = np.asarray(value["std"], dtype=np.float64)
    if (std <= 0).any():
        raise ModelError(f"model.params.standardize.std must be positive; element {int(np.argmax(std <= 0))} is "
                         f"{std[std <= 0][0]}")
    mean = np.asarray(value["mean"], dtype=np.float64)
    return InputScaling(mean.reshape(input_shape), (1.0 / std).reshape(input_shape))


def input_scaling(section: ModelSection) -> InputScaling | None:
    """The section's input scaling, or ``None``; :class:`ModelError` naming the bad parameter."""
    has_range, has_std = "input_range" in section.params, "standardize" in section.params
    if has_range and has_std:
        raise ModelError("model.params has both input_range and standardize: give one input scaling")
    if has_range:
        return _from_range(section.params["input_range"])
    if has_std:
        return _from_standardize(section.params["standardize"], tuple(section.input_shape))
    return None


def standardization(X: np.ndarray) -> dict[str, list[float]]:
    """The ``standardize`` parameter of samples ``X`` (first axis = samples): per input element,
    the mean and the (population) standard deviation, a constant element's std set to 1."""
    flat = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    if len(flat) == 0:
        raise ModelError("standardize needs at least one sample")
    std = flat.std(axis=0)
    std[std < MIN_STD] = 1.0
    return {"mean": [float(v) for v in flat.mean(axis=0)], "std": [float(v) for v in std]}


def with_standardization(spec: TaskSpec, X: np.ndarray) -> TaskSpec:
    """``spec`` whose model standardizes by ``X``'s statistics (any ``input_range`` dropped).
    Changes the model hash: for writing a spec, never for a posted task's."""
    params = {k: v for k, v in spec.model.params.items() if k != "input_range"}
    params["standardize"] = standardization(X)
    model = spec.model.model_copy(update={"params": params})
    input_scaling(model)  # the shape matches the spec's
    return spec.model_copy(update={"model": model})

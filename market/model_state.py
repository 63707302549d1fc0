"""Model states without torch: the parameter layout a spec implies, safetensors bytes, and the
global model a round starts from.

Everything here works on ``{name: numpy array}`` states and on the task spec alone, so the
aggregator and ``market audit`` never import torch. The torch networks themselves are built by
``trainers/models.py``; :func:`param_spec` computes, from a :class:`ModelSection`, exactly the
``{name: (shape, dtype)}`` mapping of the network that registry builds (a test holds the two
equal for every architecture):

============  ==============================================  ================================
arch          parameters                                      shapes
============  ==============================================  ================================
``mlp``       ``layers.{i}.weight`` / ``.bias``               widths ``[prod(input), *hidden,
                                                              classes]`` (``hidden`` default
                                                              ``[32]``)
``logreg``    ``layers.0.weight`` / ``.bias``                 ``[prod(input), classes]``
``cnn``       ``convs.{i}.weight`` / ``.bias``, then          3x3 convolutions, pad 1, a 2x2
              ``fcs.{i}.weight`` / ``.bias``                  max-pool while H, W >= 2
============  ==============================================  ================================

When round 0's spec names no initial model, :func:`round_start_state` asks the caller for one
(``initial_state``, a callable the app layer builds from the trainers' model registry).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from market.exceptions import MarketError, MarketValueError
from market.task_spec import ModelSection, TaskSpec
from market.tracing import traced
from market.update_package import max_package_bytes

__all__ = [
    "DTYPES",
    "InitialModelMissing",
    "InitialState",
    "ModelStateError",
    "ParamSpec",
    "SCALING_PARAMS",
    "param_spec",
    "round_start_state",
    "state_from_bytes",
    "state_to_bytes",
]

ParamSpec = dict[str, tuple[tuple[int, ...], str]]
"""``{name: (shape, dtype name)}``, what :mod:`market.update_package` validates against."""

InitialState = Callable[[TaskSpec], Mapping[str, np.ndarray]]
"""Builds the seed-initialised state of a spec's model (``trainers.models.initial_state``)."""

DTYPES = ("float32", "float64")
"""The parameter dtypes a TrainingSection allows."""


class ModelStateError(MarketValueError):
    """A model's bytes or layout do not fit the task spec (names, shapes, dtypes, values, params)."""


class InitialModelMissing(MarketError):
    """Round 0's spec names no initial model and no way to build one was given."""


# --- the layout a spec implies -------------------------------------------------------------
def _widths(value: Any, name: str, arch: str) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise ModelStateError(f"model.params.{name} of {arch!r} must be a positive integer or a list of them, "
                              f"got {value!r}")
    return list(value)


SCALING_PARAMS = frozenset({"input_range", "standardize"})
"""The ``model.params`` keys of the fixed input scaling (``trainers.input_scaling``), allowed for
every architecture; they change no parameter."""


def _check_params(section: ModelSection, allowed: set[str]) -> None:
    unknown = set(section.params) - allowed
    if unknown:
        raise ModelStateError(f"model.params of {section.arch!r}: unknown {sorted(unknown)}; "
                              f"allowed {sorted(allowed) or 'none'}")


def _linear(prefix: str, widths: list[int], dtype: str) -> ParamSpec:
    out: ParamSpec = {}
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        out[f"{prefix}.{i}.weight"] = ((b, a), dtype)
        out[f"{prefix}.{i}.bias"] = ((b,), dtype)
    return out


def _cnn(section: ModelSection, dtype: str) -> ParamSpec:
    if len(section.input_shape) != 3:
        raise ModelStateError(f"arch 'cnn' needs model.input_shape [C, H, W]; got {list(section.input_shape)}")
    channels = _widths(section.params.get("channels", 8), "channels", "cnn")
    hidden = _widths(section.params.get("hidden", []), "hidden", "cnn")
    c, h, w = section.input_shape
    out: ParamSpec = {}
    for i, width in enumerate(channels):
        out[f"convs.{i}.weight"] = ((width, c, 3, 3), dtype)
        out[f"convs.{i}.bias"] = ((width,), dtype)
        pool = h >= 2 and w >= 2
        c, h, w = width, (h // 2 if pool else h), (w // 2 if pool else w)
    return {**out, **_linear("fcs", [c * h * w, *hidden, section.num_classes], dtype)}


def param_spec(section: ModelSection, *, dtype: str = "float32") -> ParamSpec:
    """``{name: (shape, dtype)}`` of the network ``trainers.models.build_model`` builds for
    ``section``, in state-dict order, computed from the spec alone."""
    if dtype not in DTYPES:
        raise ModelStateError(f"dtype {dtype!r} is not supported; use one of {sorted(DTYPES)}")
    if section.arch == "cnn":
        _check_params(section, {"channels", "hidden", *SCALING_PARAMS})
        return _cnn(section, dtype)
    if section.arch == "mlp":
        _check_params(section, {"hidden", *SCALING_PARAMS})
        hidden = _widths(section.params.get("hidden", [32]), "hidden", "mlp")
    elif section.arch == "logreg":
        _check_params(section, set(SCALING_PARAMS))
        hidden = []
    else:
        raise ModelStateError(f"unknown model architecture {section.arch!r}; known: ['cnn', 'logreg', 'mlp']")
    return _linear("layers", [math.prod(section.input_shape), *hidden, section.num_classes], dtype)


# --- bytes ---------------------------------------------------------------------------------
@traced("model_state.to_bytes")
def state_to_bytes(state: Mapping[str, np.ndarray], *, metadata: Mapping[str, str] | None = None) -> bytes:
    """safetensors bytes of a ``{name: numpy array}`` state; optional string metadata."""
    arrays = {name: np.ascontiguousarray(a) for name, a in state.items()}
    return bytes(safetensors.numpy.save(arrays, metadata=dict(metadata) if metadata else None))


@traced("model_state.from_bytes")
def state_from_bytes(data: bytes, *, expect: Mapping[str, tuple[Any, str]] | None = None) -> dict[str, np.ndarray]:
    """Parse safetensors bytes into numpy arrays; with ``expect`` (a :func:`param_spec`) the
    names, shapes and dtypes must match exactly and float values be finite."""
    try:
        arrays = safetensors.numpy.load(bytes(data))
    except (safetensors.SafetensorError, ValueError) as err:
        raise ModelStateError(f"model bytes are not a readable safetensors file: {err}") from None
    if expect is not None:
        missing, unexpected = sorted(set(expect) - set(arrays)), sorted(set(arrays) - set(expect))
        if missing or unexpected:
            raise ModelStateError(f"model bytes do not fit the model: missing {missing or 'none'}, "
                                  f"unexpected {unexpected or 'none'}")
        for name, (shape, dtype) in expect.items():
            got = arrays[name]
            if tuple(got.shape) != tuple(shape) or got.dtype.name != np.dtype(dtype).name:
                raise ModelStateError(f"model tensor {name!r} is {got.dtype.name}{list(got.shape)}, "
                                      f"expected {dtype}{list(shape)}")
        for name, got in arrays.items():
            if got.dtype.kind == "f" and not np.isfinite(got).all():
                raise ModelStateError(f"model tensor {name!r} holds NaN or infinite values")
    return arrays


# --- the chain's view ------------------------------------------------------------------------
def round_start_state(market: Any, storage: Any, spec: TaskSpec, task_id: int, round_: int, *,
                      initial_state: InitialState | None = None) -> tuple[dict[str, np.ndarray], str | None]:
    """The global model round ``round_`` of a task starts from, and its CID: the spec's initial
    model for round 0 (``initial_state(spec)``, CID ``None``, when the spec names none), else
    the model the previous round published. Stored models are checked against the spec's
    :func:`param_spec`, and read with a bound (the spec's tensors plus the largest header,
    :func:`~market.update_package.max_package_bytes`; over it the storage raises its
    ``TooLarge``). Shared by the trainer loop, the aggregator service and the audit."""
    dtype = spec.training.dtype
    if round_ == 0:
        cid = spec.model.initial_model_cid
        if cid is None:
            if initial_state is None:
                raise InitialModelMissing(
                    f"task {task_id}: the spec names no initial model (model.initial_model_cid) and this node "
                    "cannot build one; post the spec with an initial model CID")
            return dict(initial_state(spec)), None
    else:
        cid = market.get_round(task_id, round_ - 1).global_model_cid
    layout = param_spec(spec.model, dtype=dtype)
    return state_from_bytes(storage.get(cid, max_bytes=max_package_bytes(layout)), expect=layout), cid

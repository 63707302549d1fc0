"""The model registry: small networks built from a task spec's :class:`ModelSection`.

============  ======================================  ====================================
arch          ``params``                              input
============  ======================================  ====================================
``mlp``       ``hidden``: list of widths (``[32]``)   any shape, flattened
``cnn``       ``channels``: int or list (``8``),      ``(C, H, W)``
              ``hidden``: optional list of widths
``logreg``    none (a linear layer)                   any shape, flattened
============  ======================================  ====================================

Every architecture also takes one fixed (stateless) input scaling (:mod:`trainers.input_scaling`):
``params.input_range = [low, high]`` (``x ← (x − low) / (high − low)``, one range for all
features) or ``params.standardize = {"mean": [...], "std": [...]}`` (per feature). Raw inputs
such as the digits' 0–16 pixels make SGD at the spec's learning rate diverge without one. It is
part of the model section, hence of the spec's model hash, so every party builds the same
network from the spec alone.

Initialisation is deterministic: every parameter is drawn from one ``torch.Generator`` seeded
with ``init_seed`` (PyTorch's default ranges, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``), never
from the global RNG, so the same seed gives bit-identical weights on CPU.

States travel as ``{name: numpy array}`` and as safetensors bytes (:func:`model_to_bytes`);
nothing is ever pickled. :func:`param_spec` gives the ``{name: (shape, dtype)}`` mapping that
:mod:`market.update_package` validates packages against. What needs no torch (the layout a
spec implies, safetensors bytes of numpy states, the state a round starts from) lives in
:mod:`market.model_state`; the functions here of the same names delegate to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from market import model_state
from market.model_state import SCALING_PARAMS, ModelStateError, ParamSpec, state_to_bytes
from market.task_spec import ModelSection, TaskSpec
from trainers.exceptions import ModelBytesError, ModelError
from trainers.input_scaling import InputScaling, input_scaling

__all__ = [
    "MODELS",
    "build_model",
    "initial_state",
    "load_state",
    "model_from_bytes",
    "model_to_bytes",
    "param_spec",
    "round_start_state",
    "state_from_bytes",
    "state_to_numpy",
    "torch_dtype",
    "with_input_range",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def torch_dtype(name: str) -> torch.dtype:
    """``"float32"`` → ``torch.float32`` (the dtypes a TrainingSection allows)."""
    try:
        return _DTYPES[name]
    except KeyError:
        raise ModelError(f"dtype {name!r} is not supported; use one of {sorted(_DTYPES)}") from None


# --- architectures -----------------------------------------------------------------------
def _widths(value: Any, name: str, arch: str) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise ModelError(f"model.params.{name} of {arch!r} must be a positive integer or a list of them, got {value!r}")
    return list(value)


def _check_params(section: ModelSection, allowed: set[str]) -> None:
    unknown = set(section.params) - allowed
    if unknown:
        raise ModelError(f"model.params of {section.arch!r}: unknown {sorted(unknown)}; allowed {sorted(allowed) or 'none'}")


class _Scaled(nn.Module):
    """Base: the optional fixed input scaling of :mod:`trainers.input_scaling` (no state: plain
    tensors, not buffers, so neither the state dict nor an update carries them)."""

    def __init__(self, scaling: InputScaling | None) -> None:
        super().__init__()
        self.scaling = scaling
        self._cached: tuple[torch.Tensor, torch.Tensor] | None = None

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        if self.scaling is None:
            return x
        cached = self._cached
        if cached is None or cached[0].dtype != x.dtype or cached[0].device != x.device:
            cached = (torch.as_tensor(self.scaling.shift, dtype=x.dtype, device=x.device),
                      torch.as_tensor(self.scaling.multiplier, dtype=x.dtype, device=x.device))
            self._cached = cached
        return (x - cached[0]) * cached[1]


class MLP(_Scaled):
    """Flatten, then ``Linear → ReLU`` per hidden width, then a linear classifier."""

    def __init__(self, in_features: int, hidden: list[int], num_classes: int,
                 scaling: InputScaling | None = None) -> None:
        super().__init__(scaling)
        widths = [in_features, *hidden, num_classes]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.scale(x).flatten(1)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


class SmallCNN(_Scaled):
    """Per channel width: ``Conv3x3(pad 1) → ReLU → MaxPool2`` (pooling while H, W ≥ 2), then
    optional hidden linear layers and a linear classifier."""

    def __init__(self, input_shape: tuple[int, int, int], channels: list[int], hidden: list[int], num_classes: int,
                 scaling: InputScaling | None = None) -> None:
        super().__init__(scaling)
        c, h, w = input_shape
        convs, pools = [], []
        for out in channels:
            convs.append(nn.Conv2d(c, out, kernel_size=3, padding=1))
            pool = h >= 2 and w >= 2
            pools.append(pool)
            c, h, w = out, (h // 2 if pool else h), (w // 2 if pool else w)
        self.convs = nn.ModuleList(convs)
        self._pools = pools
        widths = [c * h * w, *hidden, num_classes]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.scale(x)
        for conv, pool in zip(self.convs, self._pools):
            x = torch.relu(conv(x))
            if pool:
                x = torch.max_pool2d(x, 2)
        x = x.flatten(1)
        for fc in self.fcs[:-1]:
            x = torch.relu(fc(x))
        return self.fcs[-1](x)


def _build_mlp(section: ModelSection) -> nn.Module:
    _check_params(section, {"hidden", *SCALING_PARAMS})
    hidden = _widths(section.params.get("hidden", [32]), "hidden", "mlp")
    return MLP(math.prod(section.input_shape), hidden, section.num_classes, input_scaling(section))


def _build_cnn(section: ModelSection) -> nn.Module:
    _check_params(section, {"channels", "hidden", *SCALING_PARAMS})
    if len(section.input_shape) != 3:
        raise ModelError(f"arch 'cnn' needs model.input_shape [C, H, W]; got {list(section.input_shape)}")
    channels = _widths(section.params.get("channels", 8), "channels", "cnn")
    hidden = _widths(section.params.get("hidden", []), "hidden", "cnn")
    return SmallCNN(tuple(section.input_shape), channels, hidden, section.num_classes,  # type: ignore[arg-type]
                    input_scaling(section))


def _build_logreg(section: ModelSection) -> nn.Module:
    _check_params(section, set(SCALING_PARAMS))
    return MLP(math.prod(section.input_shape), [], section.num_classes, input_scaling(section))


MODELS: dict[str, Callable[[ModelSection], nn.Module]] = {
    "mlp": _build_mlp,
    "cnn": _build_cnn,
    "logreg": _build_logreg,
}
"""Architecture name → builder (uninitialised module)."""


def _init_(model: nn.Module, seed: int) -> None:
    """Draw every parameter from one generator: weights and biases ``U(±1/sqrt(fan_in))``."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                fan_in = math.prod(module.weight.shape[1:])
                bound = 1.0 / math.sqrt(fan_in)
                for param in (module.weight, module.bias):
                    if param is not None:
                        values = torch.empty(param.shape, dtype=torch.float64).uniform_(-bound, bound, generator=generator)
                        param.copy_(values.to(param.dtype))


def build_model(section: ModelSection, *, dtype: str = "float32", init: bool = True) -> nn.Module:
    """The spec's network on CPU, initialised from ``section.init_seed`` (bit-identical for a seed)."""
    builder = MODELS.get(section.arch)
    if builder is None:
        raise ModelError(f"unknown model architecture {section.arch!r}; known: {sorted(MODELS)}")
    model = builder(section).to(torch_dtype(dtype))
    if init:
        _init_(model, section.init_seed)
    return model


# --- states ------------------------------------------------------------------------------
def param_spec(model: nn.Module | ModelSection, *, dtype: str = "float32") -> ParamSpec:
    """``{name: (shape, dtype name)}`` of the state dict, as :mod:`market.update_package` expects.

    For a :class:`ModelSection` the model is built on the ``meta`` device (no memory, no init)
    in ``dtype``; for a module its own dtypes are reported.
    """
    if isinstance(model, ModelSection):
        with torch.device("meta"):
            model = build_model(model, dtype=dtype, init=False)
    return {name: (tuple(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in model.state_dict().items()}


def state_to_numpy(state: nn.Module | Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A module's state dict (or a mapping of tensors/arrays) as fresh CPU numpy arrays."""
    if isinstance(state, nn.Module):
        state = state.state_dict()
    out = {}
    for name, value in state.items():
        if isinstance(value, torch.Tensor):
            out[name] = value.detach().to("cpu").numpy().copy()
        else:
            out[name] = np.array(value, copy=True)
    return out


def load_state(model: nn.Module, state: Mapping[str, Any]) -> nn.Module:
    """Copy ``state`` (numpy arrays or tensors) into ``model`` after checking names and shapes;
    values are cast to each parameter's dtype. Returns the model."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise ModelError(f"state does not fit the model: missing {missing or 'none'}, unexpected {unexpected or 'none'}")
    with torch.no_grad():
        for name, target in own.items():
            value = state[name]
            tensor = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(value))
            if tuple(tensor.shape) != tuple(target.shape):
                raise ModelError(f"state tensor {name!r} has shape {tuple(tensor.shape)}, the model has {tuple(target.shape)}")
            target.copy_(tensor.to(device=target.device, dtype=target.dtype))
    return model


def model_to_bytes(model: nn.Module | Mapping[str, Any], *, metadata: Mapping[str, str] | None = None) -> bytes:
    """safetensors bytes of a module's state (or a state mapping); optional string metadata
    (:func:`market.model_state.state_to_bytes` of its numpy state)."""
    return state_to_bytes(state_to_numpy(model), metadata=metadata)


def state_from_bytes(data: bytes, *, expect: Mapping[str, tuple[Any, str]] | None = None) -> dict[str, np.ndarray]:
    """:func:`market.model_state.state_from_bytes`, its refusals as :class:`ModelBytesError`."""
    try:
        return model_state.state_from_bytes(data, expect=expect)
    except ModelStateError as err:
        raise ModelBytesError(str(err)) from None


def model_from_bytes(data: bytes, section: ModelSection, *, dtype: str = "float32") -> nn.Module:
    """Build the spec's model and load the safetensors ``data`` into it (checked against
    :func:`param_spec`)."""
    model = build_model(section, dtype=dtype, init=False)
    return load_state(model, state_from_bytes(data, expect=param_spec(model)))


def with_input_range(spec: TaskSpec) -> TaskSpec:
    """``spec`` with ``model.params.input_range`` set from ``data.value_range`` when the spec
    has a value range and no input range yet (else unchanged). Changes the model hash: use it
    when writing a spec (e.g. the digits example), not on a posted task's spec."""
    if spec.data.value_range is None or "input_range" in spec.model.params:
        return spec
    params = {**spec.model.params, "input_range": [float(v) for v in spec.data.value_range]}
    return spec.model_copy(update={"model": spec.model.model_copy(update={"params": params})})


def initial_state(spec: TaskSpec) -> dict[str, np.ndarray]:
    """The seed-initialised state of the spec's model (in its training dtype): what a round 0
    without an initial model CID starts from (:data:`market.model_state.InitialState`)."""
    return state_to_numpy(build_model(spec.model, dtype=spec.training.dtype))


def round_start_state(market: Any, storage: Any, spec: TaskSpec, task_id: int,
                      round_: int) -> tuple[dict[str, np.ndarray], str | None]:
    """:func:`market.model_state.round_start_state` with the seed-built model of
    :func:`initial_state` for a round 0 whose spec names none; bad stored bytes raise
    :class:`ModelBytesError`."""
    try:
        return model_state.round_start_state(market, storage, spec, task_id, round_, initial_state=initial_state)
    except ModelStateError as err:
        raise ModelBytesError(str(err)) from None

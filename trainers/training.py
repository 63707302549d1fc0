"""Local training: one trainer's epochs on its own data, and the update it produces.

:func:`train_local` starts from the global model (a module, or a state with its
:class:`~market.task_spec.ModelSection`), holds out part of the local data, trains with the
task's optimizer, and returns a :class:`LocalResult`: the local state, the update
``Δ = w_local − w_global`` (:func:`compute_update`) and metrics (hold-out accuracy before and
after, loss, samples, seconds, device).

- Device: :func:`pick_device` takes ``cuda`` when available unless told otherwise.
- Mixed precision (``torch.autocast`` float16 + ``GradScaler``) only on CUDA and only for
  float32 models; CPU runs in full precision.
- Reproducible: batch order comes from a ``torch.Generator`` seeded with ``seed``, never from
  the global RNG; same seed, same data and same thread count → bit-identical results on CPU.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from market.failpoints import failpoint
from market.task_spec import ModelSection, TrainingSection
from market.tracing import traced
from trainers.data import Dataset, holdout_split
from trainers.exceptions import DeviceUnavailable, ModelError, TrainerError
from trainers.models import build_model, load_state, state_to_numpy, torch_dtype

__all__ = ["LocalMetrics", "LocalResult", "apply_update", "compute_update", "evaluate", "pick_device",
           "torch_threads", "train_local", "update_norm"]

_RESIDENT_BYTES = 512 << 20
"""Data sets up to this size are moved to the device once; larger ones batch by batch."""


def torch_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads (None or 0: leave them); returns the count in use. The
    benchmarks call this rather than torch, which only ``trainers`` imports."""
    if threads:
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"`` → ``cuda`` when available, else ``cpu``; ``"cpu"``, ``"cuda"``,
    ``"cuda:N"`` or ``"mps"`` as asked, with :class:`DeviceUnavailable` when absent."""
    if requested is None or str(requested).lower() == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(str(requested).lower())
    except RuntimeError:
        raise DeviceUnavailable(f"unknown device {str(requested)!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailable(f"device {str(requested)!r} was requested but CUDA is not available here "
                                    f"(torch {torch.__version__}); use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailable(f"device {str(requested)!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise DeviceUnavailable("device 'mps' was requested but is not available here")
    elif device.type != "cpu":
        raise DeviceUnavailable(f"device {str(requested)!r} is not supported; use auto, cpu, cuda or cuda:N")
    return device


@dataclass(frozen=True)
class LocalMetrics:
    """What one local training run measured (JSON-ready via :meth:`to_dict`)."""

    loss: float
    """Mean training loss of the last epoch."""
    loss_before: float
    """Hold-out loss of the starting (global) model."""
    loss_after: float
    """Hold-out loss of the trained model."""
    accuracy_before: float
    """Hold-out accuracy of the starting (global) model."""
    accuracy_after: float
    """Hold-out accuracy of the trained model."""
    samples: int
    """Training samples (the hold-out excluded): the FedAvg weight."""
    holdout_samples: int
    epochs: int
    seconds: float
    """Wall time of the epochs (evaluation excluded)."""
    device: str
    mixed_precision: bool
    epoch_losses: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["epoch_losses"] = list(self.epoch_losses)
        return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in out.items()}


@dataclass
class LocalResult:
    """A local training run: the trained state, the update, the metrics and the module."""

    state: dict[str, np.ndarray]
    delta: dict[str, np.ndarray]
    metrics: LocalMetrics
    model: nn.Module | None = field(default=None, repr=False)


# --- updates -----------------------------------------------------------------------------
def _same_names(a: Mapping[str, Any], b: Mapping[str, Any], what: str) -> None:
    if set(a) != set(b):
        raise ModelError(f"{what}: names differ (only in first: {sorted(set(a) - set(b)) or 'none'}, "
                         f"only in second: {sorted(set(b) - set(a)) or 'none'})")


def compute_update(local_state: Mapping[str, Any], global_state: Mapping[str, Any], *,
                   dtype: str | None = None) -> dict[str, np.ndarray]:
    """``Δ = w_local − w_global`` per parameter, computed in float64 and stored in ``dtype``
    (default: the global state's dtype, i.e. the spec's float32/float64)."""
    local, glob = state_to_numpy(local_state), state_to_numpy(global_state)
    _same_names(local, glob, "compute_update")
    delta = {}
    for name in glob:
        if local[name].shape != glob[name].shape:
            raise ModelError(f"compute_update: {name!r} has shape {local[name].shape} locally, {glob[name].shape} globally")
        out_dtype = np.dtype(dtype) if dtype else glob[name].dtype
        delta[name] = (local[name].astype(np.float64) - glob[name].astype(np.float64)).astype(out_dtype)
    return delta


def apply_update(global_state: Mapping[str, Any], delta: Mapping[str, Any], weight: float = 1.0) -> dict[str, np.ndarray]:
    """``w_global + weight · Δ`` per parameter, in the global state's dtypes."""
    glob, upd = state_to_numpy(global_state), state_to_numpy(delta)
    _same_names(glob, upd, "apply_update")
    return {name: (glob[name].astype(np.float64) + weight * upd[name].astype(np.float64)).astype(glob[name].dtype)
            for name in glob}


def update_norm(delta: Mapping[str, Any]) -> float:
    """Global L2 norm of an update (as :mod:`market.update_package` measures it)."""
    return math.sqrt(sum(float(np.sum(np.square(np.asarray(v, dtype=np.float64)))) for v in state_to_numpy(delta).values()))


# --- evaluation --------------------------------------------------------------------------
def _model_dtype(model: nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, *, device: torch.device | str | None = None,
             batch_size: int = 1024) -> tuple[float, float]:
    """``(mean cross-entropy loss, accuracy)`` of ``model`` on ``dataset``; the model keeps its
    device unless ``device`` is given (then it is moved there)."""
    if len(dataset) == 0:
        raise TrainerError("cannot evaluate on an empty data set")
    if device is not None:
        model = model.to(pick_device(device) if isinstance(device, str) else device)
    target = _model_device(model)
    dtype = _model_dtype(model)
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(dataset), batch_size):
        x = torch.from_numpy(dataset.X[start:start + batch_size]).to(device=target, dtype=dtype)
        y = torch.from_numpy(dataset.y[start:start + batch_size]).to(target)
        logits = model(x)
        total_loss += float(nn.functional.cross_entropy(logits.float(), y, reduction="sum"))
        correct += int((logits.argmax(dim=1) == y).sum())
    model.train(was_training)
    return total_loss / len(dataset), correct / len(dataset)


# --- training ----------------------------------------------------------------------------
def _optimizer(model: nn.Module, training: TrainingSection) -> torch.optim.Optimizer:
    if training.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=training.learning_rate, momentum=training.momentum)
    if training.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=training.learning_rate)
    raise TrainerError(f"unknown optimizer {training.optimizer!r}; use sgd or adam")


def _as_model(model_or_state: nn.Module | Mapping[str, Any], section: ModelSection | None, dtype: str) -> nn.Module:
    if isinstance(model_or_state, nn.Module):
        import copy

        return copy.deepcopy(model_or_state).to(torch_dtype(dtype))
    if section is None:
        raise TrainerError("train_local got a state without its architecture: pass section=spec.model")
    return load_state(build_model(section, dtype=dtype, init=False), model_or_state)


def _progress_bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return contextlib.nullcontext(None)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with the train extra
        return contextlib.nullcontext(None)

    return tqdm(total=total, desc=desc, unit="batch", leave=True, dynamic_ncols=True)


def _split_holdout(dataset: Dataset, holdout: Dataset | float, seed: int) -> tuple[Dataset, Dataset]:
    """``(training set, hold-out set)``: ``holdout`` is a separate set or a fraction of ``dataset``."""
    if isinstance(holdout, Dataset):
        train_set, hold_set = dataset, holdout
    else:
        train_set, hold_set = holdout_split(dataset, float(holdout), seed)
    if len(train_set) == 0:
        raise TrainerError("no training samples left after the hold-out split")
    return train_set, hold_set


def _use_mixed_precision(device: torch.device, dtype: torch.dtype, requested: bool | None) -> bool:
    """Mixed precision: on by default for CUDA with float32, refused anywhere else."""
    amp = (device.type == "cuda" and dtype == torch.float32) if requested is None else bool(requested)
    if amp and (device.type != "cuda" or dtype != torch.float32):
        raise TrainerError("mixed precision is available only on CUDA with float32 models")
    return amp


def _synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work (so wall times measure it); nothing on other devices."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class _TrainingTensors:
    """The training set as tensors, moved to the device once when it fits (``resident``)."""

    X: torch.Tensor
    y: torch.Tensor
    device: torch.device
    resident: bool
    batch_size: int

    @classmethod
    def prepare(cls, train_set: Dataset, dtype: torch.dtype, device: torch.device, batch_size: int) -> _TrainingTensors:
        X_all = torch.from_numpy(train_set.X).to(dtype)
        y_all = torch.from_numpy(train_set.y)
        resident = X_all.element_size() * X_all.numel() <= _RESIDENT_BYTES
        if resident:
            X_all, y_all = X_all.to(device), y_all.to(device)
        return cls(X_all, y_all, device, resident, batch_size)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_batches(self) -> int:
        return math.ceil(len(self) / self.batch_size)

    def batches(self, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch's ``(x, y)`` batches on the device, in an order drawn from ``generator``."""
        order = torch.randperm(len(self), generator=generator)
        if self.resident:
            order = order.to(self.device)
        pin = self.device.type == "cuda" and not self.resident
        batch = self.batch_size
        for b in range(self.n_batches):
            idx = order[b * batch:(b + 1) * batch]
            x, y = self.X[idx], self.y[idx]
            if not self.resident:
                if pin:
                    x, y = x.pin_memory(), y.pin_memory()
                x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            yield x, y


def _train_epoch(model: nn.Module, data: _TrainingTensors, generator: torch.Generator,
                 optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, *, amp: bool, bar: Any) -> float:
    """One pass over ``data``; returns the mean training loss (sample-weighted)."""
    loss_sum = torch.zeros((), dtype=torch.float64, device=data.device)
    for x, y in data.batches(generator):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=data.device.type, dtype=torch.float16, enabled=amp):
            loss = nn.functional.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        loss_sum += loss.detach().double() * len(y)
        if bar is not None:
            bar.update(1)
    return float(loss_sum) / len(data)


def _run_epochs(model: nn.Module, data: _TrainingTensors, training: TrainingSection, *, epochs: int, amp: bool,
                seed: int, progress: bool, on_epoch: Callable[[int, float], None] | None) -> tuple[list[float], float]:
    """Train ``model`` in place for ``epochs``; returns ``(epoch losses, wall seconds)``."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = _optimizer(model, training)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    epoch_losses: list[float] = []
    model.train()
    _synchronize(data.device)
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        with _progress_bar(progress, data.n_batches, f"epoch {epoch}/{epochs}") as bar:
            mean_loss = _train_epoch(model, data, generator, optimizer, scaler, amp=amp, bar=bar)
            if bar is not None:
                bar.set_postfix(loss=f"{mean_loss:.4f}")
        if not math.isfinite(mean_loss):
            raise TrainerError(f"training diverged in epoch {epoch} (loss {mean_loss}); lower the learning rate")
        epoch_losses.append(mean_loss)
        if on_epoch is not None:
            on_epoch(epoch, mean_loss)
        failpoint("trainer.epoch")  # crash tests: killed mid-training
    _synchronize(data.device)
    return epoch_losses, time.perf_counter() - started


@traced("training.train_local")
def train_local(
    model_or_state: nn.Module | Mapping[str, Any],
    dataset: Dataset,
    training: TrainingSection,
    *,
    device: torch.device | str | None = None,
    seed: int = 0,
    epochs: int | None = None,
    progress: bool = True,
    section: ModelSection | None = None,
    holdout: Dataset | float = 0.2,
    mixed_precision: bool | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> LocalResult:
    """Train a copy of the global model on ``dataset`` and return the update and metrics.

    ``model_or_state`` is never modified; a state (numpy arrays or tensors) needs
    ``section``. ``holdout`` is a fraction of ``dataset`` kept out of training (stratified,
    fixed by ``seed``) or a separate :class:`Dataset`; hold-out accuracy is measured before
    and after. ``epochs`` overrides ``training.local_epochs``. ``mixed_precision`` defaults to
    on for CUDA with float32, and is always off elsewhere. ``on_epoch(epoch, mean_loss)`` is
    called after each epoch.
    """
    device = pick_device(device) if not isinstance(device, torch.device) else device
    epochs = training.local_epochs if epochs is None else int(epochs)
    if epochs < 0:
        raise TrainerError(f"epochs must be >= 0, got {epochs}")
    train_set, hold_set = _split_holdout(dataset, holdout, seed)

    model = _as_model(model_or_state, section, training.dtype)
    global_state = state_to_numpy(model)
    model = model.to(device)
    dtype = _model_dtype(model)
    amp = _use_mixed_precision(device, dtype, mixed_precision)

    loss_before, acc_before = evaluate(model, hold_set)
    data = _TrainingTensors.prepare(train_set, dtype, device, training.batch_size)
    epoch_losses, seconds = _run_epochs(model, data, training, epochs=epochs, amp=amp, seed=seed,
                                        progress=progress, on_epoch=on_epoch)
    loss_after, acc_after = evaluate(model, hold_set)
    local_state = state_to_numpy(model)
    metrics = LocalMetrics(
        loss=epoch_losses[-1] if epoch_losses else loss_before, loss_before=loss_before, loss_after=loss_after,
        accuracy_before=acc_before, accuracy_after=acc_after, samples=len(train_set),
        holdout_samples=len(hold_set), epochs=epochs, seconds=seconds, device=str(device),
        mixed_precision=amp, epoch_losses=tuple(epoch_losses),
    )
    return LocalResult(local_state, compute_update(local_state, global_state), metrics, model)

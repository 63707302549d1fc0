"""A local trial: one round step from a task's initial model, with no chain, packaged.

What ``market trainer train-local`` runs to try data and hyper-parameters before joining a
task: the hold-out is split off the clean data first (so it stays clean), then the round step
of :mod:`trainers.recipe` (data attack → local training → update attack) runs once, round 0,
from the initial model; the submitted update (global + the possibly attacked update) is
evaluated on the same hold-out, and the update is written into an update package as an
aggregator would receive it (task 0, round 0, trainer :data:`PLACEHOLDER_TRAINER`, no sketch),
checked by loading it back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from market.task_spec import TaskSpec
from market.types import ZERO_ADDRESS
from market.update_package import UpdateMetadata, build_update_package, load_update_package, model_spec_hash
from trainers.attacks import AttackPlan
from trainers.data import Dataset, holdout_split
from trainers.models import build_model, load_state, model_from_bytes, param_spec, state_to_numpy
from trainers.recipe import RoundStep, local_round
from trainers.training import LocalMetrics, apply_update, evaluate, update_norm
from zk.protocol.commitment import random_salt

__all__ = ["PLACEHOLDER_TRAINER", "LocalTrial", "initial_global_state", "run_local_trial", "trial_package"]

PLACEHOLDER_TRAINER = ZERO_ADDRESS
"""Trainer address written into packages made without a wallet: the zero address."""


@dataclass(frozen=True)
class LocalTrial:
    """What one local trial produced: the round step, the package, and how the update scores."""

    step: RoundStep
    """The round step (its ``delta`` is the submitted update, its ``metrics`` the local run's)."""
    accuracy_submitted: float
    """Hold-out accuracy of global + the submitted update (differs from ``accuracy_after`` under attack)."""
    update_norm: float
    """L2 norm of the submitted update."""
    metadata: UpdateMetadata
    package: bytes
    """The update package (safetensors), as an aggregator would fetch it."""

    @property
    def metrics(self) -> LocalMetrics:
        """The local training run's metrics."""
        return self.step.metrics


def initial_global_state(spec: TaskSpec, model_bytes: bytes | None = None) -> dict[str, np.ndarray]:
    """The global model a trial starts from: ``model_bytes`` (safetensors) when given, else the
    spec's seed-initialised model, in the spec's training dtype."""
    dtype = spec.training.dtype
    if model_bytes is not None:
        return state_to_numpy(model_from_bytes(model_bytes, spec.model, dtype=dtype))
    return state_to_numpy(build_model(spec.model, dtype=dtype))


def trial_package(delta: dict[str, np.ndarray], metrics: LocalMetrics, spec: TaskSpec) -> tuple[bytes, UpdateMetadata]:
    """The update package of a trial (task 0, round 0, the placeholder trainer, a fresh salt, no
    sketch, the finite metrics), loaded back once as an aggregator would."""
    summary = {"loss": metrics.loss, "accuracy_before": metrics.accuracy_before,
               "accuracy_after": metrics.accuracy_after, "holdout_samples": metrics.holdout_samples,
               "epochs": metrics.epochs, "seconds": round(metrics.seconds, 4), "device": metrics.device}
    spec_params = param_spec(spec.model, dtype=spec.training.dtype)
    metadata = UpdateMetadata(task_id=0, round=0, trainer=PLACEHOLDER_TRAINER, num_samples=metrics.samples,
                              salt=random_salt().to_bytes(32, "big"), model_spec_hash=model_spec_hash(spec_params),
                              sketch=(), metrics={k: v for k, v in summary.items()
                                                  if not isinstance(v, float) or math.isfinite(v)})
    package = build_update_package(delta, metadata)
    load_update_package(package, spec_params)  # self-check: what an aggregator would accept
    return package, metadata


def run_local_trial(
    spec: TaskSpec,
    data: Dataset,
    *,
    plan: AttackPlan,
    seed: int,
    holdout: float,
    device: torch.device | str | None = None,
    epochs: int | None = None,
    initial_model: bytes | None = None,
    progress: bool = False,
) -> LocalTrial:
    """One trial on ``data``: ``holdout`` of it kept out (clean, fixed by ``seed``), the round
    step (``plan``'s attacks, round 0) from :func:`initial_global_state`, the submitted
    update evaluated on the hold-out and packaged. ``epochs`` overrides the spec's."""
    global_state = initial_global_state(spec, initial_model)
    train_set, hold_set = holdout_split(data, holdout, seed)
    step = local_round(global_state, train_set, spec, plan=plan, seed=seed, device=device, progress=progress,
                       holdout=hold_set, epochs=epochs)
    dtype = spec.training.dtype
    submitted = load_state(build_model(spec.model, dtype=dtype, init=False), apply_update(global_state, step.delta))
    _, accuracy_submitted = evaluate(submitted, hold_set)
    package, metadata = trial_package(step.delta, step.metrics, spec)
    return LocalTrial(step=step, accuracy_submitted=accuracy_submitted, update_norm=update_norm(step.delta),
                      metadata=metadata, package=package)

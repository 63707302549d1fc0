"""A trainer's round step, the one copy: data attack → local training → update attack.

:class:`~trainers.node.TrainerNode` (on chain), the benchmarks' kit (without a chain) and
``market trainer train-local`` (once, from the initial model) all produce their update here, so
a benchmark trainer trains exactly like a node does. The seed rule of a task's round lives here
too: :func:`round_seed` (``trainer seed · 100003 + round``).

With no attack (an empty :class:`~trainers.attacks.AttackPlan`) the step is plain local
training (:func:`~trainers.training.train_local`); a free-rider plan trains for zero epochs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from market.task_spec import TaskSpec
from trainers.attacks import AttackContext, AttackPlan
from trainers.data import Dataset
from trainers.training import LocalMetrics, LocalResult, train_local

__all__ = ["LOCAL_HOLDOUT", "SEED_STRIDE", "RoundStep", "local_round", "round_seed"]

SEED_STRIDE = 100_003
"""A round's training seed is ``trainer seed · SEED_STRIDE + round`` (see :func:`round_seed`)."""

LOCAL_HOLDOUT = 0.2
"""The fraction of a trainer's data kept out of training for the before/after accuracy."""


def round_seed(trainer_seed: int, round_: int) -> int:
    """The training seed of a trainer's round: ``trainer_seed · 100003 + round_``."""
    return trainer_seed * SEED_STRIDE + round_


@dataclass(frozen=True)
class RoundStep:
    """What one round step produced: the update to submit and the local training run."""

    delta: dict[str, np.ndarray]
    """The update the trainer submits (after the update-level attacks, if any)."""
    local: LocalResult
    """The local training run (its own ``delta`` is the honest, un-attacked update)."""

    @property
    def metrics(self) -> LocalMetrics:
        """The local run's metrics (loss, hold-out accuracy before/after, samples, seconds…)."""
        return self.local.metrics

    @property
    def num_samples(self) -> int:
        """The update's FedAvg weight: the training samples, at least 1."""
        return max(1, self.local.metrics.samples)


def local_round(
    global_state: Mapping[str, np.ndarray],
    dataset: Dataset,
    spec: TaskSpec,
    *,
    plan: AttackPlan,
    seed: int,
    round_: int = 0,
    previous_delta: Mapping[str, np.ndarray] | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
    holdout: Dataset | float = LOCAL_HOLDOUT,
    epochs: int | None = None,
) -> RoundStep:
    """One trainer's round: ``plan``'s data attacks on ``dataset``, local training of the
    ``global_state`` (the task's model and training sections), ``plan``'s update attacks.

    ``seed`` is the training seed (for a task's round: :func:`round_seed`); ``round_`` draws
    the attacks' randomness. ``holdout`` is a fraction of the (attacked) data or a separate
    clean :class:`~trainers.data.Dataset`; ``epochs`` overrides the spec's local epochs (a
    free-rider plan always trains zero). ``previous_delta`` is this trainer's earlier update,
    for stale free-riders. The inputs are never modified.
    """
    data = plan.apply_data(dataset, num_classes=spec.model.num_classes, round_=round_)
    local = train_local(global_state, data, spec.training, device=device, seed=seed, progress=progress,
                        section=spec.model, holdout=holdout, epochs=0 if plan.skips_training else epochs)
    delta = local.delta
    if plan:
        context = AttackContext(global_state=global_state, previous_delta=previous_delta)
        delta = plan.apply_update(local.delta, context, round_=round_)
    return RoundStep(delta=delta, local=local)

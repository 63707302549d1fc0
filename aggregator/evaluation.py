"""Validation utility of a model state on the owner's validation set (torch).

The model registry is the trainers' (``trainers/models.py``): the aggregator builds the very
network the task spec names, so "the accuracy of this state" means the same on both sides.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from market.task_spec import TaskSpec
from trainers.data import Dataset
from trainers.models import build_model, load_state
from trainers.training import evaluate


def make_evaluator(spec: TaskSpec, validation: Dataset, *, device: str = "cpu"):
    """``evaluate(state) -> accuracy`` on ``validation`` for the spec's model."""
    model = build_model(spec.model, dtype=spec.training.dtype, init=False)

    def accuracy(state: Mapping[str, np.ndarray]) -> float:
        with torch.no_grad():
            load_state(model, state)
        _loss, acc = evaluate(model, validation, device=device)
        return float(acc)

    return accuracy

"""What the aggregator computes on the owner's data with torch: the validation utility of a model
state, and each round's reference update on the root set.

The model registry is the trainers' (``trainers/models.py``): the aggregator builds the very
network the task spec names, so "the accuracy of this state" means the same on both sides, and
the reference is the trainers' own recipe (:func:`trainers.training.train_local`) on the root set.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from aggregator.reference import REFERENCE_TRAINER_SEED, ReferenceTrainer
from market.root_set import RootSet
from market.task_spec import TaskSpec
from trainers.data import Dataset
from trainers.models import build_model, load_state
from trainers.recipe import round_seed
from trainers.training import evaluate, train_local


def make_evaluator(spec: TaskSpec, validation: Dataset, *, device: str = "cpu"):
    """``evaluate(state) -> accuracy`` on ``validation`` for the spec's model."""
    model = build_model(spec.model, dtype=spec.training.dtype, init=False)

    def accuracy(state: Mapping[str, np.ndarray]) -> float:
        with torch.no_grad():
            load_state(model, state)
        _loss, acc = evaluate(model, validation, device=device)
        return float(acc)

    return accuracy


def make_reference_trainer(spec: TaskSpec, root: RootSet) -> ReferenceTrainer:
    """``train(global_state, round) -> reference update``: the spec's local recipe on the whole
    root set (for the spec's ``reference.epochs``, default the local epochs), on the CPU with one torch thread and the round's fixed seed, so that an auditor
    with the revealed root set (and the same torch build) recomputes it bit for bit."""
    data = Dataset(root.X, root.y, name="root set")
    epochs = spec.scoring.reference.epochs if spec.scoring.reference is not None else None

    def train(global_state: Mapping[str, np.ndarray], round_: int) -> dict[str, np.ndarray]:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            local = train_local(global_state, data, spec.training, device="cpu",
                                seed=round_seed(REFERENCE_TRAINER_SEED, round_), progress=False,
                                section=spec.model, holdout=data, epochs=epochs)
        finally:
            torch.set_num_threads(threads)
        return {k: np.asarray(v) for k, v in local.delta.items()}

    return train

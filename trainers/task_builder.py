"""A task spec built from a few settings: the built-in digits task and its initial model.

``market task post`` without ``--spec``/``--spec-cid`` posts this spec: the digits example
(:meth:`market.task_spec.TaskSpec.example_digits`) with the poster's model, epochs, learning
rate, batch size, detector and τ, and the spec's seeded initial model stored beside it (its
CID written into the spec before the spec itself is stored). The model registry needs torch,
so this module does.
"""

from __future__ import annotations

from typing import Literal

from market.storage import Storage
from market.task_spec import TaskSpec
from trainers.models import build_model, model_to_bytes

__all__ = ["digits_task_spec", "initial_model_bytes", "store_task_spec"]


def digits_task_spec(*, arch: Literal["mlp", "cnn", "logreg"], epochs: int, learning_rate: float, batch_size: int,
                     detector: str, tau: float) -> TaskSpec:
    """The digits example spec with these training and scoring settings (no initial model CID yet)."""
    spec = TaskSpec.example_digits(arch=arch, epochs=epochs)
    return spec.model_copy(update={
        "training": spec.training.model_copy(update={"learning_rate": learning_rate, "batch_size": batch_size}),
        "scoring": spec.scoring.model_copy(update={"detector": detector, "tau": tau}),
    })


def initial_model_bytes(spec: TaskSpec) -> bytes:
    """The spec's seed-initialised model (in its training dtype) as safetensors bytes."""
    return model_to_bytes(build_model(spec.model, dtype=spec.training.dtype))


def store_task_spec(storage: Storage, spec: TaskSpec) -> tuple[TaskSpec, str]:
    """Store ``spec``'s initial model, then the spec naming it; returns ``(stored spec, its CID)``."""
    spec = spec.with_initial_model(storage.put(initial_model_bytes(spec)))
    return spec, storage.put(spec.to_json())

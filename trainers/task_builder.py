"""A task spec built from a few settings: the built-in digits task, or one for the owner's own
data, and its initial model.

``market task post`` without ``--spec``/``--spec-cid`` posts the digits spec: the example
(:meth:`market.task_spec.TaskSpec.example_digits`) with the poster's model, epochs, learning
rate, batch size, detector and τ, and the spec's seeded initial model stored beside it (its
CID written into the spec before the spec itself is stored). ``market task spec --data FILE``
prints :func:`data_task_spec`: the schema of the owner's file (input shape, classes, label
column) with the same settings, standardizing per feature by the file's statistics. The model
registry needs torch, so this module does.
"""

from __future__ import annotations

from typing import Literal

from market.exceptions import MarketValueError
from market.storage import Storage
from market.task_spec import DataSection, ModelSection, ScoringSection, TaskSpec, TrainingSection
from trainers.data import Dataset
from trainers.input_scaling import with_standardization
from trainers.models import build_model, model_to_bytes

__all__ = ["data_task_spec", "digits_task_spec", "initial_model_bytes", "store_task_spec"]

Arch = Literal["mlp", "cnn", "logreg"]


def digits_task_spec(*, arch: Arch, epochs: int, learning_rate: float, batch_size: int,
                     detector: str, tau: float) -> TaskSpec:
    """The digits example spec with these training and scoring settings (no initial model CID yet)."""
    spec = TaskSpec.example_digits(arch=arch, epochs=epochs)
    return spec.model_copy(update={
        "training": spec.training.model_copy(update={"learning_rate": learning_rate, "batch_size": batch_size}),
        "scoring": spec.scoring.model_copy(update={"detector": detector, "tau": tau}),
    })


def data_task_spec(dataset: Dataset, *, name: str, arch: Arch, epochs: int, learning_rate: float, batch_size: int,
                   detector: str, tau: float, label_column: str = "label", standardize: bool = True) -> TaskSpec:
    """A spec for data shaped like ``dataset`` (its input shape; classes 0 .. the largest label)
    with these settings; with ``standardize`` the model standardizes every input element by
    ``dataset``'s mean and standard deviation (:mod:`trainers.input_scaling`)."""
    shape = dataset.input_shape
    if arch == "cnn" and len(shape) != 3:
        raise MarketValueError(f"--model cnn needs inputs shaped [C, H, W]; {dataset.name} has {list(shape)}: "
                               "use mlp or logreg")
    if len(dataset) == 0 or int(dataset.y.min()) < 0:
        raise MarketValueError(f"{dataset.name}: needs samples with labels 0, 1, …")
    num_classes = max(int(dataset.y.max()) + 1, 2)
    params: dict = {"hidden": [32]} if arch == "mlp" else ({"channels": 8} if arch == "cnn" else {})
    spec = TaskSpec(
        name=name,
        model=ModelSection(arch=arch, input_shape=shape, num_classes=num_classes, params=params),
        training=TrainingSection(local_epochs=epochs, learning_rate=learning_rate, batch_size=batch_size),
        data=DataSection(kind="tabular" if len(shape) == 1 else "image", input_shape=shape, num_classes=num_classes,
                         label_column=label_column),
        scoring=ScoringSection(detector=detector, tau=tau),
    )
    return with_standardization(spec, dataset.X) if standardize else spec


def initial_model_bytes(spec: TaskSpec) -> bytes:
    """The spec's seed-initialised model (in its training dtype) as safetensors bytes."""
    return model_to_bytes(build_model(spec.model, dtype=spec.training.dtype))


def store_task_spec(storage: Storage, spec: TaskSpec) -> tuple[TaskSpec, str]:
    """Store ``spec``'s initial model, then the spec naming it; returns ``(stored spec, its CID)``."""
    spec = spec.with_initial_model(storage.put(initial_model_bytes(spec)))
    return spec, storage.put(spec.to_json())

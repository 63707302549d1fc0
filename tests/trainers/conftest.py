"""Fixtures of the trainer tests: digits specs and data, kept small and fast (CPU).

The folder needs the ``train`` extra (torch, scikit-learn); without it collection fails with
the command that installs them.
"""

from __future__ import annotations

import importlib.util

import pytest

_MISSING = [m for m in ("torch", "sklearn") if importlib.util.find_spec(m) is None]
if _MISSING:
    raise ImportError(f"tests/trainers need {', '.join(_MISSING)}: run `make install` (pip install -e '.[dev,train]')")
import torch  # noqa: E402

torch.set_num_threads(1)  # tiny models: one thread is fastest and keeps runs comparable on busy machines

from market.task_spec import TaskSpec, TrainingSection  # noqa: E402
from trainers.data import Dataset, digits_train_test  # noqa: E402
from trainers.models import with_input_range  # noqa: E402

QUICK = dict(epochs=2, learning_rate=0.1, batch_size=32)
"""Short local runs for the tests (the defaults' 5 epochs of batch 16 are benchmarks/learning_defaults.py's)."""


@pytest.fixture(scope="session")
def mlp_spec() -> TaskSpec:
    return with_input_range(TaskSpec.example_digits(arch="mlp", **QUICK))


@pytest.fixture(scope="session")
def cnn_spec() -> TaskSpec:
    return with_input_range(TaskSpec.example_digits(arch="cnn", **QUICK))


@pytest.fixture(scope="session")
def digits_flat() -> tuple[Dataset, Dataset]:
    return digits_train_test((64,), seed=0)


@pytest.fixture(scope="session")
def digits_image() -> tuple[Dataset, Dataset]:
    return digits_train_test((1, 8, 8), seed=0)


@pytest.fixture
def sgd() -> TrainingSection:
    return TrainingSection(optimizer="sgd", learning_rate=0.1, local_epochs=3, batch_size=32)

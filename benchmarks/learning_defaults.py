"""Do the training defaults learn? (issue 14, "Defaults"; ``scripts/bench_learning_defaults.py``)

One local run (``market trainer train-local``'s :func:`trainers.local_trial.run_local_trial`:
20 % hold-out, seed 0) from each spec's seeded initial model, side by side:

- digits (scikit-learn's 1,797 8×8 images) for mlp, logreg and cnn, at the defaults of
  :mod:`market.task_spec` (``DEFAULT_LEARNING_RATE``, ``DEFAULT_LOCAL_EPOCHS``,
  ``DEFAULT_BATCH_SIZE``) and at the old built-in spec's (lr 0.1, 2 epochs, batch 32); the
  reference is scikit-learn's ``MLPClassifier`` (one hidden layer of 32, adam, 200 iterations)
  on the same split;
- breast cancer (569 samples, 30 features from 0.001 to 4,254), mlp at the defaults, with the
  three input scalings a spec can have: none, one ``input_range`` for all features (the data's
  global min and max), and per-feature ``standardize`` (``market task spec --data``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.table import Table

from market.task_spec import DEFAULT_BATCH_SIZE, DEFAULT_LEARNING_RATE, DEFAULT_LOCAL_EPOCHS, TaskSpec
from trainers.attacks import AttackPlan
from trainers.data import Dataset, conform, holdout_split, load_digits_dataset
from trainers.local_trial import run_local_trial
from trainers.models import with_input_range
from trainers.task_builder import data_task_spec

__all__ = ["OLD_BUILT_IN", "Trial", "breast_cancer_trials", "digits_trials", "main", "sklearn_reference"]

OLD_BUILT_IN = (0.1, 2, 32)
"""(learning rate, epochs, batch size) of the built-in spec before issue 14."""
HOLDOUT = 0.2
SEED = 0


@dataclass(frozen=True)
class Trial:
    """One local run: what was trained, how, and its hold-out accuracy."""

    data: str
    model: str
    setting: str
    accuracy: float
    seconds: float


def _trial(spec: TaskSpec, data: Dataset, setting: str) -> Trial:
    start = time.perf_counter()
    trial = run_local_trial(spec, data, plan=AttackPlan.parse(None), seed=SEED, holdout=HOLDOUT, device="cpu")
    return Trial(data.name, spec.model.arch, setting, trial.metrics.accuracy_after, time.perf_counter() - start)


def _settings_name(lr: float, epochs: int, batch: int) -> str:
    return f"lr {lr:g}, {epochs} epochs, batch {batch}"


def digits_trials() -> list[Trial]:
    """Every digits model at the defaults and at the old built-in settings."""
    out = []
    for arch in ("mlp", "logreg", "cnn"):
        for lr, epochs, batch in ((DEFAULT_LEARNING_RATE, DEFAULT_LOCAL_EPOCHS, DEFAULT_BATCH_SIZE), OLD_BUILT_IN):
            spec = with_input_range(TaskSpec.example_digits(arch=arch, epochs=epochs, learning_rate=lr,
                                                            batch_size=batch))
            data = conform(load_digits_dataset(spec.data.input_shape), spec.data)
            out.append(_trial(spec, data, _settings_name(lr, epochs, batch)))
    return out


def sklearn_reference() -> float:
    """scikit-learn's MLPClassifier on the same digits split (inputs scaled to [0, 1])."""
    import warnings

    from sklearn.neural_network import MLPClassifier

    train, hold = holdout_split(load_digits_dataset((64,)), HOLDOUT, SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the convergence warning at max_iter
        clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, random_state=SEED).fit(train.X / 16.0, train.y)
    return float(clf.score(hold.X / 16.0, hold.y))


def breast_cancer_trials() -> list[Trial]:
    """The mlp on breast cancer with no scaling, one global range, and per-feature standardisation."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    data = Dataset(bunch.data.astype(np.float32), bunch.target.astype(np.int64), "breast_cancer")
    settings = dict(name="breast-cancer", arch="mlp", epochs=DEFAULT_LOCAL_EPOCHS, learning_rate=DEFAULT_LEARNING_RATE,
                    batch_size=DEFAULT_BATCH_SIZE, detector="provable", tau=4.0)
    raw = data_task_spec(data, standardize=False, **settings)  # type: ignore[arg-type]
    low, high = float(data.X.min()), float(data.X.max())
    ranged = raw.model_copy(update={"model": raw.model.model_copy(
        update={"params": {**raw.model.params, "input_range": [low, high]}})})
    standardized = data_task_spec(data, standardize=True, **settings)  # type: ignore[arg-type]
    return [_trial(raw, data, "no scaling"), _trial(ranged, data, f"input_range [{low:g}, {high:g}]"),
            _trial(standardized, data, "standardize (per feature)")]


def _table(trials: list[Trial], title: str, baseline: float | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("data", "model", "settings", "hold-out accuracy", "time"):
        table.add_column(column, justify="right" if column in ("hold-out accuracy", "time") else "left")
    if baseline is not None:
        table.add_column("÷ sklearn MLP", justify="right")
    for t in trials:
        row = [t.data, t.model, t.setting, f"{t.accuracy:.3f}", f"{t.seconds:.2f} s"]
        table.add_row(*row, *([f"{t.accuracy / baseline:.2f}"] if baseline is not None else []))
    return table


def main() -> tuple[list[Trial], float, list[Trial]]:
    """Run both studies and print their tables."""
    console = Console(width=130)
    reference = sklearn_reference()
    digits = digits_trials()
    console.print(_table(digits, f"digits: one local run (sklearn MLPClassifier on the same split: {reference:.3f})",
                         reference))
    cancer = breast_cancer_trials()
    console.print(_table(cancer, "breast cancer: the spec's input scaling (mlp, the defaults)"))
    return digits, reference, cancer

"""``market trainer train-local``: train once from a task spec's initial model, with no chain.

For trying data and hyper-parameters before joining a task: builds the initial model from the
spec's ``init_seed`` (or loads ``--initial-model``), trains on the local data (the built-in
digits, or ``--data``), prints a summary, writes an update package (task 0, round 0, trainer
0x0…0, no sketch) and, with ``--json``, the metrics. The run itself is the library's
:func:`trainers.local_trial.run_local_trial`; this module resolves the flags and reports.

Torch and the ``trainers`` package are imported inside the command, so importing ``market``
never imports torch.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from market.exceptions import MarketError, MarketValueError
from market.types import ZERO_ADDRESS

if TYPE_CHECKING:  # torch comes with these: imported inside the command only
    from market.task_spec import TaskSpec
    from trainers.attacks import AttackPlan
    from trainers.data import Dataset
    from trainers.local_trial import LocalTrial

PLACEHOLDER_TRAINER = ZERO_ADDRESS
"""Trainer address written into packages made without a wallet
(:data:`trainers.local_trial.PLACEHOLDER_TRAINER`; this module imports no torch, so names it here)."""


def _load_spec(spec_file: Path | None, dataset: str | None, arch: str | None, epochs: int | None):
    from market.task_spec import TaskSpec

    if spec_file is not None:
        if arch is not None:
            raise MarketValueError("--model conflicts with --spec: the spec names the model")
        return TaskSpec.from_json(spec_file.read_bytes())
    from trainers.models import with_input_range

    if (dataset or "digits") != "digits":
        raise MarketValueError(f"unknown built-in data set {dataset!r}; use digits, or --spec with --data")
    return with_input_range(TaskSpec.example_digits(arch=arch or "mlp", epochs=epochs))  # type: ignore[arg-type]


def _load_data(spec, data_path: Path | None, dataset: str | None):
    from trainers.data import conform, load_dataset, load_digits_dataset

    if data_path is not None:
        if dataset is not None:
            raise MarketValueError("--dataset conflicts with --data: give one source of data")
        return load_dataset(data_path, spec.data)
    if math.prod(spec.data.input_shape) != 64 or spec.data.num_classes != 10:
        raise MarketValueError(f"the spec's data ({list(spec.data.input_shape)}, {spec.data.num_classes} classes) is "
                               "not the digits set: give your data with --data FILE_OR_DIR")
    return conform(load_digits_dataset(spec.data.input_shape), spec.data)


def _summary(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"train-local: {report['task']} ({report['model']})", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("device", f"{report['device']}{' (mixed precision)' if report['mixed_precision'] else ''}"),
        ("data", f"{report['dataset']}: {report['samples']} training + {report['holdout_samples']} hold-out samples"),
        ("epochs", str(report["epochs"])),
        ("hold-out accuracy", f"{report['accuracy_before']:.4f} → [bold]{report['accuracy_after']:.4f}[/]"
                              + (f" (submitted update: {report['accuracy_submitted']:.4f})" if report["attacks"] else "")),
        ("hold-out loss", f"{report['loss_before']:.4f} → {report['loss_after']:.4f}"),
        ("training loss", f"{report['loss']:.4f}"),
        ("time", f"{report['seconds']:.2f} s training, {report['total_seconds']:.2f} s in all"),
        ("attack", report["attack"]),
        ("update", f"{report['update_path']} ({report['package_bytes']:,} bytes, L2 norm {report['update_norm']:.4g})"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console = Console(highlight=False)
    console.print(table)
    if not report["within_norm_limit"]:
        console.print(f"[yellow]the update's norm exceeds the spec's limits.max_update_norm ({report['max_update_norm']}): "
                      "an aggregator would reject it[/]")


def _torch_version() -> str:
    """torch's version, or a one-line error when the ``train`` extra is not installed."""
    try:
        import torch
    except ImportError:
        raise MarketError("train-local needs torch and scikit-learn: pip install '.[train]'") from None
    return torch.__version__


def _report(trial: LocalTrial, *, spec: TaskSpec, data: Dataset, data_path: Path | None, seed: int, plan: AttackPlan,
            out: Path, wall: float, torch_version: str) -> dict[str, Any]:
    """The command's report (the ``--json`` document and the summary's source)."""
    m = trial.metrics
    norm = trial.update_norm
    return {
        "task": spec.name, "model": spec.model.arch, "dataset": data.name or str(data_path),
        "device": m.device, "mixed_precision": m.mixed_precision,
        "accuracy_before": m.accuracy_before, "accuracy_after": m.accuracy_after,
        "accuracy_submitted": trial.accuracy_submitted, "loss": m.loss, "loss_before": m.loss_before,
        "loss_after": m.loss_after, "epoch_losses": list(m.epoch_losses),
        "samples": m.samples, "holdout_samples": m.holdout_samples, "epochs": m.epochs, "seed": seed,
        "attack": str(plan), "attacks": plan.describe(),
        "seconds": m.seconds, "total_seconds": time.perf_counter() - wall,
        "update_path": str(out), "package_bytes": len(trial.package), "update_norm": norm,
        "max_update_norm": spec.limits.max_update_norm, "within_norm_limit": norm <= spec.limits.max_update_norm,
        "model_spec_hash": "0x" + trial.metadata.model_spec_hash.hex(), "task_model_hash": spec.model_hash(),
        "torch": torch_version,
    }


def _write_json(json_file: Path, report: dict[str, Any]) -> None:
    json_file.parent.mkdir(parents=True, exist_ok=True)
    json_file.write_text(json.dumps(_finite(report), indent=2) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


@click.command("train-local")
@click.option("--spec", "spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Task spec JSON file (default: the built-in digits example).")
@click.option("--dataset", type=click.Choice(["digits"]), default=None,
              help="Built-in data set (default when no --data is given: digits).")
@click.option("--model", "arch", type=click.Choice(["mlp", "cnn", "logreg"]), default=None,
              help="Architecture of the built-in example (default mlp); not with --spec.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Local epochs (default: the spec's).")
@click.option("--data", "data_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Your data: a .npz (X, y), a .csv (label column from the spec) or an image folder.")
@click.option("--device", "device_name", default="auto", show_default=True, metavar="auto|cpu|cuda[:N]",
              help="Torch device; auto takes cuda when available.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the hold-out split, batch order and attacks.")
@click.option("--attack", default=None, metavar="NAME[:k=v,...]",
              help="Simulate a misbehaving trainer, e.g. sign_flip, gaussian_noise:sigma=0.5, unreliable:noisy_labels=0.5.")
@click.option("--initial-model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Start from this global model (safetensors) instead of the spec's seeded initialisation.")
@click.option("--holdout", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2, show_default=True,
              help="Fraction of the data kept out of training for the before/after accuracy.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("update.safetensors"),
              show_default=True, help="Where to write the update package.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the metrics (device, accuracy_before/after, update_path, seconds…) as JSON here.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Per-epoch progress bars.")
def train_local(spec_file: Path | None, dataset: str | None, arch: str | None, epochs: int | None,
                data_path: Path | None, device_name: str, seed: int, attack: str | None, initial_model: Path | None,
                holdout: float, out: Path, json_file: Path | None, progress: bool) -> None:
    """Train once from the initial model on local data, with no chain; write the update.

    The hold-out is split off before any data attack, so it stays clean: accuracy_after is
    the locally trained model's, accuracy_submitted that of global + the (attacked) update.
    """
    wall = time.perf_counter()
    try:
        torch_version = _torch_version()  # fail early with a clear message
        from trainers.attacks import AttackPlan
        from trainers.local_trial import run_local_trial
        from trainers.training import pick_device

        plan = AttackPlan.parse(attack, seed=seed)
        device = pick_device(device_name)
        spec = _load_spec(spec_file, dataset, arch, epochs)
        data = _load_data(spec, data_path, dataset)
        trial = run_local_trial(spec, data, plan=plan, seed=seed, holdout=holdout, device=device, epochs=epochs,
                                initial_model=initial_model.read_bytes() if initial_model is not None else None,
                                progress=progress)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(trial.package)
        report = _report(trial, spec=spec, data=data, data_path=data_path, seed=seed, plan=plan, out=out, wall=wall,
                         torch_version=torch_version)
        if json_file is not None:
            _write_json(json_file, report)
    except MarketError as exc:
        err = click.ClickException(str(exc))
        err.exit_code = exc.exit_code
        raise err from None
    _summary(report)

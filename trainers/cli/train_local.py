"""``market trainer train-local``: train once from a task spec's initial model, with no chain.

For trying data and hyper-parameters before joining a task: builds the initial model from the
spec's ``init_seed`` (or loads ``--initial-model``), trains on the local data (the built-in
digits, or ``--data``), prints a summary, writes an update package (task 0, round 0, trainer
0x0…0, no sketch) and, with ``--json``, the metrics.

Torch and the ``trainers`` package are imported inside the command, so importing ``market``
never imports torch.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import click

from market.exceptions import MarketError, MarketValueError

PLACEHOLDER_TRAINER = "0x" + "00" * 20
"""Trainer address written into packages made without a wallet."""


def _load_spec(spec_file: Path | None, dataset: str | None, arch: str | None, epochs: int | None):
    from market.task_spec import TaskSpec

    if spec_file is not None:
        if arch is not None:
            raise MarketValueError("--model conflicts with --spec: the spec names the model")
        return TaskSpec.from_json(spec_file.read_bytes())
    from trainers.models import with_input_range

    if (dataset or "digits") != "digits":
        raise MarketValueError(f"unknown built-in data set {dataset!r}; use digits, or --spec with --data")
    return with_input_range(TaskSpec.example_digits(arch=arch or "mlp", epochs=epochs or 2))  # type: ignore[arg-type]


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


def _run(spec_file, dataset, arch, epochs, data_path, device_name, seed, attack, out, json_file, initial_model,
         holdout, progress) -> dict[str, Any]:
    wall = time.perf_counter()
    try:
        import torch  # noqa: F401 - fail early with a clear message
    except ImportError:
        raise MarketError("train-local needs torch and scikit-learn: pip install '.[train]'") from None
    from market.update_package import UpdateMetadata, build_update_package, load_update_package, model_spec_hash
    from trainers.attacks import AttackContext, AttackPlan
    from trainers.data import holdout_split
    from trainers.models import build_model, load_state, model_from_bytes, param_spec, state_to_numpy
    from trainers.training import apply_update, evaluate, pick_device, train_local as run_training, update_norm
    from zk import random_salt

    plan = AttackPlan.parse(attack, seed=seed)
    device = pick_device(device_name)
    spec = _load_spec(spec_file, dataset, arch, epochs)
    data = _load_data(spec, data_path, dataset)
    dtype = spec.training.dtype
    if initial_model is not None:
        model = model_from_bytes(initial_model.read_bytes(), spec.model, dtype=dtype)
    else:
        model = build_model(spec.model, dtype=dtype)
    global_state = state_to_numpy(model)
    train_set, hold_set = holdout_split(data, holdout, seed)
    train_set = plan.apply_data(train_set, num_classes=spec.data.num_classes)  # the hold-out stays clean
    n_epochs = 0 if plan.skips_training else (spec.training.local_epochs if epochs is None else epochs)
    result = run_training(model, train_set, spec.training, device=device, seed=seed, epochs=n_epochs,
                          progress=progress, holdout=hold_set)
    delta = plan.apply_update(result.delta, AttackContext(global_state=global_state))
    submitted = load_state(build_model(spec.model, dtype=dtype, init=False), apply_update(global_state, delta))
    _, accuracy_submitted = evaluate(submitted, hold_set)

    m = result.metrics
    norm = update_norm(delta)
    metrics = {"loss": m.loss, "accuracy_before": m.accuracy_before, "accuracy_after": m.accuracy_after,
               "holdout_samples": m.holdout_samples, "epochs": m.epochs, "seconds": round(m.seconds, 4),
               "device": m.device}
    spec_params = param_spec(spec.model, dtype=dtype)
    metadata = UpdateMetadata(task_id=0, round=0, trainer=PLACEHOLDER_TRAINER, num_samples=m.samples,
                              salt=random_salt().to_bytes(32, "big"), model_spec_hash=model_spec_hash(spec_params),
                              sketch=(), metrics={k: v for k, v in metrics.items()
                                                  if not isinstance(v, float) or math.isfinite(v)})
    package = build_update_package(delta, metadata)
    load_update_package(package, spec_params)  # self-check: what an aggregator would accept
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(package)

    report = {
        "task": spec.name, "model": spec.model.arch, "dataset": data.name or str(data_path),
        "device": m.device, "mixed_precision": m.mixed_precision,
        "accuracy_before": m.accuracy_before, "accuracy_after": m.accuracy_after,
        "accuracy_submitted": accuracy_submitted, "loss": m.loss, "loss_before": m.loss_before, "loss_after": m.loss_after, "epoch_losses": list(m.epoch_losses),
        "samples": m.samples, "holdout_samples": m.holdout_samples, "epochs": m.epochs, "seed": seed,
        "attack": str(plan), "attacks": plan.describe(),
        "seconds": m.seconds, "total_seconds": time.perf_counter() - wall,
        "update_path": str(out), "package_bytes": len(package), "update_norm": norm,
        "max_update_norm": spec.limits.max_update_norm, "within_norm_limit": norm <= spec.limits.max_update_norm,
        "model_spec_hash": "0x" + metadata.model_spec_hash.hex(), "task_model_hash": spec.model_hash(),
        "torch": torch.__version__,
    }
    if json_file is not None:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_text(json.dumps(_finite(report), indent=2) + "\n")
    return report


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
    try:
        report = _run(spec_file, dataset, arch, epochs, data_path, device_name, seed, attack, out, json_file,
                      initial_model, holdout, progress)
    except MarketError as exc:
        err = click.ClickException(str(exc))
        err.exit_code = exc.exit_code
        raise err from None
    _summary(report)

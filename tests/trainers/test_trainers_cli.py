"""``market trainer train-local`` through click's CliRunner: JSON report, package, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from market.task_spec import TaskSpec
from market.update_package import load_update_package
from trainers.cli.train_local import PLACEHOLDER_TRAINER, train_local
from trainers.models import param_spec, with_input_range

REQUIRED = {"device", "accuracy_before", "accuracy_after", "update_path", "seconds", "loss", "samples", "epochs", "attack"}


def test_train_local_command_writes_json_and_package(tmp_path: Path) -> None:
    # Execute
    out, report = tmp_path / "u.safetensors", tmp_path / "r.json"
    result = CliRunner().invoke(train_local, ["--dataset", "digits", "--model", "mlp", "--epochs", "3",
                                              "--device", "cpu", "--out", str(out), "--json", str(report),
                                              "--no-progress"])
    # Assert
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert REQUIRED <= set(data)
    assert data["device"] == "cpu" and data["epochs"] == 3 and data["attack"] == "none"
    assert data["accuracy_after"] > data["accuracy_before"] + 0.3
    assert data["update_path"] == str(out)
    spec = with_input_range(TaskSpec.example_digits(arch="mlp"))
    package = load_update_package(out.read_bytes(), param_spec(spec.model))
    assert package.metadata.task_id == 0 and package.metadata.round == 0
    assert package.metadata.trainer.lower() == PLACEHOLDER_TRAINER and package.metadata.sketch == ()
    assert package.metadata.num_samples == data["samples"]
    assert package.metadata.metrics["accuracy_after"] == data["accuracy_after"]
    assert "hold-out accuracy" in result.output


def test_train_local_command_with_spec_data_and_attack(tmp_path: Path) -> None:
    # Prepare: a cnn spec on the user's own .npz
    from trainers.data import load_digits_dataset

    spec = with_input_range(TaskSpec.example_digits(arch="cnn"))
    (tmp_path / "spec.json").write_bytes(spec.to_json())
    digits = load_digits_dataset((64,)).subset(range(600))
    np.savez(tmp_path / "mine.npz", X=digits.X, y=digits.y)
    # Execute
    result = CliRunner().invoke(train_local, ["--spec", str(tmp_path / "spec.json"), "--data", str(tmp_path / "mine.npz"),
                                              "--epochs", "2", "--attack", "scaling:factor=3", "--seed", "1",
                                              "--out", str(tmp_path / "u.safetensors"), "--json", str(tmp_path / "r.json"),
                                              "--no-progress"])
    # Assert
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["model"] == "cnn" and data["dataset"] == "mine" and data["samples"] + data["holdout_samples"] == 600
    assert data["attack"] == "scaling:factor=3.0"
    assert data["accuracy_after"] > data["accuracy_before"]


def test_train_local_command_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(train_local, ["--attack", "teleport", "--out", str(tmp_path / "u.safetensors")])
    assert bad.exit_code != 0 and "unknown attack 'teleport'" in bad.output and "Traceback" not in bad.output
    (tmp_path / "bad.npz").write_bytes(b"")
    np.savez(tmp_path / "bad.npz", X=np.full((10, 64), 40.0), y=np.zeros(10, np.int64))
    bad = runner.invoke(train_local, ["--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "u.safetensors")])
    assert bad.exit_code != 0 and "value_range is [0, 16]" in bad.output


def test_importing_market_and_the_command_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, market, market.update_package, market.task_spec, trainers.cli.train_local; "
            "print('torch' in sys.modules, 'trainers.models' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]

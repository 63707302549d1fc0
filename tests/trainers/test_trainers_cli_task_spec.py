"""``market task spec`` (:mod:`trainers.cli.task_spec`) and the training defaults in one place:
the flags, the built-in spec, the schema and the demo agree, and a spec for a CSV standardizes it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from benchmarks.records import DemoOptions
from market.task_spec import DEFAULT_BATCH_SIZE, DEFAULT_LEARNING_RATE, DEFAULT_LOCAL_EPOCHS, TaskSpec, TrainingSection
from trainers.cli.task_spec import spec


def test_the_flags_the_built_in_spec_the_schema_and_the_demo_share_one_set_of_defaults() -> None:
    # Execute
    result = CliRunner().invoke(spec, [])
    # Assert
    assert result.exit_code == 0, result.output
    printed = TaskSpec.from_json(result.output).training
    defaults = (DEFAULT_LEARNING_RATE, DEFAULT_LOCAL_EPOCHS, DEFAULT_BATCH_SIZE)
    for training in (printed, TaskSpec.example_digits().training, TrainingSection()):
        assert (training.learning_rate, training.local_epochs, training.batch_size) == defaults
    demo = DemoOptions()
    assert (demo.learning_rate, demo.epochs, demo.batch_size) == defaults


def _write_csv(path: Path, X: np.ndarray, y: np.ndarray) -> None:
    lines = ["f0,f1,f2,diagnosis"] + [",".join(f"{v:.6g}" for v in row) + f",{label}" for row, label in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")


def test_a_spec_for_a_csv_takes_its_schema_and_standardizes_each_feature(tmp_path: Path) -> None:
    # Prepare: three features on scales 1, 1000, 0.001; labels 0/1 in a named column
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (80, 3)) * np.array([1.0, 1000.0, 0.001]) + np.array([5.0, 2000.0, 0.01])
    _write_csv(tmp_path / "cancer.csv", X, rng.integers(0, 2, 80))
    # Execute
    result = CliRunner().invoke(spec, ["--data", str(tmp_path / "cancer.csv"), "--label-column", "diagnosis"])
    # Assert
    assert result.exit_code == 0, result.output
    built = TaskSpec.from_json(result.output)
    assert built.name == "cancer" and built.data.input_shape == (3,) and built.data.num_classes == 2
    assert built.data.label_column == "diagnosis" and built.model.arch == "mlp"
    std = built.model.params["standardize"]["std"]
    assert np.allclose(std, X.std(axis=0), rtol=1e-4)  # what the file holds, per feature


def test_bad_data_for_a_spec_is_refused_clearly(tmp_path: Path) -> None:
    # Prepare
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    (tmp_path / "d.txt").write_text("1 2\n")
    runner = CliRunner()
    # Execute
    no_label = runner.invoke(spec, ["--data", str(tmp_path / "d.csv")])
    wrong_kind = runner.invoke(spec, ["--data", str(tmp_path / "d.txt")])
    cnn = runner.invoke(spec, ["--data", str(tmp_path / "d.csv"), "--label-column", "b", "--model", "cnn"])
    # Assert: each names what is wrong; nothing is printed as a spec
    assert no_label.exit_code != 0 and "no label column 'label'" in str(no_label.exception or no_label.output)
    assert wrong_kind.exit_code == 2 and "give a .csv" in wrong_kind.output
    assert cnn.exit_code != 0 and "--model cnn needs inputs shaped" in str(cnn.exception or cnn.output)
    assert not any(r.output.lstrip().startswith("{") for r in (no_label, wrong_kind, cnn))


def test_the_printed_spec_is_valid_json_a_user_can_edit(tmp_path: Path) -> None:
    result = CliRunner().invoke(spec, ["--model", "cnn", "--epochs", "3", "--name", "my-digits"])
    raw = json.loads(result.output)
    assert raw["name"] == "my-digits" and raw["training"]["local_epochs"] == 3 and raw["model"]["arch"] == "cnn"

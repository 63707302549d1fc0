"""docs/task_spec.md stays true: its commands run as written (no chain needed), its digits example
is what `market task spec --model mlp` prints, and its table names every field of the schema."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from pydantic import BaseModel

from market.task_spec import TaskSpec

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "task_spec.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.DOTALL)


def _field_paths(model: type[BaseModel], prefix: str = "") -> tuple[set[str], set[str]]:
    """(every field's dotted path, the paths of the sections among them)."""
    paths, sections = set(), set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        paths.add(path)
        nested = [t for t in getattr(field.annotation, "__args__", (field.annotation,)) if isinstance(t, type)
                  and issubclass(t, BaseModel)]
        for section in nested:
            sections.add(path)
            inner, inner_sections = _field_paths(section, path + ".")
            paths, sections = paths | inner, sections | inner_sections
    return paths, sections


def test_the_docs_commands_run_as_written(tmp_path):
    # Prepare: a folder standing for the repository root, the doc's sh blocks in order
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "docs.sh").write_text("set -euo pipefail\n" + "\n".join(_blocks("sh")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKET_")}
    env.update(MARKET_HOME=str(tmp_path / "home"), COLUMNS="200")
    # Execute
    run = subprocess.run(["bash", "docs.sh"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    # Assert: every command succeeded and wrote what the doc says; the standardized CSV spec learns
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    cancer = TaskSpec.from_json((tmp_path / "cancer_spec.json").read_bytes())
    assert cancer.data.input_shape == (30,) and cancer.data.num_classes == 2
    assert len(cancer.model.params["standardize"]["std"]) == 30
    assert (tmp_path / "cancer_val.csv").read_text().count("\n") == 1 + 569 - 450
    for update in ("digits-update.safetensors", "cancer-update.safetensors", "digits_val.npz"):
        assert (tmp_path / update).stat().st_size > 0, update
    accuracies = [float(a) for a in re.findall(r"hold-out accuracy\W+[0-9.]+ → ([0-9.]+)", run.stdout)]
    assert len(accuracies) == 2 and min(accuracies) > 0.85, run.stdout[-3000:]


def test_the_docs_digits_example_is_what_the_command_prints():
    # Prepare
    documented = json.loads(_blocks("json")[0])
    # Execute
    printed = subprocess.run([str(ROOT / ".venv/bin/market"), "task", "spec", "--model", "mlp"], capture_output=True,
                             text=True, check=True).stdout
    # Assert
    assert json.loads(printed) == documented


def test_the_docs_table_names_every_field_of_the_schema():
    rows = set(re.findall(r"^\| `([a-z_.]+)` \|", DOC.read_text(), re.MULTILINE))
    paths, sections = _field_paths(TaskSpec)
    assert (paths - sections) - rows == set(), "fields missing from docs/task_spec.md's table"
    assert rows - paths == set(), "rows of docs/task_spec.md's table that the schema does not have"

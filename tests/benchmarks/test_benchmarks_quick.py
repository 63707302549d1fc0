"""Every benchmark in --quick mode: the tables have their columns and sane values, RESULTS.md
is assembled with its command and machine, the plots are PNG files. Not a timed test."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import fairness, overhead, robustness, scale, zk_costs, zk_table
from benchmarks.common import ACCURACY_NOISE, REPO_ROOT

PNG = b"\x89PNG\r\n\x1a\n"


def _floats(cells: list[str]) -> list[float]:
    return [float(c) for c in cells]


def test_results_md_has_command_machine_and_sections_in_order(quick_run):
    sections, path = quick_run
    text = path.read_text()
    assert "`python scripts/bench_all.py --quick`" in text
    for key in ("| cpu |", "| cores |", "| python |", "| torch |", "| flwr |", "| date |"):
        assert key in text
    positions = [text.index(f"## {i}. ") for i in range(1, 6)]
    assert positions == sorted(positions)
    for section in sections.values():
        assert f"Command: `{section.command}`" in text
        for plot in section.plots:
            assert plot.read_bytes()[:8] == PNG
            assert f"]({plot.name})" in text


def test_overhead_quick_tables(quick_run):
    section = quick_run[0]["overhead"]
    steps = section.table("Overhead: time of one round")
    assert steps.columns == ["step", "side", "market s/round", "per trainer", "share of round",
                             "market on anvil s/round", "Flower FedAvg s/round"]
    labels = steps.column("step")
    assert labels[: len(overhead.STEPS)] == [label for label, _ in overhead.STEPS]
    assert labels[-3:] == ["total", "not-training / training", "… without the audit-only rows"]
    assert steps.rows[labels.index("proving")][2] != "n/a (trusted mode)"  # the demo proves by default
    assert section.data["per_round"]["local training"] > 0
    assert section.data["ratio"] > 0

    accuracy = section.table("Overhead: validation accuracy per round")
    assert accuracy.column("round") == ["0", "final (test split)"]
    market = _floats(accuracy.column("market (provable rule + FedAvg)"))
    flower = _floats(accuracy.column("Flower FedAvg (same seeds)"))
    assert all(0.0 <= a <= 1.0 for a in market + flower)
    assert section.data["verdict"] == "match within noise"
    assert max(abs(a - b) for a, b in zip(market, flower)) <= max(ACCURACY_NOISE, *_floats(accuracy.column("|noise|")))


def test_gas_table_is_in_section_four(quick_run):
    zk = quick_run[0]["zk"]
    gas = zk.table("Gas of every contract call")
    functions = gas.column("function")
    for name in ("submitUpdate", "commitSketch", "closeSubmissions", "publishRound", "createTask", "finalize"):
        assert name in functions
    per_trainer = dict(zip(functions, gas.column("per trainer per round")))
    assert int(per_trainer["submitUpdate"].replace(",", "")) > 21_000
    if zk_costs.missing_toolchain() is None:
        assert zk.notes and zk.notes[0].startswith("Output of `python scripts/bench_zk.py --quick`")
        assert zk.data["zk_ok"] is True, zk.data["zk_output"]


def test_zk_placeholder_when_the_toolchain_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no node on the PATH: the verifiers cannot be compiled
    assert zk_costs.missing_toolchain() is not None
    section = zk_table.run(quick=True)
    table = section.table("zk proofs of a round")
    assert table.column("N trainers") == ["4", "8", "16"]
    assert all(cell == zk_table.NOT_MEASURED for row in table.rows for cell in row[1:])


def test_robustness_quick_tables(quick_run):
    section = quick_run[0]["robustness"]
    accuracy = section.table("Robustness: final test accuracy")
    assert accuracy.columns == ["partition", "attack", "attackers", *robustness.ARMS, robustness.HONEST_ONLY,
                                "goals (reference)"]
    assert accuracy.column("attack") == ["none", *robustness.QUICK_ATTACKS]
    for row in accuracy.rows:
        assert all(0.0 <= v <= 1.0 for v in _floats([row[accuracy.columns.index(a)] for a in robustness.ARMS]))
    assert accuracy.column("goals (reference)")[0] == "clean"
    assert all(v == "meets all" or v.startswith("misses: ") for v in accuracy.column("goals (reference)")[1:])
    assert sum(note.startswith("Goal ") for note in accuracy.notes) == len(robustness.GOALS)
    pay = section.table("Robustness: the reference rule's pay and flags")
    assert pay.column("attack") == accuracy.column("attack")
    records = {r["attack"]: r for r in section.data["records"]}
    # the reference rule pays a sign-flipper nothing: every one of its updates is misaligned with the reference
    assert records["sign_flip"]["detection"]["reference"]["paid"] == 0.0
    assert records["sign_flip"]["detection"]["reference"]["reasons"]["MISALIGNED"] >= 4
    assert set(records["backdoor"]["attack_success"]) == set(robustness.ARMS)
    sybil = section.table("Sybil inflation")
    assert sybil.column("k") == ["2"]
    # the copy, submitted after slot 0, is flagged DUPLICATE: the pair earns what slot 0 earns alone
    assert section.data["sybil"][0]["inflation"]["reference (δ = 0.99)"] == 1.0


def test_fairness_quick_tables(quick_run):
    section = quick_run[0]["fairness"]
    table = section.table("Fairness: Spearman ρ")
    assert table.columns == ["partition", "method", "ρ vs loss-Shapley", "noise floor (loss)", "ρ vs accuracy-Shapley",
                             "noise floor (accuracy)", "wall time per round", "utility evaluations per round",
                             "paid / provable"]
    assert table.column("method") == ["exact Shapley (2^10 coalitions)", *fairness.METHODS]
    for column in ("ρ vs loss-Shapley", "noise floor (loss)", "ρ vs accuracy-Shapley", "noise floor (accuracy)"):
        assert all(c == "n/a" or -1.0 <= float(c) <= 1.0 for c in table.column(column))
    per_trainer = section.table("Fairness: each trainer's total")
    assert len(per_trainer.rows) == 10
    iid = section.data["partitions"]["iid"]
    assert iid["evaluations"]["exact"] == 1024
    assert iid["rho_loss"]["reference (paid)"] is not None


def test_scale_quick_table(quick_run):
    section = quick_run[0]["scale"]
    table = section.table("Scale: one round")
    assert table.columns == ["d", "n", "path", "time", "per trainer", "peak memory", "peak / update size", "flagged"]
    assert len(table.rows) == 6
    assert set(table.column("path")) == {scale.IN_MEMORY, scale.STREAMING}
    records = section.data["records"]
    assert all(r["peak_bytes"] > 0 and r["seconds"] > 0 and r["flagged"] >= 1 for r in records)
    # both modes reach the same verdicts; streaming holds less than the in-memory mode at the largest n
    by = {(r["path"], r["n"]): r for r in records}
    assert all(by[(scale.IN_MEMORY, n)]["flagged"] == by[(scale.STREAMING, n)]["flagged"] for n in (4, 8, 16))
    assert by[(scale.STREAMING, 16)]["peak_bytes"] < by[(scale.IN_MEMORY, 16)]["peak_bytes"]


@pytest.mark.parametrize("script", ["bench_overhead", "bench_robustness", "bench_fairness", "bench_scale", "bench_all",
                                    "bench_zk", "bench_sketch", "bench_storage"])
def test_benchmark_scripts_start(script):
    done = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / f"{script}.py"), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout


@pytest.mark.parametrize("script", ["post_task", "generate_verifier", "zk_ceremony"])
def test_other_scripts_start(script):
    done = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / f"{script}.py"), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_scripts_are_thin_entry_points():
    """No script edits sys.path (the package is installed) and none holds library code: a
    script's functions are its ``main`` and option hooks, each a few lines."""
    import ast

    for path in sorted((REPO_ROOT / "scripts").glob("*.py")):
        source = path.read_text()
        assert "sys.path" not in source, path.name
        functions = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)]
        assert {f.name for f in functions} <= {"main", "_options"}, (path.name, [f.name for f in functions])
        assert all(f.end_lineno - f.lineno < 30 for f in functions), path.name

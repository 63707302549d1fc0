"""Section 4: the zk table (from ``scripts/bench_zk.py``, when it exists) beside the gas of every
contract call (from the overhead run's gas report, tabulated by :func:`gas_per_call`).

``scripts/bench_zk.py`` belongs to the zk work; this module only runs it (``--quick`` in quick
mode) and quotes its output. Where the script does not exist, the table holds one clearly
marked row per N saying that nothing was measured: never a number that was not measured.
"""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks.common import REPO_ROOT, Section, Table
from market.gas import GasReport

ZK_SCRIPT = REPO_ROOT / "scripts" / "bench_zk.py"
ZK_COMMAND = "python scripts/bench_zk.py"
NOT_MEASURED = "not measured in this run"


ROUND_CALLS = {"submitUpdate": "trainer", "commitSketch": "trainer", "closeSubmissions": "aggregator",
               "publishRound": "aggregator", "revealEvidenceKey": "aggregator"}


def gas_per_call(gas: GasReport, n: int, rounds: int, *, verified: bool) -> Table:
    """Gas of every contract call of the run: per call, per round and per trainer."""
    mode = "zk-verified" if verified else "trusted-aggregator mode"
    table = Table(f"Gas of every contract call (the overhead run: {n} trainers, {rounds} round(s), {mode})",
                  ["function", "who", "calls", "mean gas", "per round", "per trainer per round"])
    per_round_total, per_trainer_total, task_total = 0, 0, 0
    for name, calls, _lo, mean, _hi in gas.rows():
        total = sum(gas.samples[name])
        task_total += total
        if name in ROUND_CALLS:
            per_round = total / rounds
            per_trainer = total / rounds / n if ROUND_CALLS[name] == "trainer" else None
            per_round_total += per_round
            per_trainer_total += per_trainer or 0
            table.add(name, ROUND_CALLS[name], calls, f"{mean:,}", f"{per_round:,.0f}",
                      f"{per_trainer:,.0f}" if per_trainer is not None else "—")
        else:
            who = "trainer" if name == "join" else ("each account" if name == "withdraw" else "owner/anyone")
            table.add(name, who, calls, f"{mean:,}", "— (once per task)", "—")
    table.add("all round calls", "", "", "", f"{per_round_total:,.0f}", f"{per_trainer_total:,.0f}")
    table.add("whole task", "", sum(len(v) for v in gas.samples.values()), "", f"{task_total:,} in all", "")
    table.notes.append("From the `GasReport` of the overhead run's Marketplace (embedded py-evm; the tests found "
                       "anvil and ganache give identical gas). "
                       + ("publishRound includes the verifier's pairing check; the zk table above gives the same "
                          "round in trusted mode (\"trusted r0 / r1\")." if verified else
                          "A zk-verified task adds the verifier's pairing check to publishRound (the zk table's "
                          "\"zk extra\")."))
    return table


def quote(command: str, output: str, ok: bool) -> str:
    """The script's output as Markdown, in its order: runs of table lines (``| … |``) as tables,
    the text between them as text blocks."""
    head = f"Output of `{command}`" + ("" if ok else " (it FAILED; nothing here is a measurement)") + ":"
    parts, run, in_table = [head], [], None
    for line in [*output.splitlines(), None]:
        is_table = line is not None and line.startswith("|")
        if line is None or (in_table is not None and is_table != in_table):
            body = "\n".join(run).strip("\n")
            if body.strip():
                parts.append(body if in_table else "```text\n" + body + "\n```")
            run = []
        if line is not None:
            run.append(line)
            in_table = is_table
    return "\n\n".join(parts)


def run(*, quick: bool = False, gas_table: Table | None = None, timeout: float = 1800.0) -> Section:
    started = time.perf_counter()
    section = Section(key="zk", title="4. Proofs and gas", command=ZK_COMMAND + (" --quick" if quick else ""))
    if ZK_SCRIPT.exists():
        command = [sys.executable, str(ZK_SCRIPT), *(["--quick"] if quick else [])]
        try:
            done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
            output, ok = done.stdout.strip(), done.returncode == 0
            if not ok:
                output += "\n" + done.stderr.strip()[-4000:]
        except subprocess.TimeoutExpired:
            output, ok = f"timed out after {timeout:.0f} s", False
        section.notes.append(quote(section.command, output, ok))
        section.data = {"zk_output": output, "zk_ok": ok}
    else:
        table = Table("zk proofs of a round (Groth16, BN254)",
                      ["N trainers", "constraints", "setup", "proving time", "verification gas"])
        for n in (4, 8, 16):
            table.add(n, NOT_MEASURED, NOT_MEASURED, NOT_MEASURED, NOT_MEASURED)
        table.notes.append("The zk table comes from `scripts/bench_zk.py`, which does not exist in this checkout "
                           "yet; rerun `scripts/bench_all.py` once it does. Placeholder rows, no numbers.")
        section.tables.append(table)
        section.data = {"zk_output": None, "zk_ok": None}
    if gas_table is not None:
        section.tables.append(gas_table)
    section.seconds = time.perf_counter() - started
    return section

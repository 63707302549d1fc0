"""Section 4: the zk table (:func:`benchmarks.zk_costs.main`, what ``scripts/bench_zk.py``
prints) beside the gas of every contract call (from the overhead run's gas report, tabulated by
:func:`gas_per_call`).

This module runs the zk benchmark (quick mode in quick mode) and quotes its output. Where the zk
toolchain is missing (groth16py, node and the npm solc), the table holds one clearly marked row
per N saying that nothing was measured: never a number that was not measured.
"""

from __future__ import annotations

import time

from benchmarks import zk_costs
from benchmarks.common import Section, Table
from market.gas import GasReport

ZK_COMMAND = "python scripts/bench_zk.py"
NOT_MEASURED = "not measured in this run"


ROUND_CALLS = {"submitUpdate": "trainer", "commitSketch": "trainer", "closeSubmissions": "aggregator",
               "publishRound": "aggregator", "revealEvidenceKey": "aggregator", "commitReference": "aggregator",
               "commitReferenceSketch": "aggregator"}


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


def run(*, quick: bool = False, gas_table: Table | None = None) -> Section:
    """Section 4: the zk benchmark's output quoted (or placeholder rows), then ``gas_table``."""
    started = time.perf_counter()
    section = Section(key="zk", title="4. Proofs and gas", command=ZK_COMMAND + (" --quick" if quick else ""))
    missing = zk_costs.missing_toolchain()
    if missing is None:
        output, ok = _zk_output(quick)
        section.notes.append(quote(section.command, output, ok))
        section.data = {"zk_output": output, "zk_ok": ok}
    else:
        section.tables.append(_placeholder(missing))
        section.data = {"zk_output": None, "zk_ok": None}
    if gas_table is not None:
        section.tables.append(gas_table)
    section.seconds = time.perf_counter() - started
    return section


def _zk_output(quick: bool) -> tuple[str, bool]:
    """What the zk benchmark prints, and whether it finished (a failure's error ends the text)."""
    lines: list[str] = []
    try:
        zk_costs.main(quick=quick, echo=lines.append)
    except Exception as exc:  # noqa: BLE001 - quoted as a failure, never as numbers
        return ("\n".join(lines).strip() + f"\n{type(exc).__name__}: {exc}").strip(), False
    return "\n".join(lines).strip(), True


def _placeholder(missing: str) -> Table:
    """One row per N saying that nothing was measured, and why."""
    table = Table("zk proofs of a round (Groth16, BN254)",
                  ["N trainers", "constraints", "setup", "proving time", "verification gas"])
    for n in (4, 8, 16):
        table.add(n, NOT_MEASURED, NOT_MEASURED, NOT_MEASURED, NOT_MEASURED)
    table.notes.append(f"The zk table comes from `{ZK_COMMAND}`, which cannot run here: {missing}. Rerun "
                       "`scripts/bench_all.py` where it can. Placeholder rows, no numbers.")
    return table

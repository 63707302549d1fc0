"""Run every benchmark and write ``RESULTS.md``: the command at the top, the machine, a summary
of the headline numbers and of where we lose, then one section per benchmark with its tables,
its command and its plots."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import fairness, overhead, robustness, scale, zk_table
from benchmarks.common import DEFAULT_OUT, Section, machine_info, set_torch_threads

ALL = ("overhead", "robustness", "fairness", "zk", "scale")
COMMAND = "python scripts/bench_all.py"


def run_all(*, quick: bool = False, out: Path = DEFAULT_OUT, only: Sequence[str] = ALL, seed: int = 0,
            torch_threads: int | None = 1, log=print) -> tuple[list[Section], Path]:
    """Run the benchmarks named in ``only`` (in the issue's order) and write ``out/RESULTS.md``."""
    started = time.perf_counter()
    machine = machine_info()  # before anything is written, so the commit mark describes the code that ran
    load_before = os.getloadavg()
    out.mkdir(parents=True, exist_ok=True)
    threads = set_torch_threads(torch_threads)
    sections: list[Section] = []
    gas = None
    if "overhead" in only:
        log("running overhead …")
        section = overhead.run(quick=quick, out=out, seed=seed)
        gas = section.table("Gas")
        section.tables.remove(gas)
        sections.append(section)
    for key, module in (("robustness", robustness), ("fairness", fairness)):
        if key in only:
            log(f"running {key} …")
            sections.append(module.run(quick=quick, out=out, seed=seed))
    if "zk" in only:
        log("running zk …")
        sections.append(zk_table.run(quick=quick, gas_table=gas))
    if "scale" in only:
        log("running scale …")
        sections.append(scale.run(quick=quick, out=out, seed=seed))
    total = time.perf_counter() - started
    machine["torch threads"] = str(threads)
    machine["load average (1/5/15 min) before / after"] = (" / ".join(f"{x:.2f}" for x in load_before) + "  →  "
                                                           + " / ".join(f"{x:.2f}" for x in os.getloadavg()))
    command = COMMAND + (" --quick" if quick else "")
    text = render(sections, machine, command, total, out)
    path = out / "RESULTS.md"
    path.write_text(text)
    (out / "results.json").write_text(json.dumps({"machine": machine, "seconds": total, "command": command,
                                                  "sections": {s.key: s.data for s in sections}}, indent=1, default=str))
    return sections, path


def run_and_print(*, quick: bool = False, out: Path = DEFAULT_OUT, only: Sequence[str] = ALL, seed: int = 0,
                  torch_threads: int | None = 1) -> Path:
    """``scripts/bench_all.py``: :func:`run_all` with progress on stderr, then every section's
    tables on stdout; returns the path of ``RESULTS.md``."""
    started = time.perf_counter()
    sections, path = run_all(quick=quick, out=out, only=only, seed=seed, torch_threads=torch_threads,
                             log=lambda m: print(m, file=sys.stderr, flush=True))
    for section in sections:
        section.print()
    print(f"wrote {path} in {time.perf_counter() - started:.0f} s")
    return path


def render(sections: list[Section], machine: dict[str, str], command: str, seconds: float, out: Path) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Regenerate everything on this page with **`{command}`** (from the repository root, in the project's "
        f"virtual environment with the `bench` extra installed). This run took {seconds / 60:.1f} minutes.",
        "Each section names the script that makes it alone. Issue 7 asks for these numbers; none of them is a "
        "timed test (CI runs every benchmark in `--quick` mode only to keep it working).",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in machine.items()),
        "",
        "## Summary",
        "",
        *summary(sections),
        "",
    ]
    for s in sections:
        lines.append(s.to_markdown(relative_to=out))
    return "\n".join(lines).rstrip() + "\n"


def _rho(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _robustness_summary(data: dict) -> list[str]:
    """The paid rule's goals met per row, mean accuracies per arm, the sybil inflation."""
    attacked = [r for r in data["records"] if r["attackers"]]
    if not attacked:
        return []
    top = max(r["fraction"] for r in attacked)
    high = [r for r in attacked if r["fraction"] == top]
    n, m = len(attacked), len(high)

    def met(key: str | None) -> str:
        ok = (lambda r: all(r["goals"].values())) if key is None else (lambda r: r["goals"][key])
        return f"{sum(map(ok, attacked))} of {n} rows ({sum(map(ok, high))} of {m} at {top:.0%})"

    lines = ["- **Robustness** (the reference rule, the paid rule): "
             + "; ".join(f"{text}: {met(key)}" for key, text in robustness.GOALS.items()) + f"; all four: {met(None)}."]
    ref = [r["detection"]["reference"] for r in data["records"]]
    flags, slots = sum(d["honest_flags"] for d in ref), sum(d["honest_rounds"] for d in ref)
    lines.append(f"  Honest trainers flagged over all rows: {flags} of {slots} trainer-rounds ({flags / slots:.1%}); "
                 f"flagged in ≥ {robustness.STRIKES} rounds of a row (slashed): {sum(d['honest_slashed'] for d in ref)}.")
    means = {a: sum(r["accuracy"][a] for r in attacked) / len(attacked) for a in robustness.ARMS}
    lines.append("  Mean final accuracy over the attacked rows: "
                 + ", ".join(f"{a} {v:.3f}" for a, v in sorted(means.items(), key=lambda kv: -kv[1])) + ".")
    sybil = data.get("sybil") or []
    if sybil:
        rules = list(sybil[0]["inflation"])
        worst = {r: max((s["inflation"][r] for s in sybil if s["inflation"][r] is not None), default=None) for r in rules}
        lines.append("  Sybil inflation (largest over partitions and k): "
                     + ", ".join(f"{r} {'n/a' if v is None else f'{v:.2f}×'}" for r, v in worst.items()) + ".")
    return lines


def summary(sections: list[Section]) -> list[str]:
    """Headline numbers and the places where we lose, from the sections' data."""
    by = {s.key: s for s in sections}
    lines = []
    if "overhead" in by:
        d = by["overhead"].data
        market, flower = sum(d["per_round"].values()), sum(d["flower_per_round"].values())
        anvil = d.get("per_round_anvil")
        on_anvil = f" ({sum(anvil.values()):.2f} s with anvil as the chain)" if anvil else ""
        lines.append(f"- **Overhead**: a market round with {d['trainers']} trainers takes {market:.2f} s{on_anvil} against "
                     f"{flower:.2f} s for Flower FedAvg on the same data ({market / flower:.1f}×); everything that is "
                     f"not local training costs {d['ratio']:.1f}× the training ({d['ratio_without_audit']:.1f}× without "
                     f"the audit-only validation work), Flower's {d['flower_ratio']:.2f}×. Accuracy: {d['verdict']} "
                     f"(final test {d['final_accuracy']:.3f} vs {d['flower_final_accuracy']:.3f}).")
    if "robustness" in by:
        lines += _robustness_summary(by["robustness"].data)
    if "fairness" in by:
        parts = by["fairness"].data["partitions"]
        lines.append("- **Fairness** (mixed quality; Spearman ρ of the totals with exact loss-Shapley, split-half noise "
                     "floor in brackets): " + "; ".join(
                         f"{p} " + ", ".join(f"{m} {_rho(d['rho_loss'][m])}" for m in d["rho_loss"])
                         + f" [{_rho(d['floor_loss'])}]" for p, d in parts.items()) + ".")
    if "zk" in by:
        ok = by["zk"].data.get("zk_ok")
        lines.append("- **Proofs**: " + ("quoted from `scripts/bench_zk.py`." if ok else
                                         "not measured in this run (`scripts/bench_zk.py` could not run here, or failed)."))
    if "scale" in by:
        records = by["scale"].data["records"]
        big = max(r["d"] for r in records)
        nmax, nmin = max(r["n"] for r in records), min(r["n"] for r in records)
        row = {(r["path"], r["n"]): r for r in records if r["d"] == big}
        svc_hi, svc_lo = row[(scale.IN_MEMORY, nmax)], row[(scale.IN_MEMORY, nmin)]
        st_hi, st_lo = row[(scale.STREAMING, nmax)], row[(scale.STREAMING, nmin)]
        lines.append(f"- **Scale** (d = {big:,}): from n = {nmin} to {nmax} the service's in-memory mode grows its "
                     f"peak memory {svc_hi['peak_bytes'] / svc_lo['peak_bytes']:.1f}× "
                     f"({svc_hi['peak_over_update']:.0f} update sizes at n = {nmax}); its streaming mode, which it "
                     f"switches to above its memory budget, {st_hi['peak_bytes'] / st_lo['peak_bytes']:.1f}× "
                     f"({st_hi['peak_over_update']:.0f} update sizes): O(d). Time {svc_hi['seconds']:.1f} s in memory vs "
                     f"{st_hi['seconds']:.1f} s streaming at n = {nmax}.")
    return lines

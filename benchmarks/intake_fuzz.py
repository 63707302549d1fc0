"""The intake fuzz (issue 12, "Fuzz intake"): seeded malformed submissions, every family of
:mod:`benchmarks.intake_fuzz_cases`, each driven through :func:`aggregator.intake.fetch_and_check`
with the keyword arguments the service passes (aggregator/service.py), on the embedded store.

It holds when nothing escapes intake, every case is a rejection whose reason is a known code
(:func:`known_reasons`) and one its family may end in (never ``intake-error``: that is intake's
catch-all for an exception nobody foresaw, a finding to fix), and the valid control submissions
interleaved with the cases (one every :data:`CONTROL_EVERY`) are all accepted.

``make fuzz`` (``python -m benchmarks.intake_fuzz``) runs ``MARKET_FUZZ_CASES`` cases (default
:data:`LONG_CASES`) and prints the count per reason code and per family; the CI test
(tests/aggregator/test_intake_fuzz.py) runs :data:`CI_CASES`. The choice of cases is seeded
(``--seed``); salts, ephemeral keys and the aggregator key come from the OS, which changes no verdict.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from aggregator.intake import INTAKE_ERROR, RejectionReason, fetch_and_check
from benchmarks.intake_fuzz_cases import FAMILIES, FuzzCase, FuzzWorld, control_case
from market.update_package import UpdatePackageError

__all__ = ["CI_CASES", "CONTROL_EVERY", "LONG_CASES", "FuzzReport", "known_reasons", "main", "run_fuzz"]

LONG_CASES = 10_000
CI_CASES = 500
CONTROL_EVERY = 50
"""One valid control submission before every this many malformed ones (and one after the last)."""


def known_reasons() -> frozenset[str]:
    """Every rejection code intake may give: its own and the update package's."""
    codes, classes = {str(reason) for reason in RejectionReason}, [UpdatePackageError]
    while classes:
        cls = classes.pop()
        codes.add(cls.reason)
        classes.extend(cls.__subclasses__())
    return frozenset(codes)


@dataclass
class FuzzReport:
    """What a fuzz run saw: counts per reason and per family, the cases that broke a rule."""

    cases: int = 0
    controls: int = 0
    seconds: float = 0.0
    by_reason: Counter[str] = field(default_factory=Counter)
    by_family: dict[str, Counter[str]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _verdict(world: FuzzWorld, case: FuzzCase) -> tuple[str | None, str]:
    """The reason ``fetch_and_check`` gives ``case`` (None: accepted), or ``escaped:<type>``."""
    try:
        result = fetch_and_check(world.storage, case.cid, slot=case.slot, trainer=case.trainer, digest=case.digest,
                                 commitment=case.commitment, **world.checks())
    except Exception as exc:  # noqa: BLE001 - the point of the fuzz: nothing may escape intake
        return f"escaped:{type(exc).__name__}", str(exc)[:200]
    return result.reason, result.detail


def _judge(report: FuzzReport, case: FuzzCase, reason: str | None, detail: str, known: frozenset[str]) -> None:
    report.by_family.setdefault(case.family, Counter())[reason or "accepted"] += 1
    where = f"{case.family} (slot {case.slot}, {case.cid[:24]}…)"
    if not case.expect:
        report.controls += 1
        if reason is not None:
            report.failures.append(f"control {where} rejected: {reason}: {detail}")
        return
    report.cases += 1
    report.by_reason[reason or "accepted"] += 1
    if reason is None:
        report.failures.append(f"{where} was accepted")
    elif reason not in known or reason == INTAKE_ERROR or reason not in case.expect:
        report.failures.append(f"{where}: {reason} (expected {'/'.join(sorted(case.expect))}): {detail}")


def run_fuzz(cases: int, *, seed: int = 0, folder: Path | None = None) -> FuzzReport:
    """Run ``cases`` malformed submissions (the families in turn, drawn from ``seed``) and the
    controls between them through intake; the store lives in ``folder`` (a temporary one if None)."""
    with tempfile.TemporaryDirectory(prefix="market-fuzz-") as scratch:
        world = FuzzWorld(folder or Path(scratch))
        rng, names, known = random.Random(seed), sorted(FAMILIES), known_reasons()
        report, started = FuzzReport(), time.perf_counter()
        for index in range(cases):
            if index % CONTROL_EVERY == 0:
                control = control_case(world, rng, 0)
                _judge(report, control, *_verdict(world, control), known)
            case = FAMILIES[names[index % len(names)]](world, rng, 1 + index % (len(world.trainers) - 1))
            _judge(report, case, *_verdict(world, case), known)
        control = control_case(world, rng, 0)
        _judge(report, control, *_verdict(world, control), known)
        report.seconds = time.perf_counter() - started
    return report


def render(report: FuzzReport, console: Console) -> None:
    """The counts per reason code and per family, then the failures (if any)."""
    console.print(f"intake fuzz: {report.cases:,} malformed submissions and {report.controls} valid controls in "
                  f"{report.seconds:.1f} s ({report.cases / max(report.seconds, 1e-9):,.0f} a second)")
    reasons = Table(title="per reason code")
    reasons.add_column("reason code")
    reasons.add_column("cases", justify="right")
    for reason, count in sorted(report.by_reason.items(), key=lambda item: (-item[1], item[0])):
        reasons.add_row(reason, f"{count:,}")
    console.print(reasons)
    families = Table(title="per family")
    families.add_column("family")
    families.add_column("cases", justify="right")
    families.add_column("reasons")
    for family, counts in sorted(report.by_family.items()):
        families.add_row(family, f"{sum(counts.values()):,}",
                         ", ".join(f"{reason} {count}" for reason, count in counts.most_common()))
    console.print(families)
    verdict = "[green]every case rejected with its reason, every control accepted[/green]"
    console.print(verdict if report.ok else f"[red]{len(report.failures)} case(s) broke a rule:[/red]")
    for failure in report.failures[:50]:
        console.print(f"  {failure}", markup=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=int(os.environ.get("MARKET_FUZZ_CASES", LONG_CASES)),
                        help="malformed submissions to run (default: MARKET_FUZZ_CASES or %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the choice of cases")
    args = parser.parse_args(argv)
    report = run_fuzz(args.cases, seed=args.seed)
    render(report, Console())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

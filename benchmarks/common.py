"""What every benchmark shares: result tables (printed with rich, written as Markdown), the
machine description, timers, and the thread setting.

A benchmark returns one :class:`Section`: its tables, the plots it saved, protocol notes and
its wall time. ``scripts/bench_all.py`` turns the sections into ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _metadata
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks"

#: Accuracy differences below this are called noise: about one binomial standard error of an
#: accuracy near 0.9 measured on the 180 held-out digits (sqrt(0.9 · 0.1 / 180) ≈ 0.022).
ACCURACY_NOISE = 0.02


@dataclass
class Table:
    """One result table: a title, column names, rows of already formatted cells, notes below."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append([str(c) for c in cells])

    def column(self, name: str) -> list[str]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    def to_markdown(self) -> str:
        def esc(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [f"**{self.title}**", "", "| " + " | ".join(esc(c) for c in self.columns) + " |",
                 "|" + "|".join("---" for _ in self.columns) + "|"]
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def print(self) -> None:
        from rich.console import Console
        from rich.table import Table as RichTable

        table = RichTable(title=self.title)
        for c in self.columns:
            table.add_column(c)
        for row in self.rows:
            table.add_row(*row)
        console = Console(width=max(120, Console().width))
        console.print(table)
        for n in self.notes:
            console.print(f"  • {n}", highlight=False, markup=False)


@dataclass
class Section:
    """What one benchmark produced."""

    key: str
    title: str
    command: str
    tables: list[Table] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    def table(self, title_start: str) -> Table:
        """The first table whose title starts with ``title_start``."""
        for t in self.tables:
            if t.title.startswith(title_start):
                return t
        raise KeyError(title_start)

    def print(self) -> None:
        for t in self.tables:
            t.print()
        for n in self.notes:
            print(f"note: {n}")
        for p in self.plots:
            print(f"plot: {p}")
        print(f"({self.key}: {self.seconds:.1f} s)")

    def to_markdown(self, relative_to: Path | None = None) -> str:
        lines = [f"## {self.title}", "", f"Command: `{self.command}` ({self.seconds:.0f} s of the run)", ""]
        lines += [n + "\n" for n in self.notes]
        for t in self.tables:
            lines.append(t.to_markdown())
        for p in self.plots:
            rel = os.path.relpath(p, relative_to) if relative_to else str(p)
            lines.append(f"![{p.stem}]({rel})\n")
        return "\n".join(lines)


def protocol_text(doc: str) -> str:
    """A module docstring past its first paragraph, as Markdown: Sphinx roles become code,
    ``* `` items become list items, other paragraphs are joined into single lines."""
    import re

    body = doc.split("\n\n", 1)[1] if "\n\n" in doc else doc
    body = re.sub(r":[a-z]+:`~?([\w.]+)`", lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", body)
    body = body.replace("``", "`")
    paragraphs = []
    for para in body.strip().split("\n\n"):
        lines = [line.strip() for line in para.splitlines()]
        if lines and lines[0].startswith("* "):
            items: list[str] = []
            for line in lines:
                if line.startswith("* "):
                    items.append(line[2:])
                else:
                    items[-1] += " " + line
            paragraphs.append("\n".join(f"- {item}" for item in items))
        else:
            paragraphs.append(" ".join(lines))
    return "\n\n".join(paragraphs)


def machine_info() -> dict[str, str]:
    """Cores, CPU model, memory, Python and library versions, date, commit (with a mark when the
    working tree differs from it, untracked files included: call it before writing results)."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 ** 2:.0f} GiB"
                break
    except OSError:
        pass
    info = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "python": platform.python_version(),
        "os": platform.platform(),
    }
    for module in ("torch", "numpy", "flwr", "web3"):
        try:
            info[module] = _metadata.version(module)  # the installed version, without importing it
        except _metadata.PackageNotFoundError:
            info[module] = "not installed"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        info["commit"] = (commit or "unknown") + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        info["commit"] = "unknown"
    return info


def set_torch_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (None: leave torch's default); returns the count in use."""
    from trainers.training import torch_threads

    return torch_threads(threads)


class StopWatch:
    """Accumulates wall time per label; ``with watch("label"): …``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    @contextmanager
    def __call__(self, label: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started
            self.calls[label] = self.calls.get(label, 0) + 1


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(fn(), seconds)``."""
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """The fastest of ``repeats`` runs of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def fmt_s(seconds: float | None) -> str:
    """Seconds with a unit that keeps three significant digits."""
    if seconds is None:
        return "n/a"
    if seconds >= 100:
        return f"{seconds:.0f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def fmt_bytes(n: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def fmt_opt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def parse_common(argv: Sequence[str] | None, description: str, extra: Callable[[Any], None] | None = None):
    """The arguments every benchmark script takes: ``--quick``, ``--out`` (plots and JSON),
    ``--torch-threads``, ``--seed``."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="the small CI configuration")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for plots and a JSON of the numbers (default: out/benchmarks)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch intra-op threads (default 1: fastest for this small MLP; 0 = torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    if extra is not None:
        extra(parser)
    return parser.parse_args(argv)


def script_main(run: Callable[..., Section], argv: Sequence[str] | None, description: str,
                extra: Callable[[Any], None] | None = None, **fixed: Any) -> int:
    """Parse the common arguments, run one benchmark, print its tables, save its JSON."""
    import json

    args = parse_common(argv, description, extra)
    out = args.out or REPO_ROOT / "out" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    set_torch_threads(args.torch_threads or None)
    options = {k: v for k, v in vars(args).items() if k not in ("quick", "out", "torch_threads")}
    section = run(quick=args.quick, out=out, **options, **fixed)
    section.print()
    (out / f"{section.key}.json").write_text(json.dumps(section.data, indent=1, default=str))
    print(f"numbers: {out / (section.key + '.json')}", file=sys.stderr)
    return 0

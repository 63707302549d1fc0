"""Gas accounting: every transaction the Marketplace binding sends can be recorded here."""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict


class GasReport:
    """Collects gas used per contract function; renders a Markdown table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.samples: dict[str, list[int]] = defaultdict(list)

    def record(self, function: str, gas_used: int) -> None:
        with self._lock:
            self.samples[function].append(int(gas_used))

    def merge(self, samples: dict[str, list[int]]) -> None:
        """Add another report's samples (e.g. a test worker's, read back from JSON)."""
        with self._lock:
            for function, values in samples.items():
                self.samples[function].extend(int(v) for v in values)

    def rows(self) -> list[tuple[str, int, int, int, int]]:
        """(function, calls, min, mean, max), by function name."""
        return [
            (name, len(v), min(v), int(statistics.fmean(v)), max(v))
            for name, v in sorted(self.samples.items())
        ]

    def to_markdown(self, title: str = "Gas per Marketplace function") -> str:
        lines = [f"## {title}", "", "| function | calls | min | mean | max |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {n} | {c} | {lo:,} | {mean:,} | {hi:,} |" for n, c, lo, mean, hi in self.rows()]
        return "\n".join(lines) + "\n"

"""One quick run of every benchmark (``scripts/bench_all.py --quick``), shared by the tests of
this folder; it writes to a temporary folder, never to ``benchmarks/RESULTS.md``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory) -> tuple[dict, Path]:
    from benchmarks.report import run_all

    out = tmp_path_factory.mktemp("bench")
    sections, path = run_all(quick=True, out=out, log=lambda message: None)
    return {s.key: s for s in sections}, path

"""The README's commands, as written: its CLI tour and its services section run one after the
other in bash on a fresh MARKET_HOME (anvil from `market chain up`, the embedded store), from a
folder that looks like the repository root (its `.venv` is this one's)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("## A quick tour of the CLI", "### Trainers and the aggregator as services")


def readme_block(heading: str) -> str:
    """The first ```sh block under ``heading`` in README.md."""
    text = (ROOT / "README.md").read_text()
    start = text.index(heading + "\n")
    match = re.compile(r"```sh\n(.*?)```", re.DOTALL).search(text, start)
    assert match is not None, f"no sh block under {heading!r}"
    return match.group(1)


def test_the_readme_tour_and_services_run_as_written(tmp_path):
    # Prepare: a folder standing for the repository root, a fresh home, no chain configured
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    script = "set -euo pipefail\n" + "\n".join(readme_block(heading) for heading in SECTIONS)
    (tmp_path / "readme.sh").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKET_") or k == "MARKET_WEAK_KEYSTORES"}
    env.update(MARKET_HOME=str(tmp_path / "home"), COLUMNS="200")

    # Execute
    run = subprocess.run(["bash", "readme.sh"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    subprocess.run([str(ROOT / ".venv/bin/market"), "chain", "down"], cwd=tmp_path, env=env, capture_output=True)

    # Assert: every command succeeded; both tasks finished, the audit reproduced, both trainers were paid
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    assert "task 1: Finished" in output and "reproduces" in output and "DOES NOT REPRODUCE" not in output
    for trainer in ("alice", "bob"):
        log = (tmp_path / f"{trainer}.log").read_text()
        assert "task 2 Finished" in log, log[-3000:]
    assert output.count("withdrew ") == 4, output[-3000:]  # alice and bob, in each task


def test_every_file_the_readme_and_the_docs_link_is_in_the_clone():
    for page in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text())
        missing = [t for t in targets if not (page.parent / t).exists()]
        assert not missing, f"{page.relative_to(ROOT)} links files that are not in the clone: {missing}"

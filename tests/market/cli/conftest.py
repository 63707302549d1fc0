"""Fixtures for the CLI tests: the real `market` console script, run in a private MARKET_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from market.chain.nodes import chain_down, free_port


class MarketCli:
    """Runs ``market …`` as a user would, in its own home folder."""

    def __init__(self, home: Path) -> None:
        self.home = home
        exe = Path(sys.executable).with_name("market")
        self.exe = str(exe) if exe.exists() else shutil.which("market")
        assert self.exe, "the market console script is missing: run `make install` (pip install -e .)"
        self.env = {**os.environ, "MARKET_HOME": str(home), "MARKET_PASSWORD": "correct horse", "COLUMNS": "200"}
        self.env.pop("MARKET_RPC_URL", None)

    def run(self, *args: str, ok: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.exe, *args], capture_output=True, text=True, env={**self.env, **(env or {})},
                              timeout=120)
        if ok and proc.returncode != 0:
            raise AssertionError(f"market {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def register_aggregator(self, name: str = "agg") -> str:
        """Give wallet ``name`` (made if missing) gas, an encryption key (``<home>/<name>.key``) and
        register that key on chain, as an aggregator does before anyone posts a task naming it;
        returns the public key (0x hex)."""
        if name not in self.run("wallet", "list").stdout:
            self.run("wallet", "new", name)
        self.run("wallet", "fund", name, "--amount", "1ether", "--from", "dev:0")
        made = self.run("aggregator", "keygen", "-o", str(self.home / f"{name}.key"))
        public = made.stdout.strip().splitlines()[-1]
        self.run("aggregator", "register-key", "--key", str(self.home / f"{name}.key"), "--from", name)
        return public


@pytest.fixture
def market_cli(tmp_path: Path) -> Iterator[MarketCli]:
    cli = MarketCli(tmp_path / "home")
    yield cli
    chain_down(cli.home / "anvil")


@pytest.fixture
def anvil_port() -> int:
    return free_port()

"""Fixtures shared by every test folder: chains (embedded, anvil, ganache) and the gas report.

Tests that need anvil or ganache start their own node on a free 127.0.0.1 port and stop it by
its PID. When ``node_modules`` is missing they fail with a message that says to run ``make install`` (npm install).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from market.chain import EmbeddedChain, RpcChain, dev_accounts
from market.chain.nodes import LocalNode, start_anvil, start_ganache
from market.gas import GasReport
from market.marketplace import Marketplace

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = REPO_ROOT / "out"
_GAS = GasReport()

os.environ.setdefault("MARKET_SCRYPT_N", "4096")  # fast keystores in tests; users get eth-account's default
os.environ.setdefault("MARKET_WEAK_KEYSTORES", "1")  # ...which the keystore honours only with this flag


@pytest.fixture(scope="session")
def gas_report() -> GasReport:
    """Every Marketplace transaction of the session, written to ``out/gas-report.md``."""
    return _GAS


GAS_PARTS = OUT_DIR / "gas-parts"
"""Under xdist (``make test`` runs ``-n 2``) each worker leaves its samples here for the
controller's report."""


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the controller (or a plain run): no stale parts
        for part in GAS_PARTS.glob("*.json"):
            part.unlink()


def pytest_sessionfinish(session, exitstatus):  # noqa: ARG001 - pytest hook signature
    worker = getattr(session.config, "workerinput", None)
    if worker is not None and _GAS.samples:
        GAS_PARTS.mkdir(parents=True, exist_ok=True)
        (GAS_PARTS / f"{worker['workerid']}.json").write_text(json.dumps(dict(_GAS.samples)))


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 - pytest hook signature
    report = GasReport()
    report.merge(dict(_GAS.samples))
    for part in sorted(GAS_PARTS.glob("*.json")):
        report.merge(json.loads(part.read_text()))
    if not report.samples:
        return
    OUT_DIR.mkdir(exist_ok=True)
    text = report.to_markdown()
    (OUT_DIR / "gas-report.md").write_text(text)
    terminalreporter.write_sep("=", "gas report (also in out/gas-report.md)")
    terminalreporter.write(text)


@pytest.fixture
def embedded_chain() -> Iterator[EmbeddedChain]:
    with EmbeddedChain() as chain:
        yield chain


@pytest.fixture(scope="session")
def anvil_node(tmp_path_factory) -> Iterator[LocalNode]:
    node = start_anvil(log_path=tmp_path_factory.mktemp("anvil") / "anvil.log")
    yield node
    node.stop()


@pytest.fixture(scope="session")
def ganache_node(tmp_path_factory) -> Iterator[LocalNode]:
    node = start_ganache(log_path=tmp_path_factory.mktemp("ganache") / "ganache.log")
    yield node
    node.stop()


@pytest.fixture
def anvil_chain(anvil_node: LocalNode) -> RpcChain:
    return RpcChain(anvil_node.url, accounts=dev_accounts())


@pytest.fixture
def ganache_chain(ganache_node: LocalNode) -> RpcChain:
    return RpcChain(ganache_node.url, accounts=dev_accounts())


@pytest.fixture
def marketplace(embedded_chain: EmbeddedChain, gas_report: GasReport) -> Marketplace:
    """A fresh Marketplace on a fresh embedded chain, deployed by dev account 0."""
    return Marketplace.deploy(embedded_chain, embedded_chain.dev_accounts()[0], gas_report=gas_report)

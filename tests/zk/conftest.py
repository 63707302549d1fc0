"""Fixtures of the zk tests: a circomlibjs reference running in node.

The reference is not optional: Poseidon must equal circomlib's, and only circomlibjs can say
so. A machine without node or without ``node_modules/circomlibjs`` fails these tests with the
instruction to run ``make install` (npm install)`; it never skips them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO_ROOT / "node_modules"
HELPER = Path(__file__).with_name("circomlibjs_ref.mjs")


def require_node_modules(package: str) -> Path:
    """The folder of an npm package of the project, or a failed test saying how to get it."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not installed: install Node.js 18+ and run `make install` (npm install) in the repository root"
        )
    folder = NODE_MODULES / package
    if not (folder / "package.json").is_file():
        pytest.fail(f"{folder} is missing: run `make install` (npm install) in the repository root ({REPO_ROOT})")
    return folder


class CircomlibjsReference:
    """A node process answering Poseidon and commitment requests with circomlibjs."""

    def __init__(self) -> None:
        require_node_modules("circomlibjs")
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            ["node", str(HELPER)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )

    def _ask(self, request: dict[str, Any]) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=10)
            self._stderr.seek(0)
            err = self._stderr.read()
            pytest.fail(f"the circomlibjs helper died (run `make install` (npm install)?): {err.strip()}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"circomlibjs helper: {reply['error']}")
        return reply["result"]

    def poseidon(self, inputs: Sequence[int]) -> int:
        return int(self._ask({"op": "poseidon", "inputs": [str(x) for x in inputs]}))

    def poseidon_many(self, batches: Sequence[Sequence[int]]) -> list[int]:
        requests = [{"op": "poseidon", "inputs": [str(x) for x in xs]} for xs in batches]
        return [int(r) for r in self._ask({"op": "batch", "requests": requests})]

    def commit(self, sketch: Sequence[int], salt: int) -> int:
        return int(
            self._ask({"op": "commit", "salt": str(salt), "sketch": [str(v) for v in sketch]})
        )

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()
        self._stderr.close()


@pytest.fixture(scope="session")
def circomlibjs() -> Iterator[CircomlibjsReference]:
    """circomlibjs's Poseidon (``buildPoseidon``) and the commitment composed with it."""
    ref = CircomlibjsReference()
    try:
        yield ref
    finally:
        ref.close()


# --- the round circuit ------------------------------------------------------------------------
# A small circuit (N = 4 slots, K = 4) keeps setup (~3 s) and proofs (~0.4 s) quick; the 16 x 32
# default belongs to scripts/bench_zk.py. The key is a DEVELOPMENT key made once per session in
# a temporary cache, so the tests never depend on (or fill) the user's cache.
SMALL_N, SMALL_K = 4, 4


@pytest.fixture(scope="session")
def round_keys(tmp_path_factory):
    """A DEVELOPMENT key for Round(4, 4), made in a temporary key cache."""
    from zk.keys import development_keys
    from zk.round_circuit import RoundShape

    return development_keys(RoundShape(SMALL_N, SMALL_K), cache=tmp_path_factory.mktemp("zk-key-cache"))


@pytest.fixture(scope="session")
def zk_base(round_keys):
    """One embedded chain with a Marketplace and the round verifier for ``round_keys``
    (τ = 4/1, and a second adapter with τ = 1/2 over the same Groth16 verifier), both approved,
    the aggregator's key registered, snapshotted:
    (chain, marketplace address, deployment, τ=1/2 adapter, snapshot id)."""
    from market.chain import EmbeddedChain
    from market.marketplace import Marketplace
    from zk.deploy import deploy_round_adapter, deploy_round_verifier_full

    chain = EmbeddedChain(accounts=2 + SMALL_N + 1)
    owner = chain.dev_accounts()[0]
    market = Marketplace.deploy(chain, owner)
    deployment = deploy_round_verifier_full(chain, owner, n=SMALL_N, k=SMALL_K, keys=round_keys)
    half, _ = deploy_round_adapter(chain, owner, deployment.groth16_verifier, round_keys.shape, tau_num=1, tau_den=2)
    for verifier in (deployment.address, half):  # the deployer is the registrar
        market.approve_verifier(owner, verifier)
    market.register_aggregator_key(chain.dev_accounts()[1], b"\x42" * 32)
    snapshot = chain.tester.take_snapshot()
    yield chain, market.address, deployment, half, snapshot
    chain.close()


@pytest.fixture
def zk_market(zk_base, round_keys, gas_report):
    """A :class:`tests.zk.round_cases.ZkMarket` on the session chain, reverted to its deployed state."""
    from market.marketplace import Marketplace
    from tests.zk.round_cases import ZkMarket

    chain, address, _, _, snapshot = zk_base
    chain.tester.revert_to_snapshot(snapshot)
    chain.tester.mine_blocks(1)
    return ZkMarket(chain, Marketplace(chain, address, gas_report=gas_report), round_keys)


@pytest.fixture
def round_verifier(zk_base) -> str:
    """The τ = 4/1 RoundVerifier adapter (what a task names as its verifier)."""
    return zk_base[2].address


@pytest.fixture
def round_verifier_half_tau(zk_base) -> str:
    """A RoundVerifier adapter with τ = 1/2 over the same Groth16 verifier."""
    return zk_base[3]

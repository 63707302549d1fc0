"""A real IPFS node for the tests: the js-ipfs daemon (npm ``ipfs`` 0.66.1), which serves the
kubo HTTP RPC API. No kubo binary installs from the registries here (npm ``kubo`` downloads it
at install time and fails offline), so this is the real node the kubo backend is tested on.

The daemon runs offline (no swarm, no bootstrap, no routing), on free 127.0.0.1 ports, in a
fresh repository, and is stopped by its PID. Missing node or node_modules is a test failure
that says to run ``make install` (npm install)`, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
NODE_MODULES = REPO_ROOT / "node_modules"
JSIPFS = NODE_MODULES / ".bin" / "jsipfs"
POLYFILL = Path(__file__).with_name("promise_with_resolvers.mjs")
NPM_HINT = "run `make install` (npm install) in the repository root (needs node >= 20 and the npm packages of package-lock.json)"


def require_node_package(package: str) -> str:
    """Path of ``node``; fails the test (never skips) if node or ``package`` is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not installed: install Node.js >= 20, then {NPM_HINT}")
    if not (NODE_MODULES / package / "package.json").is_file():
        pytest.fail(f"npm package {package!r} is missing from {NODE_MODULES}: {NPM_HINT}")
    return node


def free_port() -> int:
    """A TCP port nobody listens on at the moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class JsIpfsDaemon:
    """A running js-ipfs daemon: its API URL, repository and process."""

    api_url: str
    repo: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the daemon's process group by its PID, SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)


def _configure(repo: Path, api: int, gateway: int, grpc: int) -> None:
    path = repo / "config"
    config = json.loads(path.read_text())
    config["Addresses"].update(
        Swarm=[], Announce=[], Delegates=[],
        API=f"/ip4/127.0.0.1/tcp/{api}", Gateway=f"/ip4/127.0.0.1/tcp/{gateway}", RPC=f"/ip4/127.0.0.1/tcp/{grpc}",
    )  # fmt: skip
    config["Bootstrap"] = []
    config["Discovery"] = {"MDNS": {"Enabled": False}, "webRTCStar": {"Enabled": False}}
    config["Routing"] = {"Type": "none"}
    config.setdefault("Pubsub", {})["Enabled"] = False
    path.write_text(json.dumps(config, indent=2))


def start_jsipfs(workdir: Path, timeout: float = 60.0) -> JsIpfsDaemon:
    """Initialise a repository in ``workdir`` and start an offline daemon on free ports."""
    require_node_package("ipfs")
    if not JSIPFS.exists():
        pytest.fail(f"{JSIPFS} is missing: {NPM_HINT}")
    repo = workdir / "repo"
    env = {**os.environ, "IPFS_PATH": str(repo), "NODE_OPTIONS": f"--import={POLYFILL}"}
    init = subprocess.run([str(JSIPFS), "init", "--empty-repo"], env=env, capture_output=True, timeout=timeout)
    if init.returncode != 0:
        pytest.fail(f"jsipfs init failed: {init.stderr.decode(errors='replace')[-2000:]}")
    api = free_port()
    _configure(repo, api, free_port(), free_port())
    return _run_daemon(f"http://127.0.0.1:{api}", repo, workdir / "daemon.log", timeout)


def restart_jsipfs(daemon: JsIpfsDaemon, timeout: float = 60.0) -> JsIpfsDaemon:
    """Stop ``daemon`` (if it runs) and start it again on the same repository and ports."""
    daemon.stop()
    return _run_daemon(daemon.api_url, daemon.repo, daemon.log_path, timeout)


def _run_daemon(api_url: str, repo: Path, log_path: Path, timeout: float) -> JsIpfsDaemon:
    """Start the offline daemon of ``repo`` (log appended to ``log_path``); wait until its API answers."""
    env = {**os.environ, "IPFS_PATH": str(repo), "NODE_OPTIONS": f"--import={POLYFILL}"}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(JSIPFS), "daemon", "--offline"], env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    daemon = JsIpfsDaemon(api_url, repo, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the js-ipfs daemon exited with {process.returncode}:\n{daemon.log()[-3000:]}")
        try:
            if httpx.post(f"{daemon.api_url}/api/v0/version", timeout=2).status_code == 200:
                return daemon
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    daemon.stop()
    pytest.fail(f"the js-ipfs daemon did not answer within {timeout:.0f}s:\n{daemon.log()[-3000:]}")

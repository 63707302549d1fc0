"""Local development nodes started from ``node_modules``: anvil (default) and ganache.

Each listens on 127.0.0.1 only, uses the development mnemonic, and is stopped by the PID this
code started. ``market chain up`` keeps anvil running in the background with its state in a
file, so a restart keeps deployments and balances.
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

from market.chain.base import DEV_ACCOUNT_COUNT, DEV_MNEMONIC
from market.exceptions import ChainError, ToolMissingError

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = Path(os.environ.get("MARKET_NODE_MODULES", REPO_ROOT / "node_modules"))
ANVIL_CHAIN_ID = 31337
GANACHE_CHAIN_ID = 1337


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc_ready(url: str, timeout: float = 1.0) -> bool:
    """True when a JSON-RPC node answers ``eth_chainId`` at ``url``."""
    try:
        reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=timeout)
        return reply.status_code == 200 and "result" in reply.json()
    except (httpx.HTTPError, ValueError):
        return False


def anvil_binary() -> Path:
    path = NODE_MODULES / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
    if not path.exists():
        path = NODE_MODULES / ".bin" / "anvil"
    if not path.exists():
        raise ToolMissingError(
            f"anvil not found under {NODE_MODULES}: run `make install` (npm install) in the repository root "
            "(it installs @foundry-rs/anvil-linux-amd64)"
        )
    return path


def ganache_cli() -> list[str]:
    script = NODE_MODULES / "ganache" / "dist" / "node" / "cli.js"
    node = shutil.which("node")
    if node is None or not script.exists():
        raise ToolMissingError(f"ganache not found under {NODE_MODULES}: install Node.js 20 and run `make install` (npm install)")
    return [node, str(script)]


@dataclass
class LocalNode:
    """A node process this code started. Use as a context manager, or call :meth:`stop`."""

    process: subprocess.Popen | None
    port: int
    kind: str
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process we started (anvil dumps its state then), SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)

    def __enter__(self) -> "LocalNode":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_ready(node: LocalNode, timeout: float) -> LocalNode:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.process is not None and node.process.poll() is not None:
            log = node.log_path.read_text()[-2000:] if node.log_path and node.log_path.exists() else ""
            raise ChainError(f"{node.kind} exited with code {node.process.returncode} before it was ready: {log}")
        if rpc_ready(node.url):
            return node
        time.sleep(0.1)
    node.stop()
    raise ChainError(f"{node.kind} did not answer on {node.url} within {timeout:.0f}s")


def start_anvil(
    *,
    port: int | None = None,
    state_file: Path | None = None,
    log_path: Path | None = None,
    detach: bool = False,
    timeout: float = 30.0,
) -> LocalNode:
    """Start anvil on 127.0.0.1. With ``state_file`` it loads the state at start and dumps it
    at shutdown (and every 10 s), so a restart keeps the chain. ``detach`` puts it in its own
    session so it outlives this process (``market chain up``)."""
    port = port or free_port()
    args = [
        str(anvil_binary()), "--host", "127.0.0.1", "--port", str(port),
        "--mnemonic", DEV_MNEMONIC, "--accounts", str(DEV_ACCOUNT_COUNT), "--balance", "10000",
        "--chain-id", str(ANVIL_CHAIN_ID), "--gas-limit", "60000000",
    ]
    if state_file is not None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        args += ["--state", str(state_file), "--state-interval", "10"]
    return _spawn(args, port, "anvil", log_path, detach, timeout)


def start_ganache(*, port: int | None = None, log_path: Path | None = None, timeout: float = 60.0) -> LocalNode:
    """Start ganache 7 on 127.0.0.1 (EVM up to shanghai), same development accounts."""
    port = port or free_port()
    args = ganache_cli() + [
        "--host", "127.0.0.1", "--port", str(port), "--wallet.mnemonic", DEV_MNEMONIC,
        "--wallet.totalAccounts", str(DEV_ACCOUNT_COUNT), "--wallet.defaultBalance", "10000",
        "--chain.chainId", str(GANACHE_CHAIN_ID), "--chain.hardfork", "shanghai",
        "--miner.blockGasLimit", "60000000", "--logging.quiet",
    ]
    return _spawn(args, port, "ganache", log_path, False, timeout)


def _spawn(args: list[str], port: int, kind: str, log_path: Path | None, detach: bool, timeout: float) -> LocalNode:
    log = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    out = subprocess.DEVNULL if log is None else log
    process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=detach)
    if log is not None:
        log.close()
    return _wait_ready(LocalNode(process=process, port=port, kind=kind, log_path=log_path), timeout)


# --- the background anvil of `market chain up` ---------------------------------------------
@dataclass(frozen=True)
class NodeRecord:
    """What ``market chain up`` writes to ``<home>/anvil/node.json``."""

    pid: int
    port: int
    state_file: str
    log_file: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def read_record(node_dir: Path) -> NodeRecord | None:
    path = node_dir / "node.json"
    if not path.exists():
        return None
    return NodeRecord(**json.loads(path.read_text()))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def chain_up(node_dir: Path, *, port: int | None = None) -> tuple[NodeRecord, bool]:
    """Start the background anvil unless it already runs; returns its record and whether it
    was started now."""
    record = read_record(node_dir)
    if record is not None and pid_alive(record.pid) and rpc_ready(record.url):
        return record, False
    node = start_anvil(
        port=port or 8545 if _port_free(port or 8545) else free_port(),
        state_file=node_dir / "state.json",
        log_path=node_dir / "anvil.log",
        detach=True,
    )
    record = NodeRecord(pid=node.pid, port=node.port, state_file=str(node_dir / "state.json"), log_file=str(node.log_path))
    (node_dir / "node.json").write_text(json.dumps(record.__dict__, indent=1))
    return record, True


def chain_down(node_dir: Path, timeout: float = 15.0) -> NodeRecord | None:
    """Stop the background anvil by the PID recorded at start (it dumps its state first)."""
    record = read_record(node_dir)
    if record is None:
        return None
    if pid_alive(record.pid):
        os.kill(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(record.pid) and time.monotonic() < deadline:
            _reap(record.pid)
            time.sleep(0.1)
        if pid_alive(record.pid):
            os.kill(record.pid, signal.SIGKILL)
            _reap(record.pid)
    (node_dir / "node.json").unlink(missing_ok=True)
    return record


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _port_free(port: int) -> bool:
    """Nobody listens on ``port`` (connections of a node just stopped, in TIME_WAIT, do not count:
    anvil binds with SO_REUSEADDR, so ``chain down`` then ``chain up`` keeps the port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True

"""A crash harness: a whole task through the ``market`` command on anvil and a js-ipfs node, every
long-running node a real process that a supervisor restarts whenever it dies.

Each :class:`Role` (the aggregator, each trainer) is one ``market … run`` command with a *kill
plan*: the failpoints (:mod:`market.failpoints`) armed in its first, second, … incarnation, one
each; an incarnation that reaches its armed point is killed there by SIGKILL, as ``kill -9``
would, and the :class:`Supervisor` starts the next one (after a *hook*, where a test stops or
restarts the chain or the IPFS node; hooks are keyed by role and the incarnation that died, and
a hook starts the next one itself). When the plan is used up the role runs unarmed to the
end of the task. A role that exits any other way than 0 or a planned kill fails the test with
its log.

What each kill cost is measured from the chain: the seconds from the kill to the next
transaction the role's account got mined (:meth:`Supervisor.recovery_table`).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from market.chain.rpc import RpcChain
from market.marketplace import Marketplace

FAILPOINT_LINE = "failpoint {name} hit"


@dataclass
class Kill:
    """One planned kill that happened."""

    role: str
    point: str
    incarnation: int
    at: float
    """``time.time()`` when the supervisor saw the process dead."""


@dataclass
class Role:
    """One node process (``market <args>``) and its kill plan."""

    name: str
    address: str
    args: list[str]
    plan: list[str] = field(default_factory=list)
    incarnation: int = 0
    process: subprocess.Popen | None = None
    done: bool = False
    started_at: float = 0.0
    """``time.monotonic()`` at the last start."""

    def log_path(self, home: Path) -> Path:
        return home / f"{self.name}.log"

    def armed(self) -> str:
        """The failpoint of the running incarnation ('' when the plan is used up)."""
        index = self.incarnation - 1
        return self.plan[index] if 0 <= index < len(self.plan) else ""

    def log(self, home: Path) -> str:
        path = self.log_path(home)
        return path.read_text(errors="replace") if path.exists() else ""


class Supervisor:
    """Starts every role, restarts each after a planned kill (running its hook first), fails on
    anything unplanned."""

    def __init__(self, cli, roles: list[Role], *, hooks: dict[tuple[str, int], Callable[[Role], None]] | None = None,
                 watchers: list[Callable[[], None]] | None = None) -> None:
        self.cli = cli
        self.roles = roles
        self.hooks = hooks or {}
        self.watchers = watchers or []
        self.kills: list[Kill] = []

    def start(self, role: Role) -> None:
        role.incarnation += 1
        role.started_at = time.monotonic()
        env = {**self.cli.env, "PYTHONUNBUFFERED": "1", "MARKET_FAILPOINTS": role.armed()}
        out = role.log_path(self.cli.home).open("a")
        out.write(f"\n===== incarnation {role.incarnation} (armed: {role.armed() or 'nothing'}) =====\n")
        out.flush()
        role.process = subprocess.Popen([self.cli.exe, *role.args], stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env)
        out.close()

    def run(self, timeout: float) -> None:
        """Run until every role exited 0; raise AssertionError on a timeout or an unplanned exit."""
        for role in self.roles:
            self.start(role)
        deadline = time.monotonic() + timeout
        try:
            while not all(role.done for role in self.roles):
                if time.monotonic() > deadline:
                    raise AssertionError(f"the task did not end within {timeout:.0f}s:\n{self.tails()}")
                for watcher in self.watchers:
                    watcher()
                for role in self.roles:
                    self._check(role)
                time.sleep(0.2)
        finally:
            for role in self.roles:
                if role.process is not None and role.process.poll() is None:
                    role.process.kill()
                    role.process.wait(10)

    def _check(self, role: Role) -> None:
        if role.done or role.process is None or role.process.poll() is None:
            return
        code, point = role.process.returncode, role.armed()
        if code == 0:
            role.done = True
            return
        killed = code == -9 and point and FAILPOINT_LINE.format(name=point.partition("@")[0]) in role.log(self.cli.home)
        if not killed:
            raise AssertionError(f"{role.name} exited with {code} (armed: {point or 'nothing'}):\n"
                                 f"{role.log(self.cli.home)[-6000:]}")
        self.kills.append(Kill(role.name, point, role.incarnation, time.time()))
        hook = self.hooks.get((role.name, role.incarnation))
        if hook is not None:
            hook(role)
        else:
            self.start(role)

    def settled(self, seconds: float = 10.0, *, besides: Role | None = None) -> None:
        """Wait until every running role (``besides`` one) has run ``seconds`` since its last
        start (it is past its start-up: a node starting while the chain is down ends at once)."""
        others = [role for role in self.roles if role is not besides and not role.done]
        wait_for(lambda: all(time.monotonic() - role.started_at > seconds for role in others), 60,
                 "the other nodes to finish starting")

    def tails(self) -> str:
        return "\n".join(f"--- {role.name} ---\n{role.log(self.cli.home)[-3000:]}" for role in self.roles)

    def recovery_table(self, market: Marketplace, task_id: int) -> list[dict]:
        """Per kill: the seconds from the kill to the next transaction of the role's account that
        concerns the task and was mined after it (None if none was; block times are whole
        seconds, so a figure is good to about one second)."""
        web3 = market.web3
        sent: list[tuple[int, str, str]] = []  # (timestamp, sender, event)
        names = ("SubmissionsClosed", "RoundPublished", "EvidenceKeyRevealed", "UpdateSubmitted",
                 "SketchCommitted", "TaskFinalized", "RejectionContested")
        for name in names:
            for event in market.events(name, taskId=task_id):
                sender = web3.eth.get_transaction(event["tx_hash"])["from"]
                stamp = int(web3.eth.get_block(event["block_number"])["timestamp"])
                sent.append((stamp, sender, name))
        sent.sort()
        roles = {role.name: role.address for role in self.roles}
        rows = []
        for kill in self.kills:
            after = [(stamp, name) for stamp, sender, name in sent if sender == roles[kill.role] and stamp > kill.at]
            rows.append({"role": kill.role, "point": kill.point, "incarnation": kill.incarnation,
                         "next_tx": after[0][1] if after else None,
                         "recovery_s": round(after[0][0] - kill.at, 1) if after else None})
        return rows


def market_at(cli, port: int) -> Marketplace:
    """The Marketplace binding of ``cli``'s deployment on the anvil at ``port`` (for checks)."""
    chain = RpcChain(f"http://127.0.0.1:{port}")
    address = json.loads((cli.home / "deployments.json").read_text())[str(chain.chain_id)]["Marketplace"]
    return Marketplace(chain, address)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` every 0.2 s until it holds; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)

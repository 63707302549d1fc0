"""Kill and restart: a whole task through the ``market`` command on anvil and js-ipfs, each node
killed (SIGKILL, at a failpoint) at every step of a round and restarted, the chain and the IPFS
node stopped and started again mid-round; then the published rounds are what the aggregator
saved, nothing was submitted or published twice, every owed evidence key is on chain, the
audit reproduces every round and the money adds up to the wei.

Also the idle-chain deadline (issue 13): a round whose third trainer never shows up closes at its
deadline although nobody sends a transaction.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from market.chain.nodes import chain_down, free_port
from market.types import SLASH_SINK, TaskState
from tests.kill_restart import Role, Supervisor, market_at, wait_for
from tests.market.cli.conftest import MarketCli
from tests.market.storage.jsipfs import restart_jsipfs, start_jsipfs

OUT = Path(__file__).resolve().parents[1] / "out" / "kill-restart.md"
"""The recovery table of the last run."""
AGGREGATOR_PLAN = [  # incarnation: where it is killed
    "aggregator.closed.r0",        # 1 after closeSubmissions was mined
    "aggregator.intake",           # 2 in intake, after the first verdict was journaled
    "aggregator.proved.r0",        # 3 after proving, the publication saved, not sent
    "tx.sent.publishRound",        # 4 publishRound sent (mined at once), its receipt never seen
    "aggregator.revealed.r0",      # 5 after the evidence key was revealed (found owed after the restart)
    "aggregator.closed.r1",        # 6 after closing round 1; the IPFS node is stopped before the next start
    "aggregator.published.r1",     # 7 publishRound mined, before any reveal (issue 13)
    "tx.sent.publishRound",        # 8 publishRound sent while anvil does not mine: not mined
    "aggregator.revealed.r2",      # 9 after the last reveal; the 10th runs to finalize
]
TRAINER_PLAN = [
    "trainer.epoch",               # mid-training (after the first epoch of round 0)
    "trainer.stored.r0",           # mid-submit: the envelope stored, submitUpdate not sent
    "tx.sent.submitUpdate",        # mid-submit: submitUpdate sent, its receipt never seen
    "trainer.epoch@3",             # mid-training in round 2 (2 epochs a round) … and anvil is stopped
]


@pytest.fixture
def anvil_port() -> int:
    return free_port()


def _setup(cli: MarketCli, port: int, *, trainers: int, rounds: int, window: str, sketch_window: str,
           start: bool = True) -> str:
    cli.run("chain", "up", "--port", str(port))
    cli.run("deploy", "--slots", "4,16")  # `task post` picks the 4-slot verifier for these small tasks
    for name in ("owner", *[f"t{i}" for i in range(1, trainers + 1)]):
        cli.run("wallet", "new", name)
        cli.run("wallet", "fund", name, "--amount", "2ether", "--from", "dev:0")
    cli.register_aggregator("agg")
    posted = cli.run("task", "post", "--model", "logreg", "--epochs", "2", "--aggregator", "agg", "--reward", "1ether",
                     "--stake", "0.1ether", "--rounds", str(rounds), "--min-trainers", str(trainers),
                     "--submission-window", window, "--sketch-window", sketch_window, "--max-trainers", "4",
                     "--from", "owner")
    task_id = posted.stdout.strip().splitlines()[-1]
    recorded = json.loads((cli.home / "deployments.json").read_text())["31337"]
    assert recorded["RoundVerifier4x32"] != recorded["RoundVerifier"] == recorded["RoundVerifier16x32"]
    assert recorded["RoundVerifier4x32"].lower() in cli.run("task", "show", task_id).stdout.lower()
    for i in range(1, trainers + 1):
        cli.run("trainer", "join", task_id, "--from", f"t{i}")
    if start:
        cli.run("task", "start", task_id, "--from", "owner")
    return task_id


def _address(cli: MarketCli, name: str) -> str:
    listed = cli.run("wallet", "list").stdout
    line = next(line for line in listed.splitlines() if re.search(rf"\b{name}\b", line))
    return re.search(r"0x[0-9a-fA-F]{40}", line).group(0)


def _roles(cli: MarketCli, task_id: str, trainers: int, *, attacker: int | None = None) -> dict[str, Role]:
    poll = ["--poll", "0.5"]
    roles = {"agg": Role("agg", _address(cli, "agg"), ["aggregator", "run", "--task", task_id, "--key",
                                                         str(cli.home / "agg.key"), *poll, "--from", "agg"])}
    for i in range(1, trainers + 1):
        attack = ["--attack", "sign_flip:scale=100000"] if i == attacker else []
        roles[f"t{i}"] = Role(f"t{i}", _address(cli, f"t{i}"),
                              ["trainer", "run", "--task", task_id, "--dataset", "digits", "--share", f"{i}/{trainers}",
                               "--device", "cpu", "--seed", str(i), *attack, *poll, "--from", f"t{i}"])
    return roles


def _retries(role: Role, cli: MarketCli) -> int:
    return role.log(cli.home).count("retrying in")


def test_every_kill_point_and_outage_on_anvil_and_jsipfs(tmp_path, anvil_port):
    ipfs = {"daemon": start_jsipfs(tmp_path / "ipfs")}
    cli = MarketCli(tmp_path / "home")
    cli.env.update(MARKET_STORAGE="kubo", MARKET_IPFS_API=ipfs["daemon"].api_url)
    try:
        task_id = _setup(cli, anvil_port, trainers=3, rounds=3, window="10m", sketch_window="5m")
        market, tid = market_at(cli, anvil_port), int(task_id)
        roles = _roles(cli, task_id, 3, attacker=3)
        roles["agg"].plan = list(AGGREGATOR_PLAN)
        roles["t1"].plan = list(TRAINER_PLAN)
        roles["t2"].plan = ["tx.sent.commitSketch"]
        roles["t3"].plan = ["tx.sent.contestRejection"]
        supervisor = Supervisor(cli, list(roles.values()))
        outages: dict[str, float] = {}

        def ipfs_outage(role: Role) -> None:  # the aggregator restarts while its IPFS node is down
            ipfs["daemon"].stop()
            before, stopped = _retries(role, cli), time.time()
            supervisor.start(role)
            wait_for(lambda: _retries(role, cli) > before, 120, "the aggregator to retry its IPFS node")
            ipfs["daemon"] = restart_jsipfs(ipfs["daemon"])
            outages["ipfs"] = time.time() - stopped

        def chain_outage(role: Role) -> None:  # anvil stops while the others train, submit and wait
            agg = roles["agg"]
            supervisor.settled(besides=role)
            before, stopped = _retries(agg, cli), time.time()
            cli.run("chain", "down")
            wait_for(lambda: _retries(agg, cli) > before, 120, "the aggregator to retry the chain")
            cli.run("chain", "up", "--port", str(anvil_port))
            outages["chain"] = time.time() - stopped
            supervisor.start(role)

        rpc = market.web3.provider
        paused = {"done": False}

        def pause_mining() -> None:  # round 2's sketches are in: the next transaction stays pending
            if paused["done"] or market.get_task(tid).current_round != 2:
                return
            info = market.get_round(tid, 2)
            if info.closed and info.sketches == info.submissions == 3:
                rpc.make_request("evm_setAutomine", [False])
                paused["done"] = True

        def publish_pending(role: Role) -> None:
            assert not market.get_round(tid, 2).published  # sent, not mined
            assert int(rpc.make_request("txpool_status", [])["result"]["pending"], 16) >= 1
            supervisor.start(role)
            time.sleep(3)
            rpc.make_request("evm_setAutomine", [True])
            rpc.make_request("evm_mine", [])

        supervisor.hooks = {("agg", 6): ipfs_outage, ("agg", 8): publish_pending, ("t1", 4): chain_outage}
        supervisor.watchers = [pause_mining]
        supervisor.run(timeout=900)
        _check_the_outcome(cli, market, tid, roles, supervisor)
        table = supervisor.recovery_table(market, tid)
        lines = ["| role | kill point | seconds to the role's next mined transaction | which |", "|---|---|---:|---|"]
        lines += [f"| {row['role']} | `{row['point']}` | {row['recovery_s']} | {row['next_tx']} |" for row in table]
        lines += ["", "Outages: " + ", ".join(f"{name} down {seconds:.1f} s" for name, seconds in outages.items())]
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text("# Kill and restart (tests/test_kill_restart.py)\n\n" + "\n".join(lines) + "\n")
        print("\n" + "\n".join(lines))
        assert len(table) == len(AGGREGATOR_PLAN) + len(TRAINER_PLAN) + 2
        assert set(outages) == {"ipfs", "chain"}
    finally:
        chain_down(cli.home / "anvil")
        ipfs["daemon"].stop()


def _check_the_outcome(cli: MarketCli, market, tid: int, roles: dict[str, Role], supervisor: Supervisor) -> None:
    # every planned kill happened, in order, and every node then ended by itself
    for role in roles.values():
        assert [k.point for k in supervisor.kills if k.role == role.name] == role.plan
        assert role.done
    task = market.get_task(tid)
    assert task.state is TaskState.FINISHED and task.published_rounds == 3
    # one publication per round, the very one the aggregator saved before its first send
    published = market.events("RoundPublished", taskId=tid)
    assert sorted(e["args"]["round"] for e in published) == [0, 1, 2]
    state = json.loads((cli.home / "aggregator" / f"aggregator-task{tid}" / "state.json").read_text())
    for event in published:
        saved = state["rounds"][str(event["args"]["round"])]
        assert event["args"]["globalModelCid"] == saved["model_cid"]
        assert [int(s) for s in event["args"]["scores"]] == saved["scores"]
        assert saved["published"] and set(saved["reveals"]) == set(saved["evidence"])
    # one submission per trainer and round, the CID each trainer saved
    submitted = [(e["args"]["round"], e["args"]["trainer"]) for e in market.events("UpdateSubmitted", taskId=tid)]
    assert sorted(submitted) == sorted((r, roles[f"t{i}"].address) for r in range(3) for i in (1, 2, 3))
    t1 = roles["t1"].address
    t1_state = json.loads((cli.home / "trainer" / f"task{tid}-{t1}" / "state.json").read_text())
    assert t1_state["rounds"]["0"]["cid"] == market.get_submission(tid, 0, t1).update_cid
    # the attacker was rejected every round, and each round's evidence key is on chain once, the right one
    attacker = roles["t3"].address
    revealed = [(e["args"]["round"], bytes(e["args"]["key"])) for e in market.events("EvidenceKeyRevealed", taskId=tid)
                if e["args"]["trainer"] == attacker]
    keys = [bytes.fromhex((cli.home / "trainer" / f"task{tid}-{attacker}" / f"round{r}.envelope-key").read_text())
            for r in range(3)]
    assert sorted(revealed) == sorted(zip(range(3), keys))
    # the audit reproduces every round; the contract holds exactly what it owes
    audited = cli.run("audit", str(tid), ok=False)
    assert audited.returncode == 0, audited.stdout + audited.stderr
    parties = [roles[name].address for name in roles] + [_address(cli, "owner"), SLASH_SINK]
    assert market.web3.eth.get_balance(market.address) == sum(market.credit_of(a) for a in parties)


def test_a_no_show_trainer_cannot_stall_a_round_on_an_idle_anvil(tmp_path, anvil_port):
    cli = MarketCli(tmp_path / "home")
    try:
        task_id = _setup(cli, anvil_port, trainers=3, rounds=1, window="25s", sketch_window="20s", start=False)
        market, tid = market_at(cli, anvil_port), int(task_id)
        roles = _roles(cli, task_id, 3)
        del roles["t3"]  # joined, staked, never runs
        started = {"done": False}

        def start_when_ready() -> None:  # the window opens once the two trainers are up (a loaded CI)
            if not started["done"] and all("waiting for start" in role.log(cli.home) for role in roles.values()):
                cli.run("task", "start", task_id, "--from", "owner")
                started["done"] = True

        supervisor = Supervisor(cli, list(roles.values()), watchers=[start_when_ready])
        supervisor.run(timeout=300)
        deadline = market.get_round(tid, 0).submission_deadline

        # Assert: closed at the deadline with two submissions; nobody outside sent a transaction
        closed = market.events("SubmissionsClosed", taskId=tid)[0]
        closed_at = int(market.web3.eth.get_block(closed["block_number"])["timestamp"])
        assert market.get_round(tid, 0).submissions == 2
        assert 0 < closed_at - deadline <= 15, closed_at - deadline
        last = max(e["block_number"] for e in market.events("UpdateSubmitted", taskId=tid))
        between = [market.web3.eth.get_transaction(tx)["from"] for n in range(last + 1, closed["block_number"] + 1)
                   for tx in market.web3.eth.get_block(n)["transactions"]]
        assert between == [roles["agg"].address]  # the close itself, in the block after the last submission
        assert market.get_task(tid).state is TaskState.FINISHED
        assert market.get_trainer(tid, _address(cli, "t3")).strikes == 1
        print(f"\nno-show round closed {closed_at - deadline}s after its deadline")
    finally:
        chain_down(cli.home / "anvil")


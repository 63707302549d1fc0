"""A whole task through the `market` command on anvil: post → join → rounds → finalize → withdraw."""

from __future__ import annotations

import json
import re

from web3 import Web3

from market.chain.nodes import read_record


def _address(text: str) -> str:
    return re.search(r"0x[0-9a-fA-F]{40}", text).group(0)


def test_cli_task_from_post_to_withdraw_on_anvil(market_cli, anvil_port):
    # Prepare: a chain, a deployment, four funded wallets
    up = market_cli.run("chain", "up", "--port", str(anvil_port))
    assert f"http://127.0.0.1:{anvil_port}" in up.stdout
    market_cli.run("deploy", "--no-zk")
    deployments = json.loads((market_cli.home / "deployments.json").read_text())
    assert Web3.is_checksum_address(deployments["31337"]["Marketplace"])
    addresses = {}
    for name in ("owner", "agg", "t1", "t2"):
        addresses[name] = _address(market_cli.run("wallet", "new", name).stdout)
        market_cli.run("wallet", "fund", name, "--amount", "2ether", "--from", "dev:0")
    listed = market_cli.run("wallet", "list").stdout
    assert all(a in listed for a in addresses.values())
    market_cli.register_aggregator("agg")

    # Execute: the owner posts, two trainers join, one round runs, anyone finalizes
    spec = market_cli.home / "spec.json"
    spec.write_text(market_cli.run("task", "spec", "--model", "logreg").stdout)
    posted = market_cli.run("task", "post", "--spec", str(spec), "--aggregator", "agg", "--reward", "1ether",
                            "--stake", "0.1ether", "--rounds", "1", "--min-trainers", "2", "--from", "owner")
    task_id = posted.stdout.strip().splitlines()[-1]
    assert task_id == "1"
    assert "trusted-aggregator mode" in posted.stdout
    unkeyed = market_cli.run("task", "post", "--spec", str(spec), "--aggregator", "t1", "--reward", "1ether",
                             "--from", "owner", ok=False)  # t1 registered no encryption key
    nothing = market_cli.run("audit", task_id, ok=False)
    stranger = market_cli.run("trainer", "run", "--task", task_id, "--dataset", "digits", "--from", "owner", ok=False)
    moved = market_cli.run("chain", "up", "--port", str(anvil_port + 1))
    for t in ("t1", "t2"):
        market_cli.run("trainer", "join", task_id, "--from", t)
    market_cli.run("task", "start", task_id, "--from", "owner")
    market_cli.run("trainer", "submit", task_id, "--cid", "bafyu1", "--digest", "0x" + "11" * 32, "--from", "t1")
    market_cli.run("trainer", "submit", task_id, "--cid", "bafyu2", "--digest", "0x" + "22" * 32, "--from", "t2")
    closed = market_cli.run("aggregator", "close", task_id, "--from", "agg")
    assert "seed 0x" in closed.stdout
    market_cli.run("trainer", "commit-sketch", task_id, "--commitment", "123", "--from", "t1")
    market_cli.run("trainer", "commit-sketch", task_id, "--commitment", "0x1c8", "--from", "t2")
    market_cli.run("aggregator", "publish", task_id, "--model-cid", "bafymodel", "--scores", "3,1", "--from", "agg")
    market_cli.run("task", "finalize", task_id, "--from", "t1")
    shown = market_cli.run("task", "show", task_id).stdout
    w1 = market_cli.run("withdraw", "--from", "t1").stdout
    w2 = market_cli.run("withdraw", "--from", "t2").stdout

    # Assert: clear refusals on the way (no round to audit yet, a wallet that never joined, a second chain up)
    assert unkeyed.returncode != 0 and "has registered no encryption key" in unkeyed.stderr
    assert nothing.returncode != 0 and "has no published round yet" in nothing.stderr
    assert stranger.returncode != 0 and f"has not joined task {task_id}" in stranger.stderr
    assert f"--port {anvil_port + 1} ignored" in moved.stdout
    # and a 3:1 split of 1 ETH plus the stakes back, nothing left in the contract
    assert "Finished" in shown and "trusted" in shown
    assert "(850000000000000000 wei)" in w1
    assert "(350000000000000000 wei)" in w2
    owner_withdraw = market_cli.run("withdraw", "--from", "owner", ok=False)
    assert owner_withdraw.returncode != 0 and "nothing to withdraw" in owner_withdraw.stderr
    listed = market_cli.run("task", "list").stdout
    assert "Finished" in listed


def test_cli_chain_state_survives_restart(market_cli, anvil_port):
    # Prepare
    market_cli.run("chain", "up", "--port", str(anvil_port))
    deployed = market_cli.run("deploy")  # with the round verifier: new tasks default to it
    assert "RoundVerifier" in deployed.stdout and "DEVELOPMENT key" in deployed.stdout
    market_cli.run("wallet", "new", "owner")
    market_cli.run("wallet", "new", "agg")
    market_cli.run("wallet", "fund", "owner", "--amount", "1ether", "--from", "dev:0")
    market_cli.register_aggregator("agg")
    spec = market_cli.home / "spec.json"
    spec.write_text(market_cli.run("task", "spec", "--model", "logreg").stdout)
    market_cli.run("task", "post", "--spec", str(spec), "--aggregator", "agg", "--reward", "0.5ether",
                   "--from", "owner")
    built = market_cli.run("task", "post", "--model", "logreg", "--epochs", "3", "--aggregator", "agg",
                           "--reward", "0.1ether", "--from", "owner")
    spec_cid = re.search(r"task spec digits-logreg stored: (\S+)", built.stdout).group(1)
    fetched = market_cli.run("storage", "get", spec_cid, "-o", str(market_cli.home / "spec.json"))
    assert fetched.returncode == 0 and '"local_epochs":3' in (market_cli.home / "spec.json").read_text()
    pid = read_record(market_cli.home / "anvil").pid

    # Execute: stop and start again
    market_cli.run("chain", "down")
    again = market_cli.run("chain", "up", "--port", str(anvil_port))

    # Assert: a new process, the same deployment and task
    assert read_record(market_cli.home / "anvil").pid != pid
    assert "started" in again.stdout
    shown = market_cli.run("task", "show", "1").stdout
    assert "Open" in shown and "0.5 ETH" in shown
    verifier = json.loads((market_cli.home / "deployments.json").read_text())["31337"]["RoundVerifier"]
    assert f"zk-verified ({verifier})" in shown

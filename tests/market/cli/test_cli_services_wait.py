"""A service started before its chain waits for it (as its run loop waits out an outage) instead of
exiting: `market trainer run` and `market aggregator run` retry until the chain answers, then go on."""

from __future__ import annotations

import subprocess

from market.chain.nodes import chain_down, free_port
from tests.kill_restart import wait_for


def test_trainer_and_aggregator_started_before_the_chain_wait_for_it(market_cli, tmp_path):
    # Prepare: no chain yet on the port both services are pointed at
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    market_cli.run("aggregator", "keygen", "-o", str(tmp_path / "agg.key"))
    for wallet in ("tr", "ag"):  # wallets need no chain (dev:N accounts do)
        market_cli.run("wallet", "new", wallet)
    commands = {"trainer": ["trainer", "run", "--task", "1", "--dataset", "digits", "--poll", "0.2", "--from", "tr"],
                "aggregator": ["aggregator", "run", "--task", "1", "--key", str(tmp_path / "agg.key"), "--poll", "0.2",
                               "--from", "ag"]}
    logs = {name: tmp_path / f"{name}.log" for name in commands}
    procs = {name: subprocess.Popen([market_cli.exe, "--rpc-url", url, *args], stdout=logs[name].open("w"),
                                    stderr=subprocess.STDOUT, env=market_cli.env)
             for name, args in commands.items()}
    try:
        # Execute: both wait (retrying), then the chain comes up
        for name in commands:
            wait_for(lambda: logs[name].read_text().count("retrying in") >= 2, 60, f"the {name} to retry the chain")
            assert procs[name].poll() is None, logs[name].read_text()
        market_cli.run("chain", "up", "--port", str(port))
        # Assert: each then went on to the Marketplace (none is deployed here: a clear refusal, not a wait)
        for name, proc in procs.items():
            proc.wait(timeout=90)
            text = logs[name].read_text()
            assert proc.returncode != 0 and text.rstrip().splitlines()[-1].startswith(
                "Error: no Marketplace recorded for chain 31337"), text
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        chain_down(market_cli.home / "anvil")

"""`market task post` on anvil takes N, k and τ from the task's RoundVerifier: it refuses a spec
whose scoring.tau or scoring.sketch_k differ from the verifier's, and a --max-trainers above its
slots, saying which (zk/verifier_params.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from market.chain.nodes import chain_down, free_port
from market.task_spec import TaskSpec
from tests.market.cli.conftest import MarketCli

POST = ("task", "post", "--aggregator", "agg", "--reward", "0.1ether", "--from", "owner")


@pytest.fixture(scope="module")
def zk_cli(tmp_path_factory) -> Iterator[MarketCli]:
    """anvil with the Marketplace and the default RoundVerifier (16 slots, k = 32, tau 4/1),
    and a funded owner."""
    cli = MarketCli(tmp_path_factory.mktemp("zk-post") / "home")
    cli.run("chain", "up", "--port", str(free_port()))
    cli.deploy_stdout = cli.run("deploy").stdout
    cli.run("wallet", "new", "owner")
    cli.run("wallet", "new", "agg")
    cli.run("wallet", "fund", "owner", "--amount", "2ether", "--from", "dev:0")
    cli.register_aggregator("agg")
    yield cli
    chain_down(cli.home / "anvil")


def _spec_file(folder: Path, name: str, **scoring) -> Path:
    raw = json.loads(TaskSpec.example_digits().to_json())
    raw["scoring"].update(scoring)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(raw))
    return path


def _task_count(cli: MarketCli) -> int:
    return cli.run("task", "list").stdout.count("Open")


def _refused(cli: MarketCli, *args: str) -> str:
    before = _task_count(cli)
    result = cli.run(*POST, *args, ok=False)
    assert result.returncode != 0, result.stdout
    assert "does not fit its verifier" in result.stderr and "(Round 16x32, tau 4/1)" in result.stderr
    assert _task_count(cli) == before  # nothing posted
    return result.stderr


def test_deploy_says_what_its_key_step_waits_on(zk_cli):
    # the key of Round(16, 32) is cached by then (or made once, and said so), the step's end is shown
    out = zk_cli.deploy_stdout
    assert "DEVELOPMENT key of the circuit 16x32" in out and "  done in " in out, out
    assert out.index("done in") < out.index("RoundVerifier (16 trainers"), out


def test_post_refuses_a_spec_whose_tau_differs_from_the_verifier(zk_cli, tmp_path):
    spec = _spec_file(tmp_path, "tau", tau=5.0)
    message = _refused(zk_cli, "--spec", str(spec))
    assert "the spec's scoring.tau is 5/1, the verifier proves tau = 4/1" in message


def test_post_refuses_a_spec_whose_sketch_k_differs_from_the_verifier(zk_cli, tmp_path):
    spec = _spec_file(tmp_path, "k", sketch_k=16)
    message = _refused(zk_cli, "--spec", str(spec))
    assert "the spec's scoring.sketch_k is 16, the verifier proves k = 32" in message
    assert "scoring.tau" not in message


def test_post_refuses_more_trainers_than_the_verifier_has_slots(zk_cli, tmp_path):
    spec = _spec_file(tmp_path, "default")
    message = _refused(zk_cli, "--spec", str(spec), "--max-trainers", "17")
    assert "--max-trainers 17 exceeds the verifier's 16 slots" in message


def test_post_reads_a_stored_spec_by_cid_and_refuses_it(zk_cli, tmp_path):
    cid = zk_cli.run("storage", "put", str(_spec_file(tmp_path, "stored", tau=2.5))).stdout.strip()
    message = _refused(zk_cli, "--spec-cid", cid)
    assert "the spec's scoring.tau is 5/2" in message


def test_post_refuses_a_spec_built_from_flags_with_another_tau(zk_cli):
    message = _refused(zk_cli, "--model", "logreg", "--tau", "3")
    assert "the spec's scoring.tau is 3/1" in message


def test_post_refuses_a_spec_nobody_can_read_or_build(zk_cli, tmp_path):
    before = _task_count(zk_cli)
    not_a_cid = zk_cli.run(*POST, "--spec-cid", "bafyspec", ok=False)
    absent = zk_cli.run(*POST, "--spec-cid", "bafkreigczc7n7hajhbne3wzzrwpdiwcyspjy5zwxvgnfsuothyz7usydei", ok=False)
    raw = json.loads(TaskSpec.example_digits().to_json())
    raw["model"]["params"] = {"hiden": 32}  # the trial's typo
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps(raw))
    unbuildable = zk_cli.run(*POST, "--spec", str(typo), ok=False)

    assert "--spec-cid 'bafyspec': not a CID" in not_a_cid.stderr
    assert "cannot be read" in absent.stderr and "market storage put spec.json" in absent.stderr
    assert "its model cannot be built" in unbuildable.stderr and "hiden" in unbuildable.stderr
    assert all(r.returncode != 0 and "Traceback" not in r.stderr for r in (not_a_cid, absent, unbuildable))
    assert _task_count(zk_cli) == before


def test_post_accepts_a_spec_that_fits_and_the_defaults_fit_the_default_verifier(zk_cli, tmp_path):
    posted = zk_cli.run(*POST, "--spec", str(_spec_file(tmp_path, "fits")))
    task_id = posted.stdout.strip().splitlines()[-1]
    assert "not checked" not in posted.stdout and "trusted-aggregator" not in posted.stdout
    shown = zk_cli.run("task", "show", task_id).stdout
    assert "zk-verified" in shown and "trainers 2-16" in shown

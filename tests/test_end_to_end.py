"""The whole market, end to end: a small `market demo` on the embedded chain and on anvil."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from benchmarks.simulation import DemoOptions, run_demo
from market.cli.app import cli


def _check_money(result):
    paid = sum(t.payout_wei for t in result.trainers)
    assert paid + result.withheld_wei + result.dust_wei == result.reward_wei  # to the wei
    # everyone withdrew everything; only the slashed stakes and the withheld reserves stay,
    # burned (credited to SLASH_SINK)
    slashed = sum(t.stake_slashed_wei for t in result.trainers)
    assert result.contract_balance_after == slashed + result.withheld_wei
    assert 0 <= result.dust_wei <= (len(result.trainers) + 1) * len(result.rounds)


def test_demo_on_the_embedded_chain(tmp_path):
    options = DemoOptions(trainers=4, rounds=2, epochs=2, attacks=("gaussian_noise:sigma=0.5",), unreliable=(),
                          work_dir=tmp_path, timeout=300)
    result = run_demo(options, log=lambda m: None)
    _check_money(result)
    attacker = result.trainers[3]
    assert attacker.kind == "gaussian_noise:sigma=0.5"
    assert attacker.flagged_rounds == [0, 1]
    assert all(attacker.payout_wei < t.payout_wei for t in result.trainers[:3])
    assert attacker.stake_slashed_wei == options.stake_wei
    assert result.final_accuracy > 0.6
    # zk by default: every round proved and verified by the contract before it recorded the scores
    assert all(r.publish_gas > 0 and r.verified_on_chain is True for r in result.rounds)
    assert all(r.proof_seconds > 0 for r in result.rounds)
    # and the closing audit reproduced every round, each proof verified again with py_ecc
    assert all(r.audit.ok and r.audit.proof_verified_in_python is True for r in result.rounds), \
        [r.audit for r in result.rounds]


def test_demo_on_anvil(anvil_node, tmp_path):
    options = DemoOptions(trainers=3, rounds=1, epochs=2, attacks=("sign_flip:scale=3",), unreliable=(),
                          rpc_url=anvil_node.url, work_dir=tmp_path, timeout=300, zk=False)
    result = run_demo(options, log=lambda m: None)
    _check_money(result)
    assert result.chain.startswith(anvil_node.url)
    assert result.trainers[2].payout_wei < min(t.payout_wei for t in result.trainers[:2])


def test_market_demo_command_writes_json_and_plots(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(cli, ["demo", "--trainers", "3", "--rounds", "1", "--epochs", "1", "--honest-only", "--trusted",
                                   "--json", "demo.json", "--out", "plots"], env={"MARKET_RPC_URL": ""},
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    data = json.loads((tmp_path / "demo.json").read_text())
    for key in ("reward_wei", "dust_wei", "final_accuracy", "rounds", "trainers"):
        assert key in data
    for key in ("accuracy", "flags", "rejections", "scores", "publish_gas"):
        assert key in data["rounds"][0]
    for key in ("address", "kind", "flagged_rounds", "score_total", "shapley", "payout_wei", "stake_returned_wei",
                "stake_slashed_wei"):
        assert key in data["trainers"][0]
    assert (tmp_path / "plots" / "accuracy.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "contribution_vs_payout.png").stat().st_size > 1000
    assert "final accuracy on the digits test split" in out.output


@pytest.mark.parametrize("bad", [["--attack", "teleport"], ["--trainers", "2", "--attack", "sign_flip",
                                                                   "--attack", "free_rider"]])
def test_market_demo_rejects_bad_flags(bad):
    out = CliRunner().invoke(cli, ["demo", *bad], env={"MARKET_RPC_URL": ""})
    assert out.exit_code != 0
    assert "Traceback" not in out.output

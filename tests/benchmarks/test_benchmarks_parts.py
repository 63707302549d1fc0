"""The benchmarks' parts that need no full run: the demo's task is built once with the bytes it
always had, the demo's result is a typed record that reads its JSON back, and every span the
overhead benchmark maps to a step is one the library really opens."""

from __future__ import annotations

import ast
import hashlib

import pytest

from benchmarks import round_steps
from benchmarks.common import REPO_ROOT
from benchmarks.kit import digits_task, local_update, shares
from benchmarks.records import DEMO_RESULT_VERSION, AuditRow, DemoOptions, DemoResult, RoundRow, TrainerRow
from market.exceptions import MarketValueError
from trainers.attacks import AttackPlan
from trainers.models import model_to_bytes
from trainers.recipe import local_round, round_seed

#: sha256 of the demo's spec (DemoOptions' defaults) and of its initial model, as posted before
#: the task was built in one place
DEMO_SPEC_SHA256 = "73c867d82bbaf4a8c0964abb0b61a4aebc76cc499f3a7cfc63fa9bd07b1d4ca3"
DEMO_MODEL_SHA256 = "0f38c5eb32c3aca120c21906fe838b858f576f1fd0dc77b2890d16e839eacafe"


def test_digits_task_keeps_the_demos_spec_and_model_bytes():
    task = digits_task(0, DemoOptions())
    assert hashlib.sha256(task.spec.to_json()).hexdigest() == DEMO_SPEC_SHA256
    assert hashlib.sha256(model_to_bytes(task.initial)).hexdigest() == DEMO_MODEL_SHA256
    assert (len(task.train), len(task.validation), len(task.test)) == (1438, 180, 179)


def test_local_update_is_the_trainers_round_step():
    task = digits_task(0, DemoOptions(epochs=1))
    data = shares(task, 4, "dirichlet")[1]
    plan = AttackPlan.parse("sign_flip:scale=3", seed=1)
    update, samples, _seconds = local_update(task, task.initial, data, plan, trainer_seed=1, round_=2)
    step = local_round(task.initial, data, task.spec, plan=plan, seed=round_seed(1, 2), round_=2, device="cpu")
    assert samples == step.num_samples
    assert update.keys() == step.delta.keys()
    assert all((update[k] == step.delta[k]).all() for k in update)


def _result() -> DemoResult:
    rounds = [RoundRow(round=r, accuracy=0.8, accuracy_before=0.5, flags=[False, True], rejections=[False, False],
                       scores=[7, 0], labels=["ok", "outlier"], publish_gas=123_456, proof_seconds=None,
                       verified_on_chain=False, validation_shapley={"gtg": [0.1, -0.2]}, model_cid=f"bafy-m{r}",
                       distance_ratios=[0.5, 9.0], transcript_cid=f"bafy-t{r}") for r in range(2)]
    rounds[1].audit = AuditRow(ok=True, checks=12, failed=[], proof_verified_in_python=None)
    trainers = [TrainerRow(slot=i, address=f"0x{i + 1:040x}", kind=kind, flagged_rounds=[0, 1] if i else [],
                           rejected_rounds=[], score_total=14 - 14 * i, strikes=2 * i, shapley=0.2 - 0.6 * i,
                           payout_wei=10**18 - i, slash_share_wei=0, stake_returned_wei=0 if i else 10,
                           stake_slashed_wei=10 if i else 0) for i, kind in enumerate(["honest", "sign_flip"])]
    return DemoResult(task_id=1, chain="embedded", reward_wei=10**18, dust_wei=1, slash_dust_wei=0, withheld_wei=5,
                      final_accuracy=0.81,
                      rounds=rounds, trainers=trainers, owner_refund_wei=1, contract_balance_after=0, seconds=3.5)


def test_demo_result_json_has_the_keys_it_always_had_and_a_version():
    data = _result().to_json()
    assert list(data) == ["version", "task_id", "chain", "reward_wei", "dust_wei", "slash_dust_wei", "withheld_wei",
                          "final_accuracy",
                          "rounds", "trainers", "owner_refund_wei", "contract_balance_after", "seconds"]
    assert data["version"] == DEMO_RESULT_VERSION
    assert list(data["rounds"][0]) == ["round", "accuracy", "accuracy_before", "flags", "rejections", "scores", "labels",
                                       "publish_gas", "proof_seconds", "verified_on_chain", "validation_shapley",
                                       "model_cid", "distance_ratios", "transcript_cid"]
    assert data["rounds"][1]["audit"] == {"ok": True, "checks": 12, "failed": [], "proof_verified_in_python": None}
    assert list(data["trainers"][1]) == ["slot", "address", "kind", "flagged_rounds", "rejected_rounds", "score_total",
                                         "strikes", "shapley", "payout_wei", "slash_share_wei", "stake_returned_wei",
                                         "stake_slashed_wei"]


def test_demo_result_reads_its_json_back():
    result = _result()
    again = DemoResult.from_json(result.to_json())
    assert again == result
    assert again.rounds[1].audit.checks == 12 and not again.audited


def test_demo_result_refuses_another_version():
    data = {**_result().to_json(), "version": DEMO_RESULT_VERSION + 1}
    with pytest.raises(MarketValueError, match="version"):
        DemoResult.from_json(data)


def _opened_spans() -> set[str]:
    """Every name given to ``traced(...)`` or ``span(...)`` as a literal in the project's packages."""
    names = set()
    for package in ("market", "zk", "trainers", "aggregator", "benchmarks"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("traced", "span") and node.args
                        and isinstance(node.args[0], ast.Constant)):
                    names.add(node.args[0].value)
    return names | {round_steps.TRAINER_STEP, round_steps.AGGREGATOR_STEP, round_steps.KEY_LOAD_SPAN}


def test_every_span_the_overhead_benchmark_maps_is_opened_by_the_code():
    missing = set(round_steps.SPAN_STEPS) - _opened_spans()
    assert not missing, f"no code opens the span(s) {sorted(missing)}: renamed?"
    labels = {label for label, _ in round_steps.STEPS} | {round_steps.ZK_KEY_LOAD, round_steps.ZK_DEPLOY}
    assert set(round_steps.SPAN_STEPS.values()) <= labels


@pytest.mark.parametrize(("outer", "inner", "transparent"), [
    (None, "storage.put", False),  # a step at the top level
    ("intake.fetch_and_check", "storage.get", False),  # storage is storage wherever it is
    (round_steps.TRAINER_STEP, "sketch.update", False),  # the trainer's own sketch
    ("intake.fetch_and_check", "sketch.update", True),  # the aggregator's is part of its intake
    ("prover.prove_round", "sketch.commitment", True),  # the prover's is part of proving
    (round_steps.AGGREGATOR_STEP, "update_package.load", True),
    ("round_pipeline.assess_round", "evaluation.evaluate", False),  # accuracy before/after
    ("round_pipeline.validation_shapley", "evaluation.evaluate", True),  # the Shapley estimates' utility
    ("storage.put", "some.unmapped_span", True),  # a span no step names keeps its time with its parent
    (None, round_steps.AGGREGATOR_STEP, False),
])
def test_transparency_rules(outer, inner, transparent):
    assert round_steps.transparent(outer, inner) is transparent

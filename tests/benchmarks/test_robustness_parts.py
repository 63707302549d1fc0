"""The robustness and fairness benchmarks' parts: Flower's MultiKrum and Bulyan as configured,
intake's verdict without the envelope, who attacks, what the omniscient attackers are fed, the
reference arm's aggregation and the coalition sweep of the exact Shapley ground truth. Not timed
(a few seconds: one-epoch training on the digits task)."""

from __future__ import annotations

import numpy as np
import pytest

from aggregator.scoring import fedavg_subset_utility
from benchmarks.fairness import Coalitions
from benchmarks.kit import digits_task, direct_intake, flower_round, flower_strategy, round_seed, shares
from benchmarks.records import DemoOptions
from benchmarks.reference_arm import reference_step, root_set, sketch_round, validation_halves
from benchmarks.robustness_arms import Cast, Pool, fingerprint
from trainers.attacks.omniscient import flatten


@pytest.fixture(scope="module")
def task():
    return digits_task(0, DemoOptions(epochs=1))


@pytest.fixture(scope="module")
def pool(task):
    return Pool(task, shares(task, 6, "iid"), root_set(task, 0), lambda r: round_seed("test", r))


def _vec(update) -> np.ndarray:
    return flatten(update, sorted(update))


def test_flower_multikrum_keeps_n_minus_f_and_bulyan_takes_the_largest_f_it_admits():
    multi = flower_strategy("MultiKrum", num_malicious=3, num_clients=10)
    bulyan = flower_strategy("Bulyan", num_malicious=3, num_clients=10)
    assert (multi.num_malicious_clients, multi.num_clients_to_keep) == (3, 7)
    assert bulyan.num_malicious_clients == 1  # n >= 4f + 3
    with pytest.raises(ValueError, match="num_clients"):
        flower_strategy("MultiKrum", num_malicious=3)


def test_flower_multikrum_averages_the_updates_it_keeps():
    # Prepare: 7 honest updates near 1 and 3 far outliers
    state = {"w": np.zeros(4, np.float32)}
    rng = np.random.default_rng(0)
    subs = [({"w": (1 + 0.01 * rng.standard_normal(4)).astype(np.float32)}, 10) for _ in range(7)]
    subs += [({"w": np.full(4, 50.0, np.float32)}, 10) for _ in range(3)]
    # Execute
    new, _ = flower_round(flower_strategy("MultiKrum", num_malicious=3, num_clients=10), 1, state, subs)
    # Assert: the mean of the 7 honest ones
    assert np.allclose(new["w"], np.mean([u["w"] for u, _ in subs[:7]], axis=0), atol=1e-6)


def test_direct_intake_refuses_what_the_package_checks_refuse(task):
    fine = {k: np.zeros_like(v) for k, v in task.initial.items()}
    huge = {k: np.full_like(v, 10.0) for k, v in task.initial.items()}
    broken = {k: np.full_like(v, np.nan) for k, v in task.initial.items()}
    ok = direct_intake(task, 0, fine, 12, [1, 2], round_=0)
    assert ok.accepted and ok.num_samples == 12 and ok.sketch == [1, 2]
    assert direct_intake(task, 1, huge, 12, [], round_=0).reason == "norm-too-large"
    assert direct_intake(task, 2, broken, 12, [], round_=0).reason == "non-finite"


def test_cast_puts_the_attackers_last_and_leaves_the_sybil_leader_out_of_the_honest():
    plain = Cast.of(10, "sign_flip", 3, 0)
    assert plain.attackers == {7, 8, 9} and plain.honest == set(range(7)) and plain.leader is None
    sybil = Cast.of(10, "sybil", 3, 0)
    assert sybil.attackers == {7, 8, 9} and sybil.honest == set(range(1, 7)) and sybil.leader == 0


@pytest.mark.parametrize("attack", ["ipm", "adaptive", "sybil"])
def test_pool_feeds_omniscient_attackers_the_rounds_honest_updates(task, pool, attack):
    # Execute
    cast = Cast.of(6, attack, 2, 0)
    inputs = pool.inputs(task.initial, fingerprint(task.initial), cast, 0, reference=True, sketches=True)
    # Assert
    honest = np.stack([_vec(inputs.submissions[i][0]) for i in range(4)])
    attackers = [_vec(inputs.submissions[i][0]) for i in (4, 5)]
    if attack == "ipm":
        assert all(np.allclose(a, -0.5 * honest.mean(axis=0), atol=1e-6) for a in attackers)
    elif attack == "adaptive":
        r = _vec(inputs.reference)
        assert all(abs(a @ r / np.linalg.norm(a) / np.linalg.norm(r) - 0.10) < 1e-4 for a in attackers)
    else:
        assert all(np.array_equal(a, honest[0]) for a in attackers)  # exact copies of the leader, slot 0
        assert inputs.submissions[4][1] == inputs.submissions[0][1]


def test_reference_step_aggregates_only_the_accepted_set(task, pool):
    cast = Cast.of(6, "sign_flip", 2, 0)
    inputs = pool.inputs(task.initial, fingerprint(task.initial), cast, 0, reference=True, sketches=True)
    out, new = reference_step(task, task.initial, inputs.submissions, inputs.sketches)
    accepted = [i for i in range(6) if out.accepted[i]]
    assert accepted and not set(accepted) & cast.attackers  # sign-flippers are misaligned with the reference
    w = np.array([inputs.submissions[i][1] for i in accepted], float)
    mean = w @ np.stack([_vec(inputs.submissions[i][0]) for i in accepted]) / w.sum()
    assert np.allclose(_vec(new), _vec(task.initial) + mean, atol=1e-6)


def test_coalition_sweep_is_the_fedavg_subset_utility_on_the_whole_split(task, pool):
    # Prepare: three trainers' updates from the initial model
    subs = [pool.trained(task.initial, fingerprint(task.initial), i, Cast.of(6, None, 0, 0).plans[i], 0)
            for i in range(3)]
    keys = sorted(task.initial)
    accuracy = task.evaluator("validation")
    from trainers.attacks.omniscient import unflatten

    base = flatten(task.initial, keys)
    utility = fedavg_subset_utility(updates=[flatten(u, keys) for u, _ in subs], weights=[s for _, s in subs],
                                    evaluate=lambda mean: accuracy(unflatten(base + mean, task.initial)))
    # Execute
    tables = Coalitions(task, validation_halves(task, 0)).sweep(task.initial, subs)
    # Assert
    assert len(tables["accuracy"]) == 8
    for coalition, value in tables["accuracy"].items():
        assert value == pytest.approx(utility(coalition), abs=1e-9)


def test_sketch_round_leaves_rejected_slots_empty(task):
    zeros = {k: np.zeros_like(v) for k, v in task.initial.items()}
    sk = sketch_round(task, [zeros, zeros], None, [False, True], seed=5)
    assert sk.slots[1] is None and len(sk.slots[0]) == task.spec.scoring.sketch_k and sk.reference is None

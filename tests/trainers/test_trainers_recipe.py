"""The trainer's round step (:mod:`trainers.recipe`): the seed rule, and data attack → local
training → update attack exactly as the pieces do it one by one."""

from __future__ import annotations

import numpy as np

from trainers.attacks import AttackContext, AttackPlan
from trainers.models import build_model, state_to_numpy
from trainers.recipe import LOCAL_HOLDOUT, local_round, round_seed
from trainers.training import train_local


def _initial(spec):
    return state_to_numpy(build_model(spec.model, dtype=spec.training.dtype))


def test_round_seed_is_trainer_seed_times_stride_plus_round():
    assert round_seed(0, 3) == 3
    assert round_seed(2, 5) == 2 * 100_003 + 5


def test_local_round_without_attack_is_plain_local_training(mlp_spec, digits_flat):
    # Prepare
    train, _ = digits_flat
    data = train.subset(np.arange(200))
    initial = _initial(mlp_spec)
    # Execute
    step = local_round(initial, data, mlp_spec, plan=AttackPlan(), seed=round_seed(1, 2), round_=2)
    plain = train_local(initial, data, mlp_spec.training, seed=round_seed(1, 2), progress=False,
                        section=mlp_spec.model, holdout=LOCAL_HOLDOUT)
    # Assert
    assert set(step.delta) == set(plain.delta)
    for name in plain.delta:
        np.testing.assert_array_equal(step.delta[name], plain.delta[name])
    assert step.num_samples == plain.metrics.samples
    assert step.metrics.accuracy_after == plain.metrics.accuracy_after


def test_local_round_applies_data_then_update_attacks_with_the_round(mlp_spec, digits_flat):
    # Prepare
    train, _ = digits_flat
    data = train.subset(np.arange(200))
    initial = _initial(mlp_spec)
    plan = AttackPlan.parse("label_flip:mode=permutation+gaussian_noise:sigma=0.01,mode=add", seed=7)
    labels = data.y.copy()
    # Execute
    step = local_round(initial, data, mlp_spec, plan=plan, seed=11, round_=3)
    # Assert: the pieces one by one give the same update; the input data is untouched
    attacked = plan.apply_data(data, num_classes=mlp_spec.model.num_classes, round_=3)
    honest = train_local(initial, attacked, mlp_spec.training, seed=11, progress=False, section=mlp_spec.model,
                         holdout=LOCAL_HOLDOUT)
    expected = plan.apply_update(honest.delta, AttackContext(global_state=initial), round_=3)
    for name in expected:
        np.testing.assert_array_equal(step.delta[name], expected[name])
        np.testing.assert_array_equal(step.local.delta[name], honest.delta[name])
    np.testing.assert_array_equal(data.y, labels)


def test_local_round_free_rider_trains_no_epoch_and_replays_the_previous_delta(mlp_spec, digits_flat):
    # Prepare
    train, _ = digits_flat
    data = train.subset(np.arange(100))
    initial = _initial(mlp_spec)
    previous = {k: np.full_like(v, 0.5) for k, v in initial.items()}
    # Execute
    step = local_round(initial, data, mlp_spec, plan=AttackPlan.parse("free_rider:mode=stale"), seed=0,
                       previous_delta=previous)
    # Assert
    assert step.metrics.epochs == 0
    for name in previous:
        np.testing.assert_array_equal(step.delta[name], previous[name])

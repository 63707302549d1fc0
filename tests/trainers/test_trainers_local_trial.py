"""A local trial (:mod:`trainers.local_trial`): the round step from the initial model, packaged."""

from __future__ import annotations

import numpy as np

from market.task_spec import TaskSpec
from market.types import ZERO_ADDRESS
from market.update_package import load_update_package
from trainers.attacks import AttackPlan
from trainers.local_trial import PLACEHOLDER_TRAINER, initial_global_state, run_local_trial
from trainers.models import build_model, model_to_bytes, param_spec, state_to_numpy
from trainers.training import update_norm


def test_initial_global_state_is_the_seeded_model_or_the_given_bytes(mlp_spec: TaskSpec) -> None:
    # Prepare
    seeded = state_to_numpy(build_model(mlp_spec.model, dtype=mlp_spec.training.dtype))
    other = {k: v + 1.0 for k, v in seeded.items()}
    # Execute
    from_spec = initial_global_state(mlp_spec)
    from_bytes = initial_global_state(mlp_spec, model_to_bytes(other))
    # Assert
    for name in seeded:
        np.testing.assert_array_equal(from_spec[name], seeded[name])
        np.testing.assert_array_equal(from_bytes[name], other[name])


def test_run_local_trial_packages_what_an_aggregator_accepts(mlp_spec: TaskSpec, digits_flat) -> None:
    # Prepare
    data = digits_flat[0].subset(np.arange(300))
    # Execute
    trial = run_local_trial(mlp_spec, data, plan=AttackPlan(), seed=1, holdout=0.2, device="cpu", epochs=1)
    # Assert
    package = load_update_package(trial.package, param_spec(mlp_spec.model))
    assert PLACEHOLDER_TRAINER == ZERO_ADDRESS
    assert package.metadata.trainer.lower() == PLACEHOLDER_TRAINER and package.metadata.sketch == ()
    assert package.metadata.task_id == 0 and package.metadata.round == 0
    assert package.metadata.num_samples == trial.metrics.samples
    assert trial.metrics.samples + trial.metrics.holdout_samples == len(data)
    assert trial.metrics.epochs == 1
    assert trial.update_norm == update_norm(trial.step.delta) > 0
    for name, value in trial.step.delta.items():
        np.testing.assert_array_equal(package.tensors[name], value)


def test_run_local_trial_is_reproducible_and_applies_the_plan(mlp_spec: TaskSpec, digits_flat) -> None:
    # Prepare
    data = digits_flat[0].subset(np.arange(300))
    run = lambda plan: run_local_trial(mlp_spec, data, plan=plan, seed=2, holdout=0.25, device="cpu",  # noqa: E731
                                       epochs=1)
    # Execute
    a, b = run(AttackPlan()), run(AttackPlan())
    flipped = run(AttackPlan.parse("sign_flip"))
    free = run(AttackPlan.parse("free_rider"))
    # Assert
    for name in a.step.delta:
        assert a.step.delta[name].tobytes() == b.step.delta[name].tobytes()
        np.testing.assert_array_equal(flipped.step.delta[name], -a.step.delta[name])
    assert free.metrics.epochs == 0 and free.update_norm == 0.0
    assert flipped.metrics.accuracy_after == a.metrics.accuracy_after  # the local model is the honest one

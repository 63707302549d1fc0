"""zk/verifier_params.py: a task's N, k and τ come from its RoundVerifier, read on chain."""

from __future__ import annotations

import pytest

from market.task_spec import ScoringSection, TaskSpec
from zk.protocol.params import DEFAULT_SKETCH_K, DEFAULT_TAU, RoundParameters
from zk.verifier_params import TaskDoesNotFitVerifierError, fit_task_to_verifier, task_problems, verifier_parameters


def _spec(**scoring) -> TaskSpec:
    spec = TaskSpec.example_digits()
    return spec.model_copy(update={"scoring": spec.scoring.model_copy(update=scoring)})


def test_verifier_parameters_are_read_from_the_adapter(zk_base):
    chain, _, deployment, half, _ = zk_base
    assert verifier_parameters(chain.web3, deployment.address) == RoundParameters(n=4, k=4, tau_num=4, tau_den=1)
    assert verifier_parameters(chain.web3, half) == RoundParameters(n=4, k=4, tau_num=1, tau_den=2)


def test_a_fitting_task_passes_and_each_misfit_is_named(zk_base):
    # Prepare: the Round(4, 4) adapter with tau 4/1
    chain, _, deployment, _, _ = zk_base

    # Execute
    fits = fit_task_to_verifier(chain.web3, deployment.address, spec=_spec(sketch_k=4), max_trainers=4)
    misfit = fit_task_to_verifier(chain.web3, deployment.address, spec=_spec(sketch_k=32, tau=2.5), max_trainers=5)

    # Assert
    assert fits.fits and fits.problems == () and fits.unchecked == ()
    fits.raise_if_misfit()
    assert misfit.problems == (
        "the spec's scoring.sketch_k is 32, the verifier proves k = 4",
        "the spec's scoring.tau is 5/2, the verifier proves tau = 4/1",
        "--max-trainers 5 exceeds the verifier's 4 slots",
    )
    with pytest.raises(TaskDoesNotFitVerifierError, match=r"\(Round 4x4, tau 4/1\): the spec's scoring.sketch_k"):
        misfit.raise_if_misfit()


def test_tau_is_compared_as_the_fraction_the_aggregator_proves_with(zk_base):
    chain, _, _, half, _ = zk_base
    assert fit_task_to_verifier(chain.web3, half, spec=_spec(sketch_k=4, tau=0.5), max_trainers=4).fits
    assert not fit_task_to_verifier(chain.web3, half, spec=_spec(sketch_k=4, tau=0.51), max_trainers=4).fits


def test_without_a_spec_only_the_slots_are_checked(zk_base):
    chain, _, deployment, _, _ = zk_base
    fit = fit_task_to_verifier(chain.web3, deployment.address, spec=None, max_trainers=9)
    assert fit.problems == ("--max-trainers 9 exceeds the verifier's 4 slots",)
    assert fit.unchecked == ("the spec's scoring.tau and scoring.sketch_k are not checked",)


def test_a_verifier_that_is_not_an_adapter_is_reported_unchecked(zk_base):
    chain, market_address, _, _, _ = zk_base
    fit = fit_task_to_verifier(chain.web3, market_address, spec=_spec(), max_trainers=64)
    assert fit.parameters is None and fit.fits
    assert "is not a RoundVerifier adapter" in fit.unchecked[0]


def test_task_problems_without_a_chain():
    params = RoundParameters(n=16, k=DEFAULT_SKETCH_K, tau_num=4, tau_den=1)
    assert task_problems(params, _spec(), 16) == []
    assert task_problems(params, _spec(tau=4.5), 16) == ["the spec's scoring.tau is 9/2, the verifier proves tau = 4/1"]


def test_the_spec_defaults_are_the_protocol_defaults():
    # market core cannot import zk.protocol.params: this is where the two copies are held equal
    assert ScoringSection().tau == DEFAULT_TAU
    assert ScoringSection().sketch_k == DEFAULT_SKETCH_K

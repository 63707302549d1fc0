"""The protocol parameters a task's verifier fixes, read on chain, and whether a task fits them.

One source per protocol parameter at post time: a zk-verified task proves every round with the
N (trainer slots), k (sketch length) and τ its ``RoundVerifier`` adapter was deployed with, so
those are the task's values. ``market task post`` reads them here (through
:func:`zk.onchain.read_round_verifier`) and refuses a spec whose ``scoring.tau`` or
``scoring.sketch_k`` differ, or a ``--max-trainers`` above the slots
(:func:`zk.protocol.params.check_task_fits`), naming each difference.

τ is compared as the fraction the aggregator proves with, ``tau_fraction(spec.scoring.tau)``,
against the adapter's ``tauNumerator / tauDenominator`` exactly: the circuit's public inputs
carry that pair, so a verifier deployed with 8/2 does not accept proofs made with 4/1.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from market.exceptions import MarketValueError
from market.task_spec import TaskSpec
from zk.exceptions import ZkError
from zk.onchain import NotARoundVerifierError, read_round_verifier
from zk.protocol.params import RoundParameters, check_task_fits
from zk.protocol.rule import tau_fraction

__all__ = [
    "TaskDoesNotFitVerifierError",
    "VerifierFit",
    "fit_task_to_verifier",
    "task_problems",
    "verifier_parameters",
]


class TaskDoesNotFitVerifierError(ZkError, MarketValueError):
    """A task's spec or ``maxTrainers`` differ from what its round verifier proves."""


@dataclass(frozen=True)
class VerifierFit:
    """How a task fits the verifier it names.

    ``parameters``: the verifier's N, k, τ (None when it is not a ``RoundVerifier`` adapter, whose
    parameters cannot be read); ``problems``: each misfit, one sentence each; ``unchecked``: what
    could not be compared, one sentence each (the caller warns about these).
    """

    address: str
    parameters: RoundParameters | None
    problems: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()

    @property
    def fits(self) -> bool:
        """True when nothing that was compared differs."""
        return not self.problems

    def raise_if_misfit(self) -> None:
        """Raise :class:`TaskDoesNotFitVerifierError` naming every problem, if there is one."""
        if self.problems:
            p = self.parameters
            shape = f" (Round {p.n}x{p.k}, tau {p.tau_num}/{p.tau_den})" if p is not None else ""
            raise TaskDoesNotFitVerifierError(
                f"the task does not fit its verifier {self.address}{shape}: " + "; ".join(self.problems))


def verifier_parameters(web3: Web3, address: str) -> RoundParameters:
    """N, k and τ of the ``RoundVerifier`` adapter at ``address``, read on chain;
    :class:`zk.onchain.NotARoundVerifierError` when it is not one."""
    verifier = read_round_verifier(web3, address)
    return RoundParameters(n=verifier.shape.n, k=verifier.shape.k, tau_num=verifier.tau_num,
                           tau_den=verifier.tau_den)


def task_problems(parameters: RoundParameters, spec: TaskSpec | None, max_trainers: int) -> list[str]:
    """The misfits of a task (its spec, when known, and its ``maxTrainers``) against a verifier's
    ``parameters``; empty when it fits. Without a spec only ``max_trainers`` is compared."""
    if spec is None:
        sketch_k, tau = parameters.k, (parameters.tau_num, parameters.tau_den)
    else:
        sketch_k, tau = spec.scoring.sketch_k, tau_fraction(spec.scoring.tau)
    return check_task_fits(parameters, sketch_k=sketch_k, tau=tau, max_trainers=max_trainers)


def fit_task_to_verifier(web3: Web3, address: str, *, spec: TaskSpec | None, max_trainers: int) -> VerifierFit:
    """Read the verifier at ``address`` and compare the task with it (see the module).

    ``spec`` None means the spec could not be read (the caller says why): its τ and k are then
    left unchecked. A verifier that is not a ``RoundVerifier`` adapter cannot be read at all: the
    fit says so in ``unchecked`` and has no problems."""
    if not Web3.is_address(address):  # the Marketplace binding rejects it with its own message
        return VerifierFit(address, None, unchecked=(f"the verifier {address!r} is not an address",))
    address = Web3.to_checksum_address(address)
    try:
        parameters = verifier_parameters(web3, address)
    except NotARoundVerifierError:
        return VerifierFit(address, None, unchecked=(
            f"the verifier {address} is not a RoundVerifier adapter: its slots, k and tau are not checked",))
    unchecked = () if spec is not None else ("the spec's scoring.tau and scoring.sketch_k are not checked",)
    return VerifierFit(address, parameters, tuple(task_problems(parameters, spec, max_trainers)), unchecked)

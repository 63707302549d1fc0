"""The protocol's parameters: one source for every default that the contract, the circuit, the
aggregator, the trainers, the CLI and the demo share.

A task's own values come from its verifier, read on chain (:mod:`zk.onchain` reads a
``RoundVerifier``'s N, K and τ); these are the defaults a new deployment and a new task spec
start from. ``market task post`` refuses a spec whose τ or k differ from its verifier's, or a
``maxTrainers`` above the verifier's slots (:func:`check_task_fits`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_SKETCH_K",
    "DEFAULT_SLOTS",
    "DEFAULT_TAU",
    "MAX_SLOTS",
    "RoundParameters",
    "check_task_fits",
]

#: Trainer slots of the default round circuit and verifier (``Round(16, 32)``).
DEFAULT_SLOTS = 16
#: Sketch length k of the default task spec and circuit.
DEFAULT_SKETCH_K = 32
#: τ of the provable rule in the default task spec and verifier: flag ‖s_i − m‖² > τ · D.
DEFAULT_TAU = 4.0
#: The most slots a circuit (and the RoundVerifier adapter) supports: the Marketplace's MAX_TRAINERS.
MAX_SLOTS = 64


@dataclass(frozen=True)
class RoundParameters:
    """What a round verifier proves about: ``n`` slots, sketches of ``k`` values, τ = num/den."""

    n: int
    k: int
    tau_num: int
    tau_den: int


def check_task_fits(verifier: RoundParameters, *, sketch_k: int, tau: tuple[int, int], max_trainers: int) -> list[str]:
    """The reasons a task (its spec's k and τ as a fraction, its ``maxTrainers``) does not fit
    ``verifier``; empty when it fits."""
    problems = []
    if sketch_k != verifier.k:
        problems.append(f"the spec's scoring.sketch_k is {sketch_k}, the verifier proves k = {verifier.k}")
    if tuple(tau) != (verifier.tau_num, verifier.tau_den):
        problems.append(f"the spec's scoring.tau is {tau[0]}/{tau[1]}, the verifier proves tau = "
                        f"{verifier.tau_num}/{verifier.tau_den}")
    if max_trainers > verifier.n:
        problems.append(f"--max-trainers {max_trainers} exceeds the verifier's {verifier.n} slots")
    return problems

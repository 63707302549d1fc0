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
    "ROUND_VERIFIER",
    "RoundParameters",
    "check_task_fits",
    "round_verifier_name",
    "round_verifier_slots",
]

#: Trainer slots of the default round circuit and verifier (``Round(16, 32)``).
DEFAULT_SLOTS = 16
#: Sketch length k of the default task spec and circuit.
DEFAULT_SKETCH_K = 32
#: τ of the provable rule in the default task spec and verifier: flag ‖s_i − m‖² > τ · D.
DEFAULT_TAU = 4.0
#: The most slots a circuit (and the RoundVerifier adapter) supports: the Marketplace's MAX_TRAINERS.
MAX_SLOTS = 64


#: The deployment record of the median rule's default verifier (the largest ``market deploy`` made).
ROUND_VERIFIER = "RoundVerifier"


def round_verifier_name(n: int, k: int) -> str:
    """The deployment record of the median rule's verifier with ``n`` slots and sketch length ``k``."""
    return f"{ROUND_VERIFIER}{n}x{k}"


def round_verifier_slots(recorded: dict[str, str], *, k: int) -> dict[int, str]:
    """``{slots: address}`` of the median rule's verifiers for sketch length ``k`` among the
    ``recorded`` names (a chain's deployment entry)."""
    out = {}
    for name, address in recorded.items():
        size = name.removeprefix(ROUND_VERIFIER).split("x")
        if name.startswith(ROUND_VERIFIER) and len(size) == 2 and all(p.isdigit() for p in size) and int(size[1]) == k:
            out[int(size[0])] = address
    return out


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

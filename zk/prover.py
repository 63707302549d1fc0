"""Prove a round: witness from the aggregator's own values, Groth16 proof with groth16py.

The witness is built from what the aggregator already computed: the rule's
:class:`~zk.protocol.rule.ProvableRoundResult` (median, median distance, flags,
g, remainders, scores) and the sketches and salts of the accepted submissions (from intake).
Nothing recomputes the rule here; the prover only checks that the pieces fit together (each
sketch opens its stored commitment, the published values are the rule's) and lets the circuit
check the rest. Failures are typed: :class:`~zk.exceptions.TooManySlotsError`,
:class:`~zk.exceptions.WitnessInputError`, :class:`~zk.exceptions.UnsatisfiableWitnessError`.

:func:`make_round_prover` returns the aggregator's ``Prover``::

    prover(task_id, round, outcome, stored_commitments, seed, intakes) -> proof bytes

``outcome`` an ``aggregator.round_pipeline.RoundOutcome``, ``intakes`` the round's
``IntakeResult | None`` per slot (their ``.sketch`` and ``.salt``).

:func:`make_reference_prover` is the same for the root-of-trust circuit
``ReferenceRound(N, K, H_NUM, H_DEN)`` (:mod:`zk.reference_circuit`): the witness is the
reference rule's :class:`~zk.protocol.reference_rule.ReferenceRoundResult` (``outcome.reference_result``),
the slots' sketches, the round's reference sketch and salt (``outcome.reference_sketch``,
``outcome.reference_salt``) and the chain's submission order (``outcome.order``: rank per slot).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from market.tracing import traced
from zk.exceptions import UnsatisfiableWitnessError, WitnessInputError
from zk.keys import RoundKeys, groth16py_module, keys_for
from zk.protocol.commitment import aggregate_commitment, sketch_commitment
from zk.protocol.reference_rule import SKETCH_BOUND, ReferenceRoundResult
from zk.protocol.rule import ProvableRoundResult
from zk.reference_circuit import ReferenceShape, reference_witness_input
from zk.round_circuit import RoundShape, witness_input

__all__ = [
    "ReferenceProver",
    "RoundProof",
    "RoundProver",
    "make_reference_prover",
    "make_round_prover",
    "prove_reference_round",
    "prove_round",
    "prove_witness",
]


@dataclass(frozen=True)
class RoundProof:
    """A round proof: ``proof`` (256 bytes: a, b with Fp2 words as (c1, c0), c — what
    ``RoundVerifier.verifyRound`` takes) and the public inputs it proves."""

    proof: bytes
    public_inputs: list[int]
    seconds: float
    key_label: str


def prove_witness(keys: RoundKeys, inputs: dict[str, Any], public: Sequence[int], *, check: bool = True) -> RoundProof:
    """Prove a prepared circuit input (:func:`~zk.round_circuit.witness_input`). With ``check``
    the proof is verified against ``public`` before it is returned."""
    g = groth16py_module()
    proving_key = keys.proving_key  # loaded from the cache on first use, not part of the proving time
    started = time.perf_counter()
    try:
        proof = bytes(g.prove(proving_key, inputs))
    except g.WitnessError as exc:
        raise UnsatisfiableWitnessError(
            f"the round's values do not satisfy the circuit {keys.shape.name}: {exc}") from None
    seconds = time.perf_counter() - started
    if check and not g.Verifier(keys.verifying_key).verify(proof, list(public)):
        raise UnsatisfiableWitnessError("the proof does not verify against its own public inputs")
    return RoundProof(proof=proof, public_inputs=list(public), seconds=seconds, key_label=keys.label)


def prove_round(
    keys: RoundKeys,
    result: ProvableRoundResult,
    *,
    commitments: Sequence[int],
    rejections: Sequence[bool],
    sketches: Sequence[Sequence[int] | None],
    salts: Sequence[int | None],
    check: bool = True,
) -> RoundProof:
    """Prove that ``result`` (the aggregator's provable-rule values) follows from the
    sketches opening ``commitments`` (the stored ones, one per trainer slot, 0 for none)."""
    inputs, public = witness_input(keys.shape, result, commitments=commitments, rejections=rejections,
                                   sketches=sketches, salts=salts)
    return prove_witness(keys, inputs, public, check=check)


class RoundProver:
    """The aggregator's ``Prover`` for one circuit and key. The latest proof is kept in
    ``last`` (its public inputs and proving time)."""

    def __init__(self, keys: RoundKeys, *, log: Callable[[str], None] | None = None) -> None:
        self.keys = keys
        self.log = log or (lambda message: None)
        self.last: RoundProof | None = None

    @property
    def shape(self) -> RoundShape:
        return self.keys.shape

    def _proving(self, task_id: int, round_: int) -> str:
        """The line logged before a proof (a native call of seconds, with nothing to show meanwhile)."""
        last = f"; the last took {self.last.seconds:.1f} s" if self.last is not None else ""
        return f"task {task_id} round {round_}: proving with the {self.keys.describe()}{last} …"

    def key_document(self) -> dict:
        """The verification-key document of the key this prover proves with (the aggregator puts
        it in each round's transcript; ``market audit`` checks it against the deployed verifier)."""
        from zk.solidity import vk_document

        return vk_document(self.keys)

    @traced("prover.prove_round")
    def __call__(self, task_id: int, round_: int, outcome: Any, stored_commitments: Sequence[int], seed: int,
                 intakes: Sequence[Any | None]) -> bytes:
        """Prove one round: ``outcome`` a RoundOutcome, ``intakes`` the IntakeResult (or None)
        per slot, ``stored_commitments`` the chain's; ``seed`` is not part of the statement."""
        result = outcome.provable
        n = len(stored_commitments)
        if len(intakes) != n:
            raise WitnessInputError(f"{n} stored commitments but {len(intakes)} intake results")
        published = (list(outcome.flags), [int(s) for s in outcome.scores], int(outcome.aggregate_commitment))
        rule = (list(result.flags), [int(s) for s in result.scores], aggregate_commitment(list(result.aggregate)))
        if published != rule:
            raise WitnessInputError("the round's published flags, scores or aggregate commitment are not the "
                                    "provable rule's (a task with a verifier must use the `provable` detector)")
        sketches = [it.sketch if it is not None else None for it in intakes]
        salts = [it.salt if it is not None else None for it in intakes]
        self.log(self._proving(task_id, round_))
        proof = prove_round(self.keys, result, commitments=stored_commitments, rejections=list(outcome.rejections),
                            sketches=sketches, salts=salts)
        self.last = proof
        self.log(f"task {task_id} round {round_}: proved in {proof.seconds:.2f} s with the {self.keys.describe()}")
        return proof.proof


def make_round_prover(*, n: int = 16, k: int = 32, keys: RoundKeys | None = None, cache: Path | str | None = None,
                      log: Callable[[str], None] | None = None) -> RoundProver:
    """The aggregator's prover for ``Round(n, k)`` with ``keys`` (default: the cached
    development key, made if missing; it must be the key the task's verifier was deployed
    for). Call it as ``prover(task_id, round, outcome, stored_commitments, seed, intakes)``."""
    shape = RoundShape(n, k)
    keys = keys_for(shape, keys, cache=cache, log=log)
    return RoundProver(keys, log=log)


def prove_reference_round(
    keys: RoundKeys,
    result: ReferenceRoundResult,
    *,
    commitments: Sequence[int],
    rejections: Sequence[bool],
    sketches: Sequence[Sequence[int] | None],
    salts: Sequence[int | None],
    reference: Sequence[int],
    reference_salt: int,
    order: Sequence[int] | None = None,
    check: bool = True,
) -> RoundProof:
    """Prove that ``result`` (the reference rule's values) follows from the sketches opening
    ``commitments``, the reference sketch ``reference`` with its salt and the submission order
    ``order`` (rank per slot; None: the order ``result`` was computed with)."""
    inputs, public = reference_witness_input(keys.shape, result, commitments=commitments, rejections=rejections,
                                             sketches=sketches, salts=salts, reference=reference,
                                             reference_salt=reference_salt, order=order)
    return prove_witness(keys, inputs, public, check=check)


def _reference_result(outcome: Any) -> ReferenceRoundResult:
    """The outcome's root-of-trust result, once its published values are checked to be the rule's."""
    result = getattr(outcome, "reference_result", None)
    if not isinstance(result, ReferenceRoundResult):
        raise WitnessInputError("the round's outcome has no root-of-trust result (a task with a "
                                "ReferenceRoundVerifier must be scored by the reference rule)")
    published = ([bool(f) for f in outcome.flags], [int(s) for s in outcome.scores], int(outcome.aggregate_commitment))
    rule = (list(result.flags), [int(s) for s in result.scores], aggregate_commitment(list(result.aggregate)))
    if published != rule:
        raise WitnessInputError("the round's published flags, scores or aggregate commitment are not the "
                                "reference rule's")
    return result


class ReferenceProver(RoundProver):
    """The aggregator's ``Prover`` for one root-of-trust circuit and key (``keys.shape`` a
    :class:`~zk.reference_circuit.ReferenceShape`). The latest proof is kept in ``last``."""

    @property
    def shape(self) -> ReferenceShape:  # type: ignore[override]
        return self.keys.shape  # type: ignore[return-value]

    def reference_commitment(self, outcome: Any) -> int:
        """The commitment to the round's reference sketch (``outcome.reference_sketch`` and
        ``outcome.reference_salt``): what the Marketplace stores and the circuit opens."""
        values = [int(v) for v in outcome.reference_sketch]
        if len(values) != self.shape.k or any(abs(v) > SKETCH_BOUND for v in values):
            raise WitnessInputError(f"the reference sketch must have K = {self.shape.k} values within ±(2^40 - 1)")
        return sketch_commitment(values, int(outcome.reference_salt))

    @traced("prover.prove_reference_round")
    def __call__(self, task_id: int, round_: int, outcome: Any, stored_commitments: Sequence[int], seed: int,
                 intakes: Sequence[Any | None]) -> bytes:
        """Prove one round: ``outcome`` carries ``reference_result``, ``reference_sketch``,
        ``reference_salt`` and ``order`` (the chain's rank per slot; None: slot order) besides the
        published values; ``seed`` is not part of the statement."""
        result = _reference_result(outcome)
        n = len(stored_commitments)
        if len(intakes) != n:
            raise WitnessInputError(f"{n} stored commitments but {len(intakes)} intake results")
        ranks = getattr(outcome, "order", None)
        self.log(self._proving(task_id, round_))
        proof = prove_reference_round(
            self.keys, result, commitments=stored_commitments, rejections=[bool(r) for r in outcome.rejections],
            sketches=[it.sketch if it is not None else None for it in intakes],
            salts=[it.salt if it is not None else None for it in intakes],
            reference=list(outcome.reference_sketch), reference_salt=int(outcome.reference_salt),
            order=None if ranks is None else [int(v) for v in ranks])
        self.last = proof
        self.log(f"task {task_id} round {round_}: proved in {proof.seconds:.2f} s with the {self.keys.describe()}")
        return proof.proof


def make_reference_prover(*, shape: ReferenceShape, keys: RoundKeys | None = None, cache: Path | str | None = None,
                          log: Callable[[str], None] | None = None) -> ReferenceProver:
    """The aggregator's prover for ``ReferenceRound(N, K, H_NUM, H_DEN)`` with ``keys`` (default:
    the cached development key of ``shape``, made if missing; it must be the key the task's
    ReferenceRoundVerifier was deployed for)."""
    keys = keys_for(shape, keys, cache=cache, log=log)
    return ReferenceProver(keys, log=log)

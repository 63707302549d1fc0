"""The root-of-trust round circuit's shape, its public-input layout and the witness input it takes.

``zk/circuits/reference_round.circom`` checks :func:`zk.protocol.reference_rule.reference_round`
over N trainer slots with sketches of K values and the committed reference sketch r; the
utility's curvature h is fixed when the circuit is generated (``ReferenceShape.h_num/h_den``).
``docs/reference_circuit.md`` has the layout, every range and the constraint counts.

public inputs (in the verifier's order), :func:`reference_public_inputs`
    ``commitments[0 … N-1]`` (0 = none), ``referenceCommitment``, ``order`` = Σ rank_i << 6i
    (:func:`pack_order`: slot i's rank among the round's submissions), ``marks`` = flags |
    rejections << N | h_num << 2N | h_den << 2N+32, ``params`` = γ_num | γ_den << 32 | β_num << 64
    | β_den << 96 | δ_num << 128 | δ_den << 160, ``packed[q] = score[2q] + score[2q+1] · 2^126``
    for q < ⌈N/2⌉ and the aggregate commitment: ``N + ⌈N/2⌉ + 5`` field elements (29 for N = 16).

private inputs, :func:`reference_witness_input`
    each active slot's sketch and salt (zeros elsewhere), r and its salt, and the rule's own
    values as hints: g and its remainders, and per slot of G the quotient and remainder of
    ``N_i = D(c, h) · quotient + remainder``. The circuit checks them; nothing here recomputes
    the rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from zk.exceptions import CircuitShapeError, TooManySlotsError, WitnessInputError
from zk.protocol.commitment import aggregate_commitment, sketch_commitment
from zk.protocol.field import FIELD_MODULUS, to_field
from zk.protocol.reference_rule import (
    MAX_RANK,
    SKETCH_BOUND,
    ReferenceRoundResult,
    ReferenceRuleParams,
    score_constants,
)
from zk.round_circuit import CIRCUITS_DIR, SCORE_BITS, RoundShape, pack_scores

__all__ = [
    "FIELD_BITS",
    "MAX_K",
    "MAX_REFERENCE_SLOTS",
    "ORDER_BITS",
    "PART_BITS",
    "ReferenceShape",
    "pack_order",
    "pack_params",
    "pack_reference_marks",
    "reference_circuit_sources",
    "reference_public_inputs",
    "reference_witness_input",
    "unpack_order",
]

#: Every fraction part (h, γ, β, δ) is below 2^32.
PART_BITS = 32
#: A signed value the circuit computes must stay below 2^FIELD_BITS in magnitude.
FIELD_BITS = 251
#: The largest K: the flag comparisons ``a_i² γ_den² < γ_num² n_i ρ`` need 2(80 + ⌈log2 K⌉) + 64 ≤ 252.
MAX_K = 1 << 14
#: Bits of one slot's rank in ``order`` (ranks in [0, 63]).
ORDER_BITS = 6
#: The largest N: the order's 6N bits must fit one field element (6 · 42 = 252), as the
#: Marketplace's ORDER_SLOTS.
MAX_REFERENCE_SLOTS = 42

_SOURCES = ("reference_round.circom", "round.circom", "commitment.circom")


@dataclass(frozen=True)
class ReferenceShape:
    """One root-of-trust circuit: ``n`` slots, sketches of ``k`` values, h = ``h_num / h_den``."""

    n: int
    k: int
    h_num: int = 1
    h_den: int = 2

    def __post_init__(self) -> None:
        for name, value, top in (("n", self.n, MAX_REFERENCE_SLOTS), ("k", self.k, MAX_K)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise CircuitShapeError(f"{name} must be an integer in [1, {top}], got {value!r}")
        try:
            ReferenceRuleParams(h_num=self.h_num, h_den=self.h_den)
        except ValueError as exc:
            raise CircuitShapeError(f"h: {exc}") from None
        nb, db = self.numerator_bits(), self.denominator_bits()
        if nb > FIELD_BITS or db + SCORE_BITS + 2 > 252:
            raise CircuitShapeError(
                f"ReferenceShape({self.n}, {self.k}, h={self.h_num}/{self.h_den}): |N_i| < 2^{nb} and D < 2^{db} "
                f"need |N_i| < 2^{FIELD_BITS} and D · 2^{SCORE_BITS} < 2^250 (one field element): fewer slots "
                "or smaller h parts")

    @property
    def name(self) -> str:
        """``"ref16x32h1-2"``."""
        return f"ref{self.n}x{self.k}h{self.h_num}-{self.h_den}"

    @property
    def packed_scores(self) -> int:
        """Public inputs holding the scores: ⌈n/2⌉."""
        return (self.n + 1) // 2

    @property
    def public_count(self) -> int:
        """n commitments, the reference commitment, order, marks, params, ⌈n/2⌉ packed scores, aggregate."""
        return self.n + 4 + self.packed_scores + 1

    @cached_property
    def constants(self) -> tuple[tuple[int, ...], ...]:
        """Per c in 0 … n: the six coefficients of :func:`score_constants` and D(c, h)."""
        rows = [score_constants(c, self.h_num, self.h_den) for c in range(self.n + 1)]
        return tuple((*row.coefficients, row.denominator) for row in rows)

    def denominator_bits(self) -> int:
        """The least DB with D(c, h) < 2^DB for every c (the circuit's own loop finds the same)."""
        return max(1, *(row[6].bit_length() for row in self.constants))

    def numerator_bits(self) -> int:
        """Bits of a bound on |N_i| (and on each of its terms) over every c, from the ranges
        ``|a_i|, G_ii < K B²``, ``|A_G|, |R_i|, D_G < n K B²``, ``T_G < n² K B²``."""
        kb2 = self.k * SKETCH_BOUND**2
        bounds = (kb2, self.n * kb2, kb2, self.n * kb2, self.n * kb2, self.n * self.n * kb2)
        worst = max(sum(abs(q) * x for q, x in zip(row[:6], bounds)) for row in self.constants)
        return worst.bit_length()

    def main_source(self) -> str:
        """The circom file with the table of score constants and the main component."""
        rows = ",\n        ".join("[" + ", ".join(str(v) for v in row) + "]" for row in self.constants)
        return (
            "pragma circom 2.1.0;\n"
            "// Generated by zk/reference_circuit.py: the score constants of\n"
            f"// zk.protocol.reference_rule.score_constants(c, {self.h_num}, {self.h_den}) for c = 0 .. {self.n}\n"
            "// (six coefficients, then D(c, h)) and the root-of-trust circuit's main component.\n"
            'include "reference_round.circom";\n\n'
            "function referenceScoreConstant(c, t) {\n"
            f"    var table[{self.n + 1}][7] = [\n        {rows}\n    ];\n"
            "    return table[c][t];\n"
            "}\n\n"
            "component main {public [commitments, referenceCommitment, order, marks, params, packedScores, "
            f"aggregateCommitment]}} = ReferenceRound({self.n}, {self.k}, {self.h_num}, {self.h_den});\n"
        )

    def circuit_hash(self) -> str:
        """sha256 over the circuit sources and the main component (which holds the shape and h)."""
        h = hashlib.sha256(b"poc-market reference round circuit v1\n")
        for name, text in sorted(reference_circuit_sources().items()):
            h.update(f"{name}\n{len(text)}\n".encode())
            h.update(text.encode())
        h.update(self.main_source().encode())
        return h.hexdigest()

    def round_shape(self) -> RoundShape:
        """The old circuit's shape of the same size (its score packing is the same)."""
        return RoundShape(self.n, self.k)


def reference_circuit_sources() -> dict[str, str]:
    """The circuit's own sources (``zk/circuits``), by file name."""
    return {name: (CIRCUITS_DIR / name).read_text() for name in _SOURCES}


def pack_reference_marks(shape: ReferenceShape, flags: int, rejections: int) -> int:
    """``marks`` = flags | rejections << N | h_num << 2N | h_den << 2N+32."""
    n = shape.n
    if not 0 <= flags < 1 << n or not 0 <= rejections < 1 << n:
        raise TooManySlotsError(f"flags {flags:#x} / rejections {rejections:#x} name slots beyond N = {n}")
    return flags | rejections << n | shape.h_num << 2 * n | shape.h_den << (2 * n + PART_BITS)


def pack_order(ranks: Sequence[int]) -> int:
    """``order`` = Σ_i ranks[i] << 6i: at most 42 slots, each rank in [0, 63] (the Marketplace's
    packing; a slot without a submission has rank 0)."""
    ranks = list(ranks)
    if len(ranks) > MAX_REFERENCE_SLOTS:
        raise TooManySlotsError(f"the order holds at most {MAX_REFERENCE_SLOTS} slots, got {len(ranks)}")
    for i, rank in enumerate(ranks):
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank <= MAX_RANK:
            raise WitnessInputError(f"slot {i}'s rank must be an integer in [0, {MAX_RANK}], got {rank!r}")
    return sum(rank << (ORDER_BITS * i) for i, rank in enumerate(ranks))


def unpack_order(word: int, n: int) -> list[int]:
    """The first ``n`` ranks of a packed ``order`` (the inverse of :func:`pack_order`)."""
    if not 0 <= n <= MAX_REFERENCE_SLOTS:
        raise TooManySlotsError(f"the order holds at most {MAX_REFERENCE_SLOTS} slots, got {n}")
    if isinstance(word, bool) or not isinstance(word, int) or not 0 <= word < 1 << (ORDER_BITS * MAX_REFERENCE_SLOTS):
        raise WitnessInputError(f"order must be an integer in [0, 2^{ORDER_BITS * MAX_REFERENCE_SLOTS}), got {word!r}")
    return [(word >> (ORDER_BITS * i)) & MAX_RANK for i in range(n)]


def pack_params(params: ReferenceRuleParams) -> int:
    """``params`` = γ_num | γ_den << 32 | β_num << 64 | β_den << 96 | δ_num << 128 | δ_den << 160."""
    parts = (params.cos_num, params.cos_den, params.norm_num, params.norm_den, params.dup_num, params.dup_den)
    return sum(v << (PART_BITS * t) for t, v in enumerate(parts))


def _field(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < FIELD_MODULUS:
        raise WitnessInputError(f"{name} must be a field element, got {value!r}")
    return value


def reference_public_inputs(
    shape: ReferenceShape,
    *,
    commitments: Sequence[int],
    reference_commitment: int,
    order: int = 0,
    flags: int,
    rejections: int,
    params: ReferenceRuleParams,
    scores: Sequence[int],
    aggregate_commitment: int,
) -> list[int]:
    """The public input vector for one round. ``order`` is the chain's packed submission order
    (:func:`pack_order`); ``flags``/``rejections`` are bit masks (bit i = slot i); ``commitments``
    and ``scores`` have one entry per trainer slot (at most N)."""
    if len(commitments) > shape.n:
        raise TooManySlotsError(f"{len(commitments)} slots but the circuit has N = {shape.n}")
    if len(scores) != len(commitments):
        raise WitnessInputError(f"{len(commitments)} commitments but {len(scores)} scores")
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise WitnessInputError(f"order must be a non-negative integer, got {order!r}")
    if order >> (ORDER_BITS * shape.n):
        raise TooManySlotsError(f"order {order:#x} names ranks beyond the circuit's N = {shape.n} slots")
    padded = [_field(int(c), f"commitment {i}") for i, c in enumerate(commitments)]
    return [
        *padded, *[0] * (shape.n - len(padded)),
        _field(int(reference_commitment), "the reference commitment"),
        order,
        pack_reference_marks(shape, flags, rejections),
        pack_params(params),
        *pack_scores(shape.round_shape(), scores),
        _field(int(aggregate_commitment), "the aggregate commitment"),
    ]


def _mask(bits: Sequence[bool]) -> int:
    return sum(1 << i for i, b in enumerate(bits) if b)


def _opening(what: str, k: int, values: Sequence[int] | None, salt: int | None) -> tuple[list[int], int]:
    """A sketch (as field elements) and its salt, with the values in range; returns them and
    the commitment they open."""
    if values is None or salt is None:
        raise WitnessInputError(f"{what}: the sketch or salt is missing")
    row = [int(v) for v in values]
    if len(row) != k:
        raise WitnessInputError(f"{what}: the sketch has {len(row)} values, the circuit K = {k}")
    if any(abs(v) > SKETCH_BOUND for v in row):
        raise WitnessInputError(f"{what}: a sketch value is outside ±(2^40 - 1)")
    return row, sketch_commitment(row, int(salt))


def _check_result(shape: ReferenceShape, result: ReferenceRoundResult, n: int, reference: list[int]) -> None:
    if n > shape.n:
        raise TooManySlotsError(f"the round has {n} trainer slots but the circuit holds N = {shape.n}")
    if result.n != n or result.k != shape.k:
        raise WitnessInputError(f"the result has {result.n} slots and K = {result.k}; expected {n} and {shape.k}")
    if (result.params.h_num, result.params.h_den) != (shape.h_num, shape.h_den):
        raise WitnessInputError(f"the result's h = {result.params.h} but the circuit fixes h = {shape.h_num}/{shape.h_den}")
    if result.reference_norm != sum(v * v for v in reference):
        raise WitnessInputError("the result was not computed for this reference sketch")


def _slot_rows(shape: ReferenceShape, result: ReferenceRoundResult, commitments: Sequence[int],
               rejections: Sequence[bool], sketches: Sequence[Sequence[int] | None],
               salts: Sequence[int | None]) -> tuple[list[list[int]], list[int]]:
    """The ``sketch`` rows and ``salt`` entries (zeros outside A), padded to N."""
    rows, salt_row = [], []
    for i, commitment in enumerate(commitments):
        active = int(commitment) != 0 and not rejections[i]
        if active != result.active[i]:
            raise WitnessInputError(f"slot {i}: A must be the present (committed), non-rejected slots")
        if not active:
            rows.append([0] * shape.k)
            salt_row.append(0)
            continue
        row, opened = _opening(f"slot {i}", shape.k, sketches[i], salts[i])
        if opened != int(commitment):
            raise WitnessInputError(f"slot {i}: the sketch and salt do not open the stored commitment")
        rows.append([to_field(v) for v in row])
        salt_row.append(int(salts[i]))  # type: ignore[arg-type]
    pad = shape.n - len(commitments)
    return rows + [[0] * shape.k] * pad, salt_row + [0] * pad


def _ranks(result: ReferenceRoundResult, order: Sequence[int] | None) -> list[int]:
    """The ranks to publish: ``order`` (the chain's), which must sort the slots of A as the
    result's own order did (the duplicate flags depend on it), or the result's order when None."""
    if order is None:
        return list(result.order)
    ranks = list(order)
    if len(ranks) != result.n:
        raise WitnessInputError(f"{result.n} slots but {len(ranks)} ranks in the order")
    live = [i for i in range(result.n) if result.active[i]]
    if sorted(live, key=lambda i: ranks[i]) != sorted(live, key=lambda i: result.order[i]):
        raise WitnessInputError("the result was computed for another submission order")
    return ranks


def _divisions(shape: ReferenceShape, result: ReferenceRoundResult) -> tuple[list[int], list[int]]:
    """Per slot of G, ``N_i = D · quotient + remainder`` (0 ≤ remainder < D); zeros elsewhere."""
    quotients, remainders = [], []
    for i, numerator in enumerate(result.numerators):
        q, rem = divmod(numerator, result.denominator) if result.accepted[i] else (0, 0)
        if abs(q) >= 1 << SCORE_BITS:
            raise WitnessInputError(f"slot {i}: |floor(N_i / D)| = {abs(q)} is not below 2^{SCORE_BITS}")
        quotients.append(to_field(q))
        remainders.append(rem)
    pad = [0] * (shape.n - len(quotients))
    return quotients + pad, remainders + pad


def reference_witness_input(
    shape: ReferenceShape,
    result: ReferenceRoundResult,
    *,
    commitments: Sequence[int],
    rejections: Sequence[bool],
    sketches: Sequence[Sequence[int] | None],
    salts: Sequence[int | None],
    reference: Sequence[int],
    reference_salt: int,
    order: Sequence[int] | None = None,
) -> tuple[dict[str, Any], list[int]]:
    """The circuit's input (public and private) and the public input vector for one round.

    ``result`` is :func:`~zk.protocol.reference_rule.reference_round`'s outcome for these slots
    and this reference; ``commitments`` the stored ones (0 for none); ``rejections`` the
    published rejection marks; ``sketches``/``salts`` per slot (read for the slots in A);
    ``reference``/``reference_salt`` open the reference commitment; ``order`` the chain's rank
    per slot (None: the ranks the result was computed with, ``result.order``). Raises
    :class:`TooManySlotsError` past N and :class:`WitnessInputError` when the pieces do not fit
    together. Whether the values follow the rule is the circuit's to check.
    """
    n = len(commitments)
    if not len(rejections) == len(sketches) == len(salts) == n:
        raise WitnessInputError(f"{n} commitments but {len(rejections)} rejections, {len(sketches)} sketches, "
                                f"{len(salts)} salts")
    r, r_commitment = _opening("the reference", shape.k, reference, reference_salt)
    _check_result(shape, result, n, r)
    rows, salt_row = _slot_rows(shape, result, commitments, rejections, sketches, salts)
    quotients, remainders = _divisions(shape, result)
    public = reference_public_inputs(
        shape, commitments=list(commitments), reference_commitment=r_commitment,
        order=pack_order(_ranks(result, order)), flags=result.flags_mask,
        rejections=_mask(rejections), params=result.params, scores=list(result.scores),
        aggregate_commitment=aggregate_commitment(result.aggregate))
    N, P = shape.n, shape.packed_scores
    inputs: dict[str, Any] = {
        "commitments": public[:N], "referenceCommitment": public[N], "order": public[N + 1],
        "marks": public[N + 2], "params": public[N + 3], "packedScores": public[N + 4:N + 4 + P],
        "aggregateCommitment": public[-1],
        "sketch": rows, "salt": salt_row, "reference": [to_field(v) for v in r], "referenceSalt": int(reference_salt),
        "aggregate": [to_field(int(v)) for v in result.aggregate], "remainder": [int(v) for v in result.remainders],
        "quotient": quotients, "scoreRemainder": remainders,
    }
    return inputs, public

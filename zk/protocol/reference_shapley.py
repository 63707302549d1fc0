"""The closed-form Shapley value of the root-of-trust rule's utility (protocol core, exact rationals).

``U(S) = ⟨m_S, r⟩ − (h/2)‖m_S‖²`` over the players G (m_S the mean of S's sketches): its Shapley
value is ``φ_i = q_1 a_i + q_2 A_G + q_3 G_ii + q_4 R_i + q_5 D_G + q_6 T_G`` with rational
constants of c = |G| and h (:func:`score_constants`, integers over their least common
denominator D(c, h), which the circuit uses); the derivation is in
:mod:`zk.protocol.reference_rule`'s docstring, step 4. :func:`shapley_closed_form` evaluates it
from alignments and a Gram matrix (the tests hold it equal to brute-force Shapley).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from zk.exceptions import RuleInputError
from zk.protocol.rule import MAX_TAU_PART

__all__ = ["ScoreConstants", "score_constants", "shapley_closed_form"]


@dataclass(frozen=True)
class ScoreConstants:
    """``φ_i = (Σ_t coefficients[t] · x_t) / denominator`` with ``x = (a_i, A_G, G_ii, R_i, D_G,
    T_G)``: integer coefficients and the positive common denominator D(c, h)."""

    c: int
    coefficients: tuple[int, int, int, int, int, int]
    denominator: int


@lru_cache(maxsize=256)
def _game_coefficients(c: int) -> tuple[tuple[Fraction, Fraction], tuple[Fraction, Fraction, Fraction, Fraction]]:
    """Shapley coefficients over G of the mean term (on a_i, A_G) and of the square term
    (on G_ii, R_i, D_G, T_G), for c ≥ 1 players."""
    one = Fraction(1)
    if c == 1:
        return (one, Fraction(0)), (one, Fraction(0), Fraction(0), Fraction(0))
    m = c - 1
    h1 = sum((Fraction(1, u) for u in range(1, c + 1)), Fraction(0))
    h2 = sum((Fraction(1, u * u) for u in range(1, c + 1)), Fraction(0))
    mean = ((1 + (h1 - 1) * c / m) / c, -(h1 - 1) / m / c)
    kappa = (2 * h2 - 2 * h1 + 1 - one / c) / (m * (m - 1)) if m >= 2 else Fraction(0)
    cross, diagonal = 2 * (h1 - h2) / m, (one / c - h2) / m
    square = ((h2 - cross - diagonal + 2 * kappa) / c, (cross - 2 * kappa) / c, (diagonal - kappa) / c, kappa / c)
    return mean, square


def _fractions(c: int, h: Fraction) -> tuple[Fraction, ...]:
    mean, square = _game_coefficients(c)
    return (*mean, *(-h / 2 * q for q in square))


def score_constants(c: int, h_num: int = 1, h_den: int = 1) -> ScoreConstants:
    """The public constants of the closed form for c players and h = h_num / h_den."""
    if isinstance(c, bool) or not isinstance(c, int) or c < 0:
        raise RuleInputError(f"the player count must be a non-negative integer, got {c!r}")
    for name, part in (("h_num", h_num), ("h_den", h_den)):
        if isinstance(part, bool) or not isinstance(part, int) or not 1 <= part < MAX_TAU_PART:
            raise RuleInputError(f"{name} must be an integer in [1, 2^32), got {part!r}")
    if c == 0:
        return ScoreConstants(0, (0, 0, 0, 0, 0, 0), 1)
    values = _fractions(c, Fraction(h_num, h_den))
    d = math.lcm(*(v.denominator for v in values))
    return ScoreConstants(c, tuple(int(v * d) for v in values), d)  # type: ignore[arg-type]


def _basis(alignments: Sequence[int], gram: Sequence[Sequence[int]], i: int) -> tuple[int, ...]:
    """``(a_i, A_G, G_ii, R_i, D_G, T_G)`` from the players' alignments and Gram matrix."""
    c = len(alignments)
    return (alignments[i], sum(alignments), gram[i][i], sum(gram[i][j] for j in range(c)),
            sum(gram[j][j] for j in range(c)), sum(sum(row[:c]) for row in gram[:c]))


def shapley_closed_form(alignments: Sequence[int], gram: Sequence[Sequence[int]], h: Fraction | int = 1) -> list[Fraction]:
    """The exact Shapley values of ``U(S) = ⟨m_S, r⟩ − (h/2)‖m_S‖²`` over c players, from
    ``alignments[i] = ⟨s_i, r⟩`` and the Gram matrix ``gram[i][j] = ⟨s_i, s_j⟩`` (c × c)."""
    c = len(alignments)
    if len(gram) != c or any(len(row) != c for row in gram):
        raise RuleInputError(f"{c} alignments need a {c} × {c} Gram matrix")
    h = Fraction(h)
    if h <= 0:
        raise RuleInputError(f"h must be positive, got {h}")
    if c == 0:
        return []
    coefficients = _fractions(c, h)
    return [sum((q * x for q, x in zip(coefficients, _basis(alignments, gram, i))), Fraction(0)) for i in range(c)]

"""The paid rule (protocol core): flags and scores from the committed sketches, in exact integer arithmetic.

DESIGN.md, a round, steps 6–7. A Groth16 circuit checks this very computation, so it is
defined over Python integers (never floats, never wrapping int64) and every step is one a
circuit can verify with comparisons and counting. It is close to the L2 "evilness" score with a
cut of "Kick Bad Guys Out!" (arXiv 2310.04055); the score is a cosine-gradient style measure
as in CGSV (Xu et al., NeurIPS 2021).

Inputs: n slots (one per joined trainer, in the task's order); ``sketches[i]`` is slot i's
sketch, a list of k signed integers, or ``None`` when the trainer did not submit;
``rejected[i]`` marks a submission that intake refused; τ is the fraction
``tau_num / tau_den`` (:func:`tau_fraction` turns the task spec's float into one). With
``lomed(X) = sorted(X)[(|X| - 1) // 2]`` (the LOWER median):

1. ``A = {i : sketches[i] is not None and not rejected[i]}``, ``a = |A|``, ``h = (a - 1) // 2``.
   Sketches of slots outside A are ignored (not even read).
2. Coordinate-wise median: ``m_j = lomed({s_ij : i ∈ A})`` for j < k; ``m = 0`` when A is
   empty. A circuit checks it by counting: m_j is one of the values, and
   ``#{i ∈ A : s_ij < m_j} ≤ h`` and ``#{i ∈ A : s_ij ≤ m_j} ≥ h + 1``.
3. ``dist_i = Σ_j (s_ij - m_j)²`` for i ∈ A; ``dist_i = 0`` outside A.
4. ``D = lomed({dist_i : i ∈ A})`` (checked by counting in the same way); ``D = 0`` when A is
   empty.
5. ``flag_i = 1`` iff ``i ∈ A`` and ``D > 0`` and ``dist_i · tau_den > tau_num · D``.
   **When D = 0 nobody is flagged.** D = 0 means at least h + 1 sketches of A coincide
   exactly with the median: there is no spread to measure an outlier against. Flagging every
   nonzero distance then (or comparing with ``max(D, 1)``, nearly the same at sketch scale
   2^24) would strike every trainer who differs from a duplicated majority: honest trainers
   outnumbered by free-riders who all send a zero update, or the larger of two honest trainers
   whose sketches happen to be ordered coordinate-wise (the lower median of two is their
   minimum, so one distance is 0). Not flagging gives an attacker nothing: D = 0 needs h + 1
   sketches exactly equal to the median, which a minority cannot supply alone, and an honest
   sketch (resolution 2^-24, seed drawn after submission) cannot be matched exactly. A
   circuit computes ``flag_i = (1 - IsZero(D)) · GreaterThan(dist_i · tau_den, tau_num · D)``
   (and ``dist_i = 0`` outside A, so those slots are never flagged).
6. ``G = {i ∈ A : flag_i = 0}``, ``c = |G|``. Aggregate sketch, floor division toward −∞:
   ``Σ_{i∈G} s_ij = c · g_j + r_j`` with ``0 ≤ r_j < c``; ``g = r = 0`` when G is empty.
7. ``score_i = max(0, ⟨s_i, g⟩)`` for i ∈ G, else 0.

The score is the exact Shapley value of the linear game ``U(S) = ⟨Σ_{i∈S} s_i, g⟩`` over the
players G (an additive game: each player's marginal contribution is ⟨s_i, g⟩ in every
coalition), clamped at 0 because payouts cannot be negative.

Ranges, for sketches of :class:`zk.protocol.sketch.SketchParams` (``|s_ij| ≤ B = 2^40 - 1``, k = 32,
n ≤ 16): ``|m_j|, |g_j| ≤ B``; ``dist_i < 2^87``; ``|⟨s_i, g⟩| < 2^85``; with
``tau_num, tau_den < 2^32`` (:data:`MAX_TAU_PART`) both sides of the flag comparison are
below 2^119. Everything here is exact Python integer arithmetic, whatever the values.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from zk.exceptions import RuleInputError

__all__ = [
    "MAX_TAU_PART",
    "TAU_DENOMINATOR",
    "ProvableRoundResult",
    "SketchScores",
    "coordinate_median",
    "lower_median",
    "provable_round",
    "score_accepted",
    "squared_distance",
    "tau_fraction",
]

#: Denominator a float τ is rounded to (the fraction is then reduced): 4.0 → 4/1, 2.5 → 5/2.
TAU_DENOMINATOR = 1000
#: ``tau_num`` and ``tau_den`` must be below this (so the flag comparison stays below 2^119).
MAX_TAU_PART = 1 << 32

Sketch = Sequence[int]


def tau_fraction(tau: float, *, denominator: int = TAU_DENOMINATOR) -> tuple[int, int]:
    """τ as a reduced fraction ``(tau_num, tau_den)``: ``round(tau · denominator) /
    denominator`` (the float's exact binary value, rounded half to even), then divided by
    the gcd. ``tau_fraction(4.0) == (4, 1)``, ``tau_fraction(2.5) == (5, 2)``,
    ``tau_fraction(3.141) == (3141, 1000)``, ``tau_fraction(3.14159) == (1571, 500)``."""
    if isinstance(denominator, bool) or not isinstance(denominator, int) or not 1 <= denominator < MAX_TAU_PART:
        raise RuleInputError(f"the denominator must be an integer in [1, 2^32), got {denominator!r}")
    if isinstance(tau, bool) or not math.isfinite(tau) or tau <= 0:
        raise RuleInputError(f"tau must be a finite positive number, got {tau!r}")
    num = round(Fraction(tau) * denominator)
    if num < 1:
        raise RuleInputError(f"tau = {tau} rounds to 0 at denominator {denominator}")
    g = math.gcd(num, denominator)
    num, den = num // g, denominator // g
    _check_tau(num, den)
    return num, den


def _check_tau(tau_num: int, tau_den: int) -> None:
    for name, v in (("tau_num", tau_num), ("tau_den", tau_den)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v < MAX_TAU_PART:
            raise RuleInputError(f"{name} must be an integer in [1, 2^32), got {v!r}")


def lower_median(values: Sequence[int]) -> int:
    """``sorted(values)[(len(values) - 1) // 2]``: the lower median, always one of the values."""
    if not values:
        raise RuleInputError("the median of nothing")
    return sorted(values)[(len(values) - 1) // 2]


def coordinate_median(sketches: Sequence[Sketch]) -> tuple[int, ...]:
    """The coordinate-wise lower median of equally long integer sketches."""
    if not sketches:
        raise RuleInputError("the median of no sketches")
    return tuple(lower_median(column) for column in zip(*sketches, strict=True))


def squared_distance(a: Sketch, b: Sketch) -> int:
    """``Σ_j (a_j - b_j)²``, exactly."""
    return sum((x - y) * (x - y) for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class SketchScores:
    """The aggregate of the accepted sketches and the scores it induces (steps 6–7)."""

    accepted: tuple[bool, ...]
    accepted_count: int
    aggregate: tuple[int, ...]
    remainders: tuple[int, ...]
    inner_products: tuple[int, ...]
    scores: tuple[int, ...]


@dataclass(frozen=True)
class ProvableRoundResult:
    """Everything the provable rule computes for one round, all exact integers.

    Attributes:
        tau_num, tau_den: τ as the fraction used.
        active: per slot, membership of A (submitted and not rejected).
        median: m, the coordinate-wise lower median over A (k values; zeros when A is empty).
        distances: per slot, ``‖s_i - m‖²`` for i ∈ A, 0 outside A.
        median_distance: D, the lower median of the distances over A (0 when A is empty).
        flags: per slot, flag_i.
        accepted: per slot, membership of G = A minus the flagged.
        accepted_count: |G|.
        aggregate: g, ``floor(Σ_{i∈G} s_i / |G|)`` coordinate-wise (zeros when G is empty).
        remainders: r with ``Σ_{i∈G} s_ij = |G| · g_j + r_j``, ``0 ≤ r_j < |G|``.
        inner_products: per slot, ``⟨s_i, g⟩`` for i ∈ G (may be negative), 0 outside G.
        scores: per slot, ``max(0, ⟨s_i, g⟩)`` for i ∈ G, 0 outside G.
    """

    tau_num: int
    tau_den: int
    active: tuple[bool, ...]
    median: tuple[int, ...]
    distances: tuple[int, ...]
    median_distance: int
    flags: tuple[bool, ...]
    accepted: tuple[bool, ...]
    accepted_count: int
    aggregate: tuple[int, ...]
    remainders: tuple[int, ...]
    inner_products: tuple[int, ...]
    scores: tuple[int, ...]

    @property
    def n(self) -> int:
        """The number of slots."""
        return len(self.active)

    @property
    def k(self) -> int:
        """The sketch length."""
        return len(self.median)

    @property
    def flags_mask(self) -> int:
        """The flags as the contract's bitmask: bit i set when slot i is flagged."""
        return sum(1 << i for i, flag in enumerate(self.flags) if flag)


def _as_sketch(values: Sketch, slot: int, k: int | None, bound: int | None) -> tuple[int, ...]:
    out = []
    for v in values:
        if isinstance(v, bool):
            raise RuleInputError(f"slot {slot}: sketch values must be integers, got a bool")
        try:
            x = operator.index(v)
        except TypeError:
            raise RuleInputError(f"slot {slot}: sketch values must be integers, got {type(v).__name__}") from None
        if bound is not None and abs(x) > bound:
            raise RuleInputError(f"slot {slot}: sketch value {x} is outside ±{bound}")
        out.append(x)
    if k is not None and len(out) != k:
        raise RuleInputError(f"slot {slot}: the sketch has {len(out)} values, expected k = {k}")
    if not out:
        raise RuleInputError(f"slot {slot}: an empty sketch")
    return tuple(out)


def score_accepted(sketches: Sequence[Sketch | None], accepted: Sequence[bool], *, k: int) -> SketchScores:
    """Steps 6–7 alone: g and the scores for a given accepted set G (a slot is in G when
    ``accepted[i]``; its sketch must then be given and have k values). The provable rule calls
    this with its own G; a service using another detector calls it with that detector's."""
    if len(accepted) != len(sketches):
        raise RuleInputError(f"{len(sketches)} slots but {len(accepted)} acceptance marks")
    members = [i for i, a in enumerate(accepted) if a]
    rows = {}
    for i in members:
        if sketches[i] is None:
            raise RuleInputError(f"slot {i} is accepted but has no sketch")
        rows[i] = _as_sketch(sketches[i], i, k, None)  # type: ignore[arg-type]
    c = len(members)
    if c == 0:
        aggregate, remainders = (0,) * k, (0,) * k
    else:
        pairs = [divmod(sum(rows[i][j] for i in members), c) for j in range(k)]  # floor toward -inf
        aggregate = tuple(q for q, _ in pairs)
        remainders = tuple(r for _, r in pairs)
    inner = tuple(sum(x * y for x, y in zip(rows[i], aggregate)) if i in rows else 0 for i in range(len(sketches)))
    return SketchScores(
        accepted=tuple(bool(a) for a in accepted),
        accepted_count=c,
        aggregate=aggregate,
        remainders=remainders,
        inner_products=inner,
        scores=tuple(max(0, v) for v in inner),
    )


def provable_round(
    sketches: Sequence[Sketch | None],
    rejected: Sequence[bool] | None = None,
    *,
    tau_num: int,
    tau_den: int,
    k: int | None = None,
    bound: int | None = None,
) -> ProvableRoundResult:
    """The provable rule of the module docstring over one round's slots.

    Args:
        sketches: per slot, the sketch (k integers) or None for a slot that did not submit.
        rejected: per slot, True when intake rejected the submission (default: none).
        tau_num, tau_den: τ as a fraction, each in [1, 2^32).
        k: the sketch length; inferred from the first sketch in A when omitted (and 0 when A
            is empty and k is not given).
        bound: when given, every sketch value in A must satisfy ``|s_ij| ≤ bound`` (the
            circuit's range check; ``SketchParams().clip``).
    """
    _check_tau(tau_num, tau_den)
    n = len(sketches)
    if rejected is None:
        rejected = [False] * n
    if len(rejected) != n:
        raise RuleInputError(f"{n} slots but {len(rejected)} rejection marks")
    active = tuple(s is not None and not bool(r) for s, r in zip(sketches, rejected))
    members = [i for i in range(n) if active[i]]
    if k is None:
        k = len(sketches[members[0]]) if members else 0  # type: ignore[arg-type]
    rows = {i: _as_sketch(sketches[i], i, k, bound) for i in members}  # type: ignore[arg-type]

    if members:
        median = coordinate_median([rows[i] for i in members])
        distances = tuple(squared_distance(rows[i], median) if active[i] else 0 for i in range(n))
        d_med = lower_median([distances[i] for i in members])
    else:
        median, distances, d_med = (0,) * k, (0,) * n, 0
    flags = tuple(active[i] and d_med > 0 and distances[i] * tau_den > tau_num * d_med for i in range(n))
    accepted = tuple(active[i] and not flags[i] for i in range(n))
    scored = score_accepted([rows.get(i) for i in range(n)], accepted, k=k)
    return ProvableRoundResult(
        tau_num=tau_num,
        tau_den=tau_den,
        active=active,
        median=median,
        distances=distances,
        median_distance=d_med,
        flags=flags,
        accepted=accepted,
        accepted_count=scored.accepted_count,
        aggregate=scored.aggregate,
        remainders=scored.remainders,
        inner_products=scored.inner_products,
        scores=scored.scores,
    )

"""The root-of-trust paid rule (protocol core): flags from the reference sketch, scores the exact
Shapley value of a utility with diminishing returns, in exact integer arithmetic.

DESIGN.md, "Contribution: the root of trust and the paid score"; issue 11 §2–3. The reference r
is the sketch of the round's root-of-trust update (the task's local recipe on the owner's
class-balanced root set, from the round's global model, minus the global), as in FLTrust (Cao et
al., NDSS 2021). A Groth16 circuit re-checks this computation, so every step is a comparison,
an inner product, a count or one floor division per score, on Python integers (never floats).

Inputs: n slots; ``sketches[i]`` (k integers) or None (no submission); ``rejected[i]`` (intake
refused); the reference r (k integers); :class:`ReferenceRuleParams` h, γ, β, δ (fractions).
With ``a_i = ⟨s_i, r⟩``, ``n_i = ‖s_i‖²``, ``ρ = ‖r‖²``, ``G_ij = ⟨s_i, s_j⟩``:

1. ``A = {i : submitted and not rejected}``; slots outside A are never read.
2. Flags (only when ρ > 0; **when ρ = 0, a degenerate reference, nobody is flagged and every
   score is 0**: there is nothing to measure alignment against), the first reason that applies:
   MISALIGNED ``a_i ≤ 0`` or ``a_i² γ_den² < γ_num² n_i ρ`` (cosine below γ; a zero sketch too;
   γ = 0, the default, keeps only ``a_i ≤ 0``);
   OVERSIZED ``n_i β_den² > β_num² ρ`` (norm above β‖r‖); DUPLICATE (only when δ < 1; δ ≥ 1 turns
   it off) there is j ∈ A, j ≠ i, **submitted before i** (``o_j < o_i``), with ``G_ij > 0`` and
   ``G_ij² δ_den² ≥ δ_num² n_i n_j``: only the later member of such a pair is flagged, whatever
   the earlier one's flags. ``o_i`` is slot i's rank among the round's submissions (0 = first,
   recorded by the Marketplace; default ``o_i = i``). Flagging both would let the aggregator, who
   reads every update, frame an honest trainer with a near-copy under a second identity; that copy
   is necessarily submitted later (an envelope is read only after its submitUpdate).
3. ``G = A`` minus the flagged, ``c = |G|``, ``T = Σ_{i∈G} s_i``; the aggregate
   ``T_j = c · g_j + rem_j`` with ``0 ≤ rem_j < c`` (``g = rem = 0`` when c = 0).
4. The game over the players G: ``m_S = (1/|S|) Σ_{i∈S} s_i`` (``m_∅ = 0``) and
   ``U(S) = ⟨m_S, r⟩ − (h/2) ‖m_S‖²``, ``U(∅) = 0``; for h = 1, ``U(S) = ½(ρ − ‖m_S − r‖²)``,
   at most ``U* = ρ / (2h)``. The paid value φ_i is its exact Shapley value, in closed form:
   with ``H = H_c = Σ_{u≤c} 1/u``, ``H2 = Σ_{u≤c} 1/u²``, ``m = c − 1`` and, over G,
   ``A_G = ⟨T, r⟩``, ``R_i = ⟨s_i, T⟩``, ``D_G = Σ_j G_jj``, ``T_G = ‖T‖²``:

   * mean term ``S ↦ ⟨m_S, r⟩``: ``(1/c)[a_i + (H − 1)(a_i − (A_G − a_i)/m)]``;
   * square term ``S ↦ ‖m_S‖²``: ``(1/c)[H2 G_ii + (2/m)(H − H2) b_i + (1/m)(1/c − H2) D_o
     + κ X_o]`` with the others' ``b_i = R_i − G_ii``, ``D_o = D_G − G_ii``,
     ``X_o = T_G − D_G − 2R_i + 2G_ii`` (their off-diagonal Gram sum) and
     ``κ = (2 H2 − 2H + 1 − 1/c) / (m(m − 1))`` (terms with a zero factor dropped for c ≤ 2).
   Derivation: a player joining a uniformly random set P of s others adds, in expectation,
   ``(a_i − ā)/(s + 1)`` to the mean term; for the square term ``E‖Σ_P s‖² = s D_o/m
   + s(s − 1) X_o/(m(m − 1))``; averaging s over 0 … c − 1 gives the sums of 1/u and 1/u².
   So ``φ_i = q_1 a_i + q_2 A_G + q_3 G_ii + q_4 R_i + q_5 D_G + q_6 T_G``, rational constants of
   c and h (:func:`score_constants`); with D(c, h) the least common denominator of the q,
   ``N_i = D φ_i`` is an integer and ``score_i = max(0, floor(N_i / D))`` for i ∈ G, else 0.
   Efficiency: ``Σ_G φ_i = U(G)``. A circuit needs per slot a_i, n_i and ``R_i`` (one inner
   product with T), the Gram entries only for the duplicate flag, and one division.

Sybils: with the duplicate flag off, k copies of one sketch and no other players earn exactly
one copy's pay (efficiency), but beside other players they can earn more (up to ≈ k× when the
others are many and near zero): the mean dilutes each member by 1/|S| whatever its twins do.
The duplicate flag is what stops exact and near copies: a group of them keeps one paid member,
the first submitted.

Ranges, for ``|s_ij|, |r_j| ≤ B = 2^40 − 1`` (:data:`SKETCH_BOUND`), k = 32, n ≤ 64 and fraction
parts below 2^32: ``|a_i|, n_i, ρ, |G_ij| < 2^85``; ``|T_j| < 2^46``; ``|A_G|, |R_i|, D_G < 2^91``;
``T_G < 2^97``; the flag comparisons stay below 2^235 (duplicates: ``G_ij² δ_den² < 2^234``).
``D(c, h)`` grows like lcm(1 … c)² (H2's denominator): ``D < 2^50 · h_den`` for c ≤ 16 and
``< 2^192 · h_den`` for c ≤ 64; ``|N_i| < 2^136 · max(h_num, h_den)`` for c ≤ 16, ``2^192 ·`` for
c ≤ 32, ``2^274 ·`` for c ≤ 64. One BN254 field element (signed, below 2^252) holds N_i for
c ≤ 52 when h is 1 or 1/2 and for c ≤ 42 with any h parts below 2^32; a circuit with more slots splits
N_i into limbs. Python's integers are exact whatever the sizes.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from fractions import Fraction

from zk.exceptions import RuleInputError
from zk.protocol.reference_shapley import ScoreConstants, score_constants, shapley_closed_form
from zk.protocol.rule import MAX_TAU_PART, tau_fraction

__all__ = [
    "DEFAULT_COS_MIN",
    "DEFAULT_DUP_COS",
    "DEFAULT_H",
    "DEFAULT_NORM_MAX",
    "MAX_RANK",
    "SKETCH_BOUND",
    "FlagReason",
    "ReferenceRoundResult",
    "ReferenceRuleParams",
    "ScoreConstants",
    "reference_round",
    "score_constants",
    "shapley_closed_form",
]

#: Default curvature h of the utility (1/2: chosen in benchmarks/reference_study.py).
DEFAULT_H = 0.5
#: Default γ: flag a cosine with the reference below this, and always one ≤ 0 (0: the sign alone,
#: chosen in benchmarks/reference_study.py: γ = 0.05 doubled honest false flags and cut no pay).
DEFAULT_COS_MIN = 0.0
#: Default β: flag a norm above β‖r‖ (chosen in benchmarks/reference_study.py).
DEFAULT_NORM_MAX = 4.0
#: Default δ: flag the later-submitted member of a pair with cosine ≥ δ; δ ≥ 1 turns the flag off
#: (0.99: chosen in benchmarks/reference_study.py).
DEFAULT_DUP_COS = 0.99
#: Ranks are 6-bit: a round has at most 64 submissions (the Marketplace's MAX_TRAINERS).
MAX_RANK = 63
#: Largest |value| of a sketch or reference entry: ``SketchParams().clip`` (2^40 − 1).
SKETCH_BOUND = (1 << 40) - 1

Sketch = Sequence[int]


class FlagReason(IntEnum):
    """Why a slot was flagged (the first reason that applies, in this order); NONE when not."""

    NONE = 0
    MISALIGNED = 1
    OVERSIZED = 2
    DUPLICATE = 3


def _fraction(name: str, value: float, denominator: int) -> tuple[int, int]:
    try:
        return tau_fraction(value, denominator=denominator)
    except RuleInputError as exc:
        raise RuleInputError(f"{name}: {exc}") from None


@dataclass(frozen=True)
class ReferenceRuleParams:
    """h, γ (``cos``), β (``norm``) and δ (``dup``), each a fraction ``num / den`` with both
    parts integers in [1, 2^32) (``cos_num`` may be 0: γ = 0). :meth:`from_floats` builds one
    from the task spec's floats."""

    h_num: int = 1
    h_den: int = 2
    cos_num: int = 0
    cos_den: int = 1
    norm_num: int = 4
    norm_den: int = 1
    dup_num: int = 99
    dup_den: int = 100

    def __post_init__(self) -> None:
        for name in ("h_num", "h_den", "cos_num", "cos_den", "norm_num", "norm_den", "dup_num", "dup_den"):
            v = getattr(self, name)
            low = 0 if name == "cos_num" else 1
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v < MAX_TAU_PART:
                raise RuleInputError(f"{name} must be an integer in [{low}, 2^32), got {v!r}")

    @classmethod
    def from_floats(cls, *, h: float = DEFAULT_H, cos_min: float = DEFAULT_COS_MIN,
                    norm_max: float = DEFAULT_NORM_MAX, dup_cos: float = DEFAULT_DUP_COS,
                    denominator: int = 1000) -> ReferenceRuleParams:
        """Each float rounded to ``denominator`` ths and reduced, as :func:`~zk.protocol.rule.tau_fraction`."""
        h_num, h_den = _fraction("h", h, denominator)
        cos_num, cos_den = (0, 1) if cos_min == 0 else _fraction("cos_min", cos_min, denominator)
        norm_num, norm_den = _fraction("norm_max", norm_max, denominator)
        dup_num, dup_den = _fraction("dup_cos", dup_cos, denominator)
        return cls(h_num, h_den, cos_num, cos_den, norm_num, norm_den, dup_num, dup_den)

    @property
    def h(self) -> Fraction:
        return Fraction(self.h_num, self.h_den)

    @property
    def duplicates_off(self) -> bool:
        """δ ≥ 1: the duplicate flag is off."""
        return self.dup_num >= self.dup_den


@dataclass(frozen=True)
class ReferenceRoundResult:
    """Everything the reference rule computes for one round (exact integers and fractions).

    Attributes:
        params: the rule's parameters.
        active: per slot, membership of A (submitted and not rejected).
        reference_norm: ρ = ‖r‖².
        alignments, norms: per slot, ``⟨s_i, r⟩`` and ``‖s_i‖²`` for i ∈ A, 0 outside A.
        flags, reasons: per slot, the flag and its :class:`FlagReason`.
        order: per slot, the submission rank the duplicate flag read (slot order when none was given).
        accepted, accepted_count: per slot membership of G, and c = |G|.
        aggregate, remainders: ``Σ_{i∈G} s_ij = c · g_j + rem_j``, ``0 ≤ rem_j < c``.
        numerators, denominator: ``φ_i = N_i / D`` for i ∈ G (N_i = 0 outside G).
        scores: per slot, ``max(0, floor(N_i / D))`` for i ∈ G when ρ > 0, else 0.
        utility: U(G); utility_max: U* = ρ / (2h).
    """

    params: ReferenceRuleParams
    active: tuple[bool, ...]
    reference_norm: int
    alignments: tuple[int, ...]
    norms: tuple[int, ...]
    flags: tuple[bool, ...]
    reasons: tuple[FlagReason, ...]
    order: tuple[int, ...]
    accepted: tuple[bool, ...]
    accepted_count: int
    aggregate: tuple[int, ...]
    remainders: tuple[int, ...]
    numerators: tuple[int, ...]
    denominator: int
    scores: tuple[int, ...]
    utility: Fraction
    utility_max: Fraction

    @property
    def n(self) -> int:
        """The number of slots."""
        return len(self.active)

    @property
    def k(self) -> int:
        """The sketch length."""
        return len(self.aggregate)

    @property
    def flags_mask(self) -> int:
        """The flags as the contract's bitmask: bit i set when slot i is flagged."""
        return sum(1 << i for i, flag in enumerate(self.flags) if flag)

    @property
    def shapley(self) -> tuple[Fraction, ...]:
        """Per slot, the exact Shapley value ``N_i / D`` (0 outside G)."""
        return tuple(Fraction(v, self.denominator) for v in self.numerators)


def _as_vector(values: Sketch, what: str, k: int | None, bound: int | None) -> tuple[int, ...]:
    out = []
    for v in values:
        if isinstance(v, bool):
            raise RuleInputError(f"{what}: sketch values must be integers, got a bool")
        try:
            x = operator.index(v)
        except TypeError:
            raise RuleInputError(f"{what}: sketch values must be integers, got {type(v).__name__}") from None
        if bound is not None and abs(x) > bound:
            raise RuleInputError(f"{what}: sketch value {x} is outside ±{bound}")
        out.append(x)
    if not out:
        raise RuleInputError(f"{what}: an empty sketch")
    if k is not None and len(out) != k:
        raise RuleInputError(f"{what}: the sketch has {len(out)} values, expected k = {k}")
    return tuple(out)


def _dot(a: Sketch, b: Sketch) -> int:
    return sum(x * y for x, y in zip(a, b))


def _flag_reasons(rows: dict[int, tuple[int, ...]], r: tuple[int, ...], rho: int, n: int, p: ReferenceRuleParams,
                  order: Sequence[int]) -> tuple[dict[int, int], dict[int, int], list[FlagReason]]:
    """Per active slot a_i and n_i, and per slot the flag reason (step 2); of a duplicate pair
    only the member ranked later in ``order`` is a duplicate."""
    align = {i: _dot(s, r) for i, s in rows.items()}
    norms = {i: _dot(s, s) for i, s in rows.items()}
    reasons = [FlagReason.NONE] * n
    if rho == 0:
        return align, norms, reasons
    members = sorted(rows)
    duplicate = set()
    if not p.duplicates_off:
        for x, i in enumerate(members):
            for j in members[x + 1:]:
                g = _dot(rows[i], rows[j])
                if g > 0 and g * g * p.dup_den**2 >= p.dup_num**2 * norms[i] * norms[j]:
                    duplicate.add(j if order[i] < order[j] else i)
    for i in members:
        a = align[i]
        if a <= 0 or a * a * p.cos_den**2 < p.cos_num**2 * norms[i] * rho:
            reasons[i] = FlagReason.MISALIGNED
        elif norms[i] * p.norm_den**2 > p.norm_num**2 * rho:
            reasons[i] = FlagReason.OVERSIZED
        elif i in duplicate:
            reasons[i] = FlagReason.DUPLICATE
    return align, norms, reasons


def _check_slots(sketches: Sequence[Sketch | None], rejected: Sequence[bool] | None,
                 params: ReferenceRuleParams) -> tuple[bool, ...]:
    if not isinstance(params, ReferenceRuleParams):
        raise RuleInputError(f"params must be ReferenceRuleParams, got {type(params).__name__}")
    n = len(sketches)
    rejected = [False] * n if rejected is None else rejected
    if len(rejected) != n:
        raise RuleInputError(f"{n} slots but {len(rejected)} rejection marks")
    return tuple(s is not None and not bool(x) for s, x in zip(sketches, rejected))


def _check_order(order: Sequence[int] | None, active: Sequence[bool]) -> tuple[int, ...]:
    """The ranks per slot: ``order`` checked (n integers in [0, MAX_RANK], distinct over A), or
    slot order when None."""
    n = len(active)
    if order is None:
        return tuple(range(n))
    ranks = _as_vector(order, "order", n, MAX_RANK) if len(order) else ()
    if len(ranks) != n or min(ranks, default=0) < 0:
        raise RuleInputError(f"order: {n} slots need {n} ranks in [0, {MAX_RANK}], got {list(order)!r}")
    live = [ranks[i] for i in range(n) if active[i]]
    if len(set(live)) != len(live):
        raise RuleInputError(f"order: two active slots have the same rank in {list(ranks)!r}")
    return ranks


def _numerators(const: ScoreConstants, members: list[int], rows: dict[int, tuple[int, ...]], align: dict[int, int],
                norms: dict[int, int], total: list[int], a_g: int, t_g: int, n: int) -> list[int]:
    """``N_i = D · φ_i`` per slot (0 outside G): the closed form's constants times its basis."""
    d_g = sum(norms[i] for i in members)
    numerators = [0] * n
    for i in members:
        basis = (align[i], a_g, norms[i], _dot(rows[i], total), d_g, t_g)
        numerators[i] = sum(q * x for q, x in zip(const.coefficients, basis))
    return numerators


def reference_round(
    sketches: Sequence[Sketch | None],
    rejected: Sequence[bool] | None = None,
    *,
    reference: Sketch,
    params: ReferenceRuleParams = ReferenceRuleParams(),  # noqa: B008 (frozen, immutable)
    k: int | None = None,
    bound: int | None = SKETCH_BOUND,
    order: Sequence[int] | None = None,
) -> ReferenceRoundResult:
    """The reference rule of the module docstring over one round's slots.

    Args:
        sketches: per slot, the sketch (k integers) or None for a slot that did not submit.
        rejected: per slot, True when intake rejected the submission (default: none).
        reference: the reference sketch r (k integers).
        params: h, γ, β, δ.
        k: the sketch length (default: the reference's length).
        bound: every value in A and in r must satisfy ``|x| ≤ bound`` (None: no range check).
        order: per slot, its rank among the round's submissions (0 = first; integers in
            [0, 63], distinct over A); of a duplicate pair only the later one is flagged.
            None: slot order (rank i).
    """
    active = _check_slots(sketches, rejected, params)
    ranks = _check_order(order, active)
    r = _as_vector(reference, "the reference", k, bound)
    k, n = len(r), len(active)
    rows = {i: _as_vector(sketches[i], f"slot {i}", k, bound) for i in range(n) if active[i]}  # type: ignore[arg-type]
    rho = _dot(r, r)
    align, norms, reasons = _flag_reasons(rows, r, rho, n, params, ranks)
    accepted = tuple(active[i] and reasons[i] is FlagReason.NONE for i in range(n))
    members = [i for i in range(n) if accepted[i]]
    c = len(members)
    total = [sum(rows[i][j] for i in members) for j in range(k)]
    pairs = [divmod(t, c) for t in total] if c else [(0, 0)] * k  # floor toward -inf
    const = score_constants(c, params.h_num, params.h_den)
    a_g, t_g = _dot(total, r), _dot(total, total)
    numerators = _numerators(const, members, rows, align, norms, total, a_g, t_g, n)
    h = params.h
    utility = Fraction(a_g, c) - h / 2 * Fraction(t_g, c * c) if c else Fraction(0)
    return ReferenceRoundResult(
        params=params,
        active=active,
        reference_norm=rho,
        alignments=tuple(align.get(i, 0) for i in range(n)),
        norms=tuple(norms.get(i, 0) for i in range(n)),
        flags=tuple(reason is not FlagReason.NONE for reason in reasons),
        reasons=tuple(reasons),
        order=ranks,
        accepted=accepted,
        accepted_count=c,
        aggregate=tuple(q for q, _ in pairs),
        remainders=tuple(m for _, m in pairs),
        numerators=tuple(numerators),
        denominator=const.denominator,
        scores=tuple(max(0, v // const.denominator) if rho > 0 else 0 for v in numerators),
        utility=utility,
        utility_max=Fraction(rho) / (2 * h),
    )

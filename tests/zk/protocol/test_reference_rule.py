"""The root-of-trust rule (zk/protocol/reference_rule.py): the closed-form Shapley value against
brute force, each flag at its threshold, the duplicate flag on the later submitter only, the sybil
property, the aggregate and bad inputs."""

from __future__ import annotations

import random
from fractions import Fraction
from itertools import combinations
from math import factorial, gcd

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.exceptions import MarketError
from zk.exceptions import RuleInputError
from zk.protocol.reference_rule import (
    DEFAULT_COS_MIN,
    DEFAULT_DUP_COS,
    DEFAULT_H,
    DEFAULT_NORM_MAX,
    SKETCH_BOUND,
    FlagReason,
    ReferenceRuleParams,
    reference_round,
    score_constants,
    shapley_closed_form,
)
from zk.protocol.sketch import SketchParams

NO_DUP = ReferenceRuleParams(h_num=1, h_den=1, dup_num=2, dup_den=1)  # h = 1; δ ≥ 1: duplicate flag off


def _dot(a, b) -> int:
    return sum(x * y for x, y in zip(a, b))


def _utility(sketches, r, h: Fraction):
    """U(S) = ⟨m_S, r⟩ − (h/2)‖m_S‖², straight from the definition."""
    def u(members) -> Fraction:
        if not members:
            return Fraction(0)
        m = [Fraction(sum(sketches[i][j] for i in members), len(members)) for j in range(len(r))]
        return sum((x * y for x, y in zip(m, r)), Fraction(0)) - h / 2 * sum((x * x for x in m), Fraction(0))
    return u


def _brute_shapley(c: int, u) -> list[Fraction]:
    phi = [Fraction(0)] * c
    for i in range(c):
        others = [j for j in range(c) if j != i]
        for size in range(c):
            weight = Fraction(factorial(size) * factorial(c - size - 1), factorial(c))
            for subset in combinations(others, size):
                phi[i] += weight * (u({*subset, i}) - u(set(subset)))
    return phi


def _gram(sketches):
    return [[_dot(a, b) for b in sketches] for a in sketches]


# --- the closed form ---------------------------------------------------------------------------
@pytest.mark.parametrize("c", [0, 1, 2, 3, 5, 7])
@pytest.mark.parametrize("h", [Fraction(1), Fraction(1, 2), Fraction(3), Fraction(7, 3)])
def test_shapley_closed_form_equals_brute_force_and_is_efficient(c: int, h: Fraction) -> None:
    # Prepare
    rng = random.Random(1000 * c + h.numerator * 10 + h.denominator)
    k = 4
    r = [rng.randint(-20, 20) for _ in range(k)]
    sketches = [[rng.randint(-30, 30) for _ in range(k)] for _ in range(c)]
    u = _utility(sketches, r, h)
    # Execute
    phi = shapley_closed_form([_dot(s, r) for s in sketches], _gram(sketches), h)
    # Assert
    assert phi == _brute_shapley(c, u)
    assert sum(phi, Fraction(0)) == u(set(range(c)))


def test_shapley_of_the_mean_term_matches_the_harmonic_formula() -> None:
    # h → 0 leaves S ↦ mean a_j: (1/c)[a_i + (H_c − 1)(a_i − mean_{j≠i} a_j)]
    a = [5, -2, 9, 0]
    c, hc = 4, Fraction(25, 12)
    tiny = Fraction(1, 2**40)
    phi = shapley_closed_form(a, [[0] * c for _ in range(c)], tiny)  # zero Gram: the square term vanishes
    expected = [Fraction(1, c) * (a[i] + (hc - 1) * (a[i] - Fraction(sum(a) - a[i], c - 1))) for i in range(c)]
    assert phi == expected


@pytest.mark.parametrize("c", [1, 2, 3, 6, 16, 40])
@pytest.mark.parametrize(("h_num", "h_den"), [(1, 1), (3, 7), (1000, 3)])
def test_score_constants_are_integers_over_their_least_common_denominator(c: int, h_num: int, h_den: int) -> None:
    const = score_constants(c, h_num, h_den)
    assert const.denominator > 0
    assert gcd(const.denominator, *const.coefficients) == 1
    # they reproduce the closed form on a random game
    rng = random.Random(c)
    sketches = [[rng.randint(-9, 9) for _ in range(3)] for _ in range(c)]
    r = [rng.randint(-9, 9) for _ in range(3)]
    gram = _gram(sketches)
    total = [sum(col) for col in zip(*sketches)]
    phi = shapley_closed_form([_dot(s, r) for s in sketches], gram, Fraction(h_num, h_den))
    for i in range(c):
        basis = (_dot(sketches[i], r), _dot(total, r), gram[i][i], _dot(sketches[i], total),
                 sum(gram[j][j] for j in range(c)), _dot(total, total))
        assert Fraction(_dot(const.coefficients, basis), const.denominator) == phi[i]


def test_score_constants_of_no_players_and_bad_counts() -> None:
    assert score_constants(0).denominator == 1
    for bad in (-1, True, 2.0):
        with pytest.raises(RuleInputError):
            score_constants(bad)  # type: ignore[arg-type]
    with pytest.raises(RuleInputError):
        score_constants(3, 0, 1)


def test_shapley_closed_form_refuses_a_gram_of_the_wrong_shape_and_bad_h() -> None:
    with pytest.raises(RuleInputError):
        shapley_closed_form([1, 2], [[1, 0]])
    with pytest.raises(RuleInputError):
        shapley_closed_form([1], [[1]], 0)


# --- reference_round: scores ---------------------------------------------------------------------
def test_reference_round_scores_are_the_floored_shapley_values_of_g() -> None:
    # Prepare: r = (4, 2, 0); slot 3 points away (MISALIGNED), slot 4 absent, slot 5 rejected
    r = [4, 2, 0]
    sketches = [[3, 1, 1], [4, 3, -1], [1, 0, 2], [-3, -1, 0], None, [100, 100, 100]]
    rejected = [False, False, False, False, False, True]
    # Execute
    out = reference_round(sketches, rejected, reference=r, params=NO_DUP)
    # Assert
    assert out.active == (True, True, True, True, False, False)
    assert out.reasons == (FlagReason.NONE,) * 3 + (FlagReason.MISALIGNED, FlagReason.NONE, FlagReason.NONE)
    assert out.flags_mask == 0b1000
    assert out.accepted == (True, True, True, False, False, False)
    g = sketches[:3]
    phi = shapley_closed_form([_dot(s, r) for s in g], _gram(g), 1)
    assert out.shapley[:3] == tuple(phi) and out.numerators[3:] == (0, 0, 0)
    assert out.scores == (*(max(0, v.numerator // v.denominator) for v in phi), 0, 0, 0)
    assert out.utility == sum(phi, Fraction(0)) == _utility(g, r, Fraction(1))({0, 1, 2})
    assert out.utility_max == Fraction(20, 2)
    # sums (8, 4, 2) over c = 3: g = (2, 1, 0), remainders (2, 1, 2)
    assert out.aggregate == (2, 1, 0) and out.remainders == (2, 1, 2)
    assert (out.n, out.k, out.accepted_count, out.reference_norm) == (6, 3, 3, 20)
    assert out.alignments == (14, 22, 4, -14, 0, 0) and out.norms == (11, 26, 5, 10, 0, 0)


def test_reference_round_floors_negative_aggregates_and_clamps_negative_values() -> None:
    # an overshooting sketch (‖m‖ large against r) has a negative Shapley value: score 0
    r = [1, 0]
    out = reference_round([[1, -1], [3, -2]], reference=r, params=ReferenceRuleParams(norm_num=10, cos_num=1, cos_den=10))
    assert out.aggregate == (2, -2) and out.remainders == (0, 1)  # -3 = 2·(-2) + 1
    assert out.numerators[1] < 0 and out.scores[1] == 0


def test_reference_round_accepts_numpy_integers_and_is_exact_at_the_bound() -> None:
    b = SKETCH_BOUND
    assert b == SketchParams().clip
    sketches = [np.array([b] * 32, dtype=np.int64), np.array([b] * 31 + [b - 1], dtype=np.int64)]
    out = reference_round(sketches, reference=[b] * 32, params=NO_DUP)
    assert out.reference_norm == 32 * b * b
    assert all(type(v) is int for v in (*out.aggregate, *out.numerators, *out.scores))
    assert sum(out.shapley) == out.utility


# --- flags ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("cos_num", "cos_den", "flagged"), [(3, 5, False), (601, 1000, True), (599, 1000, False)])
def test_misaligned_fires_strictly_below_the_cosine(cos_num: int, cos_den: int, flagged: bool) -> None:
    # cos((3, 4), (5, 0)) = 3/5 exactly (and equal norms)
    out = reference_round([[3, 4]], reference=[5, 0], params=ReferenceRuleParams(cos_num=cos_num, cos_den=cos_den))
    assert out.reasons[0] is (FlagReason.MISALIGNED if flagged else FlagReason.NONE)


@pytest.mark.parametrize("sketch", [[0, 0], [0, 5], [-1, 0], [-3, 100]])
def test_misaligned_flags_zero_orthogonal_and_negative_alignment(sketch: list[int]) -> None:
    out = reference_round([sketch], reference=[1, 0], params=ReferenceRuleParams(cos_num=1, cos_den=10**6))
    assert out.reasons == (FlagReason.MISALIGNED,)
    assert out.scores == (0,) and out.accepted_count == 0 and out.aggregate == (0, 0)


@pytest.mark.parametrize(("norm_num", "norm_den", "flagged"), [(5, 1, False), (4999, 1000, True), (5001, 1000, False)])
def test_oversized_fires_strictly_above_beta_times_the_reference_norm(norm_num: int, norm_den: int,
                                                                       flagged: bool) -> None:
    # ‖(3, 4)‖ = 5 ‖(1, 0)‖
    out = reference_round([[3, 4]], reference=[1, 0], params=ReferenceRuleParams(norm_num=norm_num, norm_den=norm_den))
    assert out.reasons[0] is (FlagReason.OVERSIZED if flagged else FlagReason.NONE)


@pytest.mark.parametrize(("dup_num", "dup_den", "flagged"), [(24, 25, True), (961, 1000, False), (959, 1000, True)])
def test_duplicate_fires_at_and_above_delta_on_the_later_member_only(dup_num: int, dup_den: int,
                                                                    flagged: bool) -> None:
    # cos((3, 4), (4, 3)) = 24/25; the third sketch is far from both; no order: slot order
    params = ReferenceRuleParams(dup_num=dup_num, dup_den=dup_den)
    out = reference_round([[3, 4], [4, 3], [5, -1]], reference=[1, 1], params=params)
    assert out.reasons == (FlagReason.NONE, FlagReason.DUPLICATE if flagged else FlagReason.NONE, FlagReason.NONE)
    assert out.order == (0, 1, 2)


@pytest.mark.parametrize(("order", "later"), [([0, 1, 2], 1), ([1, 0, 2], 0), ([5, 63, 0], 1), ([40, 2, 7], 0)])
def test_duplicate_flags_the_member_submitted_later_whatever_its_slot(order: list[int], later: int) -> None:
    params = ReferenceRuleParams(dup_num=24, dup_den=25)  # cos((3, 4), (4, 3)) = 24/25
    out = reference_round([[3, 4], [4, 3], [5, -1]], reference=[1, 1], params=params, order=order)
    assert [i for i, reason in enumerate(out.reasons) if reason is FlagReason.DUPLICATE] == [later]
    assert out.flags_mask == 1 << later and out.order == tuple(order)
    assert out.scores[1 - later] > 0 and out.scores[later] == 0


def test_a_copy_submitted_after_an_honest_update_cannot_frame_it() -> None:
    # Prepare: honest trainers in slots 0 and 2; the aggregator's second identity (slot 1, joined
    # before slot 2) submits a near-copy of slot 2's update after reading it: rank 3, the last
    r = [10, 4, -3, 7]
    honest = [[9, 5, -2, 6], [11, 3, -4, 8]]
    copy = [11, 3, -4, 9]                                       # cos with honest[1] > 0.99
    sketches = [honest[0], copy, honest[1], [8, 4, -1, 7]]
    # Execute
    framed = reference_round(sketches, reference=r, order=[1, 3, 0, 2])
    alone = reference_round([honest[0], None, honest[1], sketches[3]], reference=r, order=[1, 0, 0, 2])
    # Assert: only the copy is flagged, and the honest trainer is paid what it earns without it
    assert framed.reasons == (FlagReason.NONE, FlagReason.DUPLICATE, FlagReason.NONE, FlagReason.NONE)
    assert framed.scores == alone.scores and framed.scores[2] > 0


def test_three_copies_keep_only_the_first_submitted() -> None:
    copy = [7, 2, 5]
    out = reference_round([copy, [1, 6, -2], copy, copy], reference=[6, 3, 4], order=[2, 3, 0, 1])
    assert out.reasons == (FlagReason.DUPLICATE, FlagReason.NONE, FlagReason.NONE, FlagReason.DUPLICATE)
    assert out.accepted_count == 2 and out.scores[2] > 0


def test_identical_sketches_are_duplicates_unless_delta_is_one_or_more() -> None:
    sketches = [[2, 1], [2, 1], [1, 2]]
    assert reference_round(sketches, reference=[1, 1]).reasons[:2] == (FlagReason.NONE, FlagReason.DUPLICATE)
    for num, den in ((1, 1), (2, 1)):
        out = reference_round(sketches, reference=[1, 1], params=ReferenceRuleParams(dup_num=num, dup_den=den))
        assert not any(out.flags)


def test_the_first_reason_wins_and_a_flagged_twin_still_flags_its_later_pair() -> None:
    # slot 1 = 10 × slot 0: parallel (duplicate pair), slot 1 also oversized (norm 10 > 4)
    sketches = [[1, 1], [10, 10], [1, 0]]
    out = reference_round(sketches, reference=[1, 1])
    assert out.reasons == (FlagReason.NONE, FlagReason.OVERSIZED, FlagReason.NONE)
    # the oversized twin submitted first still makes the later slot 0 a duplicate
    out = reference_round(sketches, reference=[1, 1], order=[1, 0, 2])
    assert out.reasons == (FlagReason.DUPLICATE, FlagReason.OVERSIZED, FlagReason.NONE)


def test_rejected_and_absent_slots_are_never_read_nor_duplicates() -> None:
    base = reference_round([[2, 1], None, [1, 2]], reference=[1, 1])
    with_junk = reference_round([[2, 1], ["junk", 1.5], [1, 2], [2, 1]], [False, True, False, True], reference=[1, 1])
    assert with_junk.reasons == (*base.reasons[:1], FlagReason.NONE, base.reasons[2], FlagReason.NONE)
    assert with_junk.scores == (*base.scores, 0) and not any(with_junk.flags)


def test_a_degenerate_reference_flags_nobody_and_pays_nothing() -> None:
    out = reference_round([[0, 0], [-5, 3], [5, 3], [5, 3]], reference=[0, 0])
    assert not any(out.flags) and out.accepted_count == 4
    assert out.scores == (0, 0, 0, 0)
    # T = (5, 9), default h = 1/2: U(G) = -(h/2) ‖T/4‖²
    assert out.utility_max == 0 and out.utility == -Fraction(1, 4) * Fraction(5**2 + 9**2, 16)
    assert out.aggregate == (1, 2) and out.remainders == (1, 1)


# --- sybils --------------------------------------------------------------------------------------
def _copies_and_alone(copy, others, k, r):
    """(total of k copies' Shapley values beside ``others``, one copy's beside them)."""
    many = shapley_closed_form([_dot(s, r) for s in [copy] * k + others], _gram([copy] * k + others), 1)
    one = shapley_closed_form([_dot(s, r) for s in [copy] + others], _gram([copy] + others), 1)
    return sum(many[:k], Fraction(0)), one[0]


@pytest.mark.parametrize("k", [2, 3, 5])
def test_copies_without_others_share_exactly_one_submissions_value(k: int) -> None:
    total, alone = _copies_and_alone([3, 1, -2], [], k, [4, 1, 0])
    assert total == alone


def test_copies_beside_others_can_earn_more_than_one_submission() -> None:
    # The sybil property does NOT hold for this game in general (reported): beside others the
    # mean dilutes each member by 1/|S|, so copies keep most of their separate marginal value.
    r = [10, 0]
    copy, others = [6, 1], [[1, 3], [2, -3], [1, 1]]
    total, alone = _copies_and_alone(copy, others, 2, r)
    assert alone > 0 and total > alone
    total4, _ = _copies_and_alone(copy, others, 4, r)
    assert total4 > total
    # the duplicate flag is what stops them: every copy after the first is flagged
    out = reference_round([copy, copy, *others], reference=r)
    assert out.reasons[:2] == (FlagReason.NONE, FlagReason.DUPLICATE) and out.scores[1] == 0


# --- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sketches", "reference", "kwargs"),
    [
        ([[1, 2], [1.5, 2]], [1, 1], {}),
        ([[1, 2], [True, 2]], [1, 1], {}),
        ([[1, 2], [1, 2, 3]], [1, 1], {}),
        ([[1, 2]], [1, 1], {"k": 3}),
        ([[1, 2], []], [1, 1], {}),
        ([[1, 2], [1, 2**40]], [1, 1], {}),
        ([[1, 2]], [1, 2**40], {}),
        ([[1, 2]], [1, True], {}),
        ([[1, 2]], [], {}),
        ([[1, 2]], [1, 1, 1], {}),
        ([[1, 2]], [1, 1], {"params": (1, 1)}),
    ],
)
def test_reference_round_refuses_malformed_inputs(sketches: list, reference: list, kwargs: dict) -> None:
    with pytest.raises(RuleInputError):
        reference_round(sketches, reference=reference, **kwargs)


@pytest.mark.parametrize("order", [
    [0, 1], [0, 1, 2, 3], [0, 1, -1], [0, 1, 64], [0, 1, 1], [0, 1.0, 2], [0, True, 2], [0, "1", 2], [2, 0, 2]])
def test_reference_round_refuses_a_bad_order(order: list) -> None:
    with pytest.raises(RuleInputError, match="order"):
        reference_round([[1, 2], [2, 1], [1, 1]], reference=[1, 1], order=order)


def test_reference_round_order_needs_distinct_ranks_over_active_slots_only() -> None:
    # slots 1 (absent) and 3 (rejected) share rank 0 with slot 0, as the chain leaves them
    sketches = [[2, 1], None, [2, 1], [2, 1]]
    out = reference_round(sketches, [False, False, False, True], reference=[1, 1], order=[0, 0, 1, 0])
    assert out.reasons == (FlagReason.NONE, FlagReason.NONE, FlagReason.DUPLICATE, FlagReason.NONE)
    assert reference_round([], reference=[1], order=[]).n == 0


def test_reference_round_refuses_rejection_marks_of_the_wrong_length() -> None:
    with pytest.raises(RuleInputError):
        reference_round([[1], [2]], [False], reference=[1])


def test_reference_round_range_check_can_be_lifted() -> None:
    out = reference_round([[2**41, 1]], reference=[2**41, 0], bound=None)
    assert out.reasons == (FlagReason.NONE,)


@pytest.mark.parametrize("field", ["h_num", "h_den", "cos_num", "cos_den", "norm_num", "norm_den", "dup_num", "dup_den"])
@pytest.mark.parametrize("bad", [0, 2**32, 1.0, True, -1])
def test_params_refuse_parts_outside_one_to_two_to_the_32(field: str, bad: object) -> None:
    if field == "cos_num" and bad == 0:
        assert ReferenceRuleParams(cos_num=0).cos_num == 0  # γ = 0 is allowed: the sign alone
        return
    with pytest.raises(RuleInputError):
        ReferenceRuleParams(**{field: bad})  # type: ignore[arg-type]


def test_gamma_zero_flags_exactly_the_non_positive_alignments() -> None:
    sketches = [[1, 10**6], [0, 1], [-1, 10**6], [0, 0]]  # cos > 0 tiny, 0, < 0, zero sketch
    out = reference_round(sketches, reference=[1, 0], params=ReferenceRuleParams(norm_num=2**31, dup_num=2, dup_den=1))
    assert out.reasons == (FlagReason.NONE, FlagReason.MISALIGNED, FlagReason.MISALIGNED, FlagReason.MISALIGNED)


def test_params_from_floats_match_the_defaults_and_refuse_unusable_values() -> None:
    assert ReferenceRuleParams.from_floats() == ReferenceRuleParams()
    p = ReferenceRuleParams.from_floats(h=DEFAULT_H, cos_min=DEFAULT_COS_MIN, norm_max=DEFAULT_NORM_MAX,
                                        dup_cos=DEFAULT_DUP_COS)
    assert (p.h, p.cos_num, p.cos_den, p.norm_num, p.dup_num, p.dup_den) == (Fraction(1, 2), 0, 1, 4, 99, 100)
    five = ReferenceRuleParams.from_floats(cos_min=0.05)
    assert (five.cos_num, five.cos_den) == (1, 20)
    assert ReferenceRuleParams.from_floats(h=0.25).h == Fraction(1, 4)
    assert not p.duplicates_off and ReferenceRuleParams.from_floats(dup_cos=1.0).duplicates_off
    for bad in ({"h": 0.0}, {"cos_min": -0.1}, {"norm_max": float("nan")}, {"dup_cos": 0.0001}):
        with pytest.raises(RuleInputError, match=next(iter(bad))):
            ReferenceRuleParams.from_floats(**bad)


def test_reference_rule_errors_are_market_value_errors() -> None:
    with pytest.raises(MarketError):
        reference_round([[1.5]], reference=[1])
    with pytest.raises(ValueError):
        reference_round([[1.5]], reference=[1])


# --- properties ----------------------------------------------------------------------------------
small = st.integers(min_value=-(2**12), max_value=2**12)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_round_is_efficient_nonnegative_and_flags_only_active_slots(data: st.DataObject) -> None:
    n, k = data.draw(st.integers(1, 7)), data.draw(st.integers(1, 4))
    sketches = data.draw(st.lists(st.one_of(st.none(), st.lists(small, min_size=k, max_size=k)), min_size=n, max_size=n))
    rejected = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    r = data.draw(st.lists(small, min_size=k, max_size=k))
    h_num, h_den = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9))
    order = data.draw(st.permutations(range(n)))
    out = reference_round(sketches, rejected, reference=r, params=ReferenceRuleParams(h_num=h_num, h_den=h_den),
                          order=order)
    assert all(s >= 0 for s in out.scores)
    live = [i for i in range(n) if out.active[i]]
    if live:  # the first submitter is never a duplicate
        assert out.reasons[min(live, key=lambda i: order[i])] is not FlagReason.DUPLICATE
    assert all(out.active[i] or not out.flags[i] for i in range(n))
    assert sum(out.shapley, Fraction(0)) == out.utility
    members = [sketches[i] for i in range(n) if out.accepted[i]]
    if members:
        total = [sum(col) for col in zip(*members)]
        assert [len(members) * q + m for q, m in zip(out.aggregate, out.remainders)] == total

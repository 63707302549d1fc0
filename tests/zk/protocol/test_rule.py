"""The provable rule (aggregator/detectors/provable.py): crafted rounds with hand-computed
medians, distances, D, flags, aggregate, remainders and scores."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.detectors.provable import ProvableDetector
from market.exceptions import MarketError
from zk.exceptions import RuleInputError
from zk.protocol.rule import lower_median, provable_round, score_accepted, tau_fraction
from zk.protocol.sketch import SketchParams, sketch_update

# Slot 4 is an outlier, slot 5 did not submit, slot 6 was rejected (and would otherwise drag
# every median up).
ODD_ROUND = [
    [1, -2, 3],
    [-2, 1, -1],
    [-1, -3, 2],
    [3, 1, 0],
    [40, -50, 60],
    None,
    [1000, 1000, 1000],
]
ODD_REJECTED = [False, False, False, False, False, False, True]


# --- tau -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tau", "fraction"),
    [
        (4.0, (4, 1)),
        (2.5, (5, 2)),
        (3.25, (13, 4)),
        (3.141, (3141, 1000)),
        (3.14159, (1571, 500)),  # 3141.59 rounds to 3142
        (0.001, (1, 1000)),
        (1e6, (1000000, 1)),
    ],
)
def test_tau_fraction_rounds_to_thousandths_and_reduces(tau: float, fraction: tuple[int, int]) -> None:
    assert tau_fraction(tau) == fraction


@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan"), float("inf"), 0.0004, 5e9])
def test_tau_fraction_refuses_unusable_values(tau: float) -> None:
    with pytest.raises(RuleInputError):
        tau_fraction(tau)


# --- crafted rounds ----------------------------------------------------------------------------
def test_provable_round_odd_count_with_negatives_and_floor_remainders() -> None:
    # Prepare: A = {0..4}; |A| = 5, lower median index 2
    #   col 0: -2 -1 1 3 40 -> 1;  col 1: -50 -3 -2 1 1 -> -2;  col 2: -1 0 2 3 60 -> 2
    #   dist: (0+0+1, 9+9+9, 4+1+0, 4+9+4, 39²+48²+58²) = (1, 27, 5, 17, 7189); D = 17
    #   tau 4: flag dist > 68 -> slot 4 only
    #   G = {0,1,2,3}: sums (1, -3, 4) -> g = (0, -1, 1) r = (1, 1, 0)  [-3 = 4·(-1) + 1]
    #   <s_i, g> = (5, -2, 5, -1): slots 1 and 3 are accepted but score 0
    # Execute
    r = provable_round(ODD_ROUND, ODD_REJECTED, tau_num=4, tau_den=1)
    # Assert
    assert r.active == (True, True, True, True, True, False, False)
    assert r.median == (1, -2, 2)
    assert r.distances == (1, 27, 5, 17, 7189, 0, 0)
    assert r.median_distance == 17
    assert r.flags == (False, False, False, False, True, False, False)
    assert r.flags_mask == 0b0010000
    assert r.accepted == (True, True, True, True, False, False, False)
    assert r.accepted_count == 4
    assert r.aggregate == (0, -1, 1)
    assert r.remainders == (1, 1, 0)
    assert r.inner_products == (5, -2, 5, -1, 0, 0, 0)
    assert r.scores == (5, 0, 5, 0, 0, 0, 0)
    assert (r.n, r.k) == (7, 3)


def test_provable_round_even_count_uses_the_lower_median() -> None:
    # Prepare: |A| = 4, index 1.  col 0: 0 2 4 10 -> 2;  col 1: -3 0 1 10 -> 0;  m = (2, 0)
    #   dist = (4, 1, 13, 164): sorted 1 4 13 164 -> D = 4 (the upper median would be 13)
    #   tau 3: flag dist > 12 -> slots 2 and 3
    #   G = {0, 1}: sums (2, 1) -> g = (1, 0), r = (0, 1); <s, g> = (0, 2)
    sketches = [[0, 0], [2, 1], [4, -3], [10, 10]]
    # Execute
    r = provable_round(sketches, tau_num=3, tau_den=1)
    # Assert
    assert r.median == (2, 0)
    assert r.distances == (4, 1, 13, 164)
    assert r.median_distance == 4
    assert r.flags == (False, False, True, True)
    assert r.aggregate == (1, 0)
    assert r.remainders == (0, 1)
    assert r.scores == (0, 2, 0, 0)


def test_provable_round_flags_strictly_above_tau_times_d() -> None:
    # tau = 13/4 and D = 4: slot 2 has dist 13, and 13·4 > 13·4 is false
    r = provable_round([[0, 0], [2, 1], [4, -3], [10, 10]], tau_num=13, tau_den=4)
    assert r.flags == (False, False, False, True)


def test_provable_round_single_trainer_is_its_own_median_and_aggregate() -> None:
    r = provable_round([None, [5, -7], None], tau_num=4, tau_den=1)
    assert r.median == (5, -7)
    assert r.distances == (0, 0, 0)
    assert r.median_distance == 0
    assert r.flags == (False, False, False)
    assert r.aggregate == (5, -7)
    assert r.remainders == (0, 0)
    assert r.scores == (0, 74, 0)


def test_provable_round_zero_sketches_give_zero_everything() -> None:
    r = provable_round([[0, 0, 0]] * 3, tau_num=4, tau_den=1)
    assert r.median_distance == 0
    assert not any(r.flags)
    assert r.aggregate == (0, 0, 0)
    assert r.scores == (0, 0, 0)
    assert r.accepted_count == 3


def test_provable_round_flags_nobody_when_the_median_distance_is_zero() -> None:
    # Prepare: three identical sketches and one different: m = (1, 1), dist = (0, 0, 0, 128),
    # D = 0. Documented choice: no spread, no flags (not "every nonzero distance").
    r = provable_round([[1, 1], [1, 1], [1, 1], [9, 9]], tau_num=4, tau_den=1)
    assert r.median_distance == 0
    assert r.flags == (False,) * 4
    assert r.aggregate == (3, 3)  # 12 / 4
    assert r.scores == (6, 6, 6, 54)


def test_provable_round_can_flag_everyone_when_tau_is_below_one() -> None:
    # Prepare: m = (0, 0) (coordinate-wise lower median of two), dist = (25, 25), D = 25;
    # tau = 1/2 flags both, G is empty, so g = r = 0 and nobody scores.
    r = provable_round([[0, 5], [5, 0]], tau_num=1, tau_den=2)
    assert r.flags == (True, True)
    assert r.accepted_count == 0
    assert r.aggregate == (0, 0)
    assert r.remainders == (0, 0)
    assert r.scores == (0, 0)


def test_provable_round_with_no_active_slot_needs_k_and_returns_zeros() -> None:
    r = provable_round([None, [7, 7]], [False, True], tau_num=4, tau_den=1, k=2)
    assert r.active == (False, False)
    assert r.median == (0, 0)
    assert r.median_distance == 0
    assert r.scores == (0, 0)
    assert provable_round([None, None], tau_num=4, tau_den=1).k == 0


def test_provable_round_ignores_rejected_and_absent_slots_entirely() -> None:
    # the rejected slot's sketch is not even read: malformed is fine
    with_junk = ODD_ROUND[:5] + [None, ["not", "a", "sketch", 1.5]]
    assert provable_round(with_junk, ODD_REJECTED, tau_num=4, tau_den=1) == provable_round(
        ODD_ROUND[:5] + [None, None], tau_num=4, tau_den=1
    )


def test_provable_round_accepts_numpy_integers_and_gives_python_ints() -> None:
    sketches = [np.array(s, dtype=np.int64) for s in ODD_ROUND[:5]]
    r = provable_round(sketches, tau_num=4, tau_den=1)
    assert r.scores == (5, 0, 5, 0, 0)
    assert all(type(v) is int for v in (*r.median, *r.distances, *r.aggregate, *r.scores))


def test_provable_round_is_exact_beyond_int64() -> None:
    # sketch values at the clip bound 2^40 - 1: distances and products exceed 2^63
    b = SketchParams().clip
    sketches = [[b] * 32, [-b] * 32, [b] * 32]
    r = provable_round(sketches, tau_num=4, tau_den=1, bound=b)
    assert r.median == (b,) * 32
    assert r.distances[1] == 32 * (2 * b) ** 2  # > 2^86
    assert r.median_distance == 0 and not any(r.flags)
    q, rem = divmod(b, 3)  # sum per coordinate is b
    assert r.aggregate == (q,) * 32 and r.remainders == (rem,) * 32
    assert r.inner_products == (32 * b * q, -32 * b * q, 32 * b * q)


@pytest.mark.parametrize(
    ("sketches", "kwargs"),
    [
        ([[1, 2], [1.5, 2]], {}),
        ([[1, 2], [True, 2]], {}),
        ([[1, 2], [1, 2, 3]], {}),
        ([[1, 2], [1, 2]], {"k": 3}),
        ([[1, 2], []], {}),
        ([[1, 2], [1, 2**41]], {"bound": 2**40 - 1}),
    ],
)
def test_provable_round_refuses_malformed_sketches(sketches: list, kwargs: dict) -> None:
    with pytest.raises(RuleInputError):
        provable_round(sketches, tau_num=4, tau_den=1, **kwargs)


@pytest.mark.parametrize(("tau_num", "tau_den"), [(0, 1), (1, 0), (2**32, 1), (4.0, 1), (True, 1)])
def test_provable_round_refuses_bad_tau(tau_num: object, tau_den: object) -> None:
    with pytest.raises(RuleInputError):
        provable_round([[1]], tau_num=tau_num, tau_den=tau_den)  # type: ignore[arg-type]


def test_provable_round_refuses_rejection_marks_of_the_wrong_length() -> None:
    with pytest.raises(RuleInputError):
        provable_round([[1], [2]], [False], tau_num=4, tau_den=1)


def test_provable_errors_are_market_value_errors() -> None:
    with pytest.raises(MarketError):
        provable_round([[1], [1.5]], tau_num=4, tau_den=1)
    with pytest.raises(ValueError):
        provable_round([[1], [1.5]], tau_num=4, tau_den=1)


def test_score_accepted_refuses_an_accepted_slot_without_sketch() -> None:
    with pytest.raises(RuleInputError):
        score_accepted([[1, 2], None], [True, True], k=2)


# --- properties: what a circuit checks --------------------------------------------------------
small_ints = st.integers(min_value=-(2**20), max_value=2**20)


@st.composite
def rounds(draw: st.DrawFn) -> tuple[list[list[int] | None], list[bool], int, int]:
    n = draw(st.integers(1, 9))
    k = draw(st.integers(1, 5))
    pool = draw(st.lists(small_ints, min_size=1, max_size=4))  # repeated values exercise ties
    value = st.one_of(st.sampled_from(pool), small_ints)
    sketches = [draw(st.one_of(st.none(), st.lists(value, min_size=k, max_size=k))) for _ in range(n)]
    rejected = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return sketches, rejected, draw(st.integers(1, 10_000)), draw(st.integers(1, 1_000))


@settings(max_examples=300, deadline=None)
@given(rounds())
def test_provable_round_satisfies_the_circuit_checks(case: tuple) -> None:
    sketches, rejected, tau_num, tau_den = case
    r = provable_round(sketches, rejected, tau_num=tau_num, tau_den=tau_den, k=len(next(
        (s for s in sketches if s is not None), [0])))
    a = [i for i in range(len(sketches)) if sketches[i] is not None and not rejected[i]]
    assert r.active == tuple(i in a for i in range(len(sketches)))
    h = (len(a) - 1) // 2
    if a:
        for j, m in enumerate(r.median):
            column = [sketches[i][j] for i in a]
            assert m in column
            assert sum(v < m for v in column) <= h
            assert sum(v <= m for v in column) >= h + 1
            assert m == int(np.sort(np.array(column))[h])
        dists = [r.distances[i] for i in a]
        assert sum(v < r.median_distance for v in dists) <= h < sum(v <= r.median_distance for v in dists)
    for i in range(len(sketches)):
        expected_flag = i in a and r.median_distance > 0 and r.distances[i] * tau_den > tau_num * r.median_distance
        assert r.flags[i] == expected_flag
        assert r.accepted[i] == (i in a and not expected_flag)
    g_members = [i for i in a if not r.flags[i]]
    assert r.accepted_count == len(g_members)
    for j in range(r.k):
        total = sum(sketches[i][j] for i in g_members)
        assert total == r.accepted_count * r.aggregate[j] + r.remainders[j]
        assert 0 <= r.remainders[j] < max(r.accepted_count, 1)
    for i in range(len(sketches)):
        if r.accepted[i]:
            assert r.inner_products[i] == sum(x * y for x, y in zip(sketches[i], r.aggregate))
        assert r.scores[i] == max(0, r.inner_products[i])


@settings(max_examples=50, deadline=None)
@given(rounds(), st.randoms(use_true_random=False))
def test_provable_round_does_not_depend_on_slot_order(case: tuple, rnd) -> None:
    sketches, rejected, tau_num, tau_den = case
    k = len(next((s for s in sketches if s is not None), [0]))
    perm = list(range(len(sketches)))
    rnd.shuffle(perm)
    r = provable_round(sketches, rejected, tau_num=tau_num, tau_den=tau_den, k=k)
    p = provable_round([sketches[i] for i in perm], [rejected[i] for i in perm], tau_num=tau_num, tau_den=tau_den, k=k)
    assert p.median == r.median and p.aggregate == r.aggregate and p.median_distance == r.median_distance
    assert p.scores == tuple(r.scores[i] for i in perm)
    assert p.flags == tuple(r.flags[i] for i in perm)


def test_lower_median_picks_index_len_minus_one_halved() -> None:
    assert lower_median([3, 1, 2]) == 2
    assert lower_median([4, 1, 3, 2]) == 2
    assert lower_median([7]) == 7
    with pytest.raises(RuleInputError):
        lower_median([])


# --- on real sketches --------------------------------------------------------------------------
def test_provable_detector_flags_a_scaled_update_among_real_sketches() -> None:
    # Prepare: 7 honest updates around one direction and one boosted (x10) update, sketched
    # with the zk sketch (k = 32, values ~2^24 · norm)
    rng = np.random.default_rng(3)
    d = 5000
    direction = rng.normal(scale=0.01, size=d)
    updates = [{"w": (direction + rng.normal(scale=0.005, size=d)).astype(np.float32)} for _ in range(7)]
    updates.append({"w": (10 * direction).astype(np.float32)})
    sketches = [sketch_update(u, seed=12345) for u in updates]
    detector = ProvableDetector(tau=4.0, bound=SketchParams().clip, k=32)
    # Execute
    detection = detector.detect(sketches + [None], rejected=[False] * 8 + [False])
    # Assert
    assert detection.flags == (False,) * 7 + (True, False)
    assert detection.labels == ("ok",) * 7 + ("outlier", "absent")
    result = detection.detail
    assert all(s > 0 for s in result.scores[:7]) and result.scores[7] == 0
    assert np.isnan(detection.statistics[8]) and detection.statistics[7] == float(result.distances[7])

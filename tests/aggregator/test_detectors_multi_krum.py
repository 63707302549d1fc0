"""Multi-Krum (aggregator/detectors/multi_krum.py)."""

from __future__ import annotations

import numpy as np
import pytest

from aggregator.detectors.multi_krum import (
    MultiKrumDetector,
    default_byzantine,
    krum_scores,
    multi_krum_select,
    pairwise_squared_distances,
)
from aggregator.exceptions import AggregatorValueError, UpdateMismatchError


def test_pairwise_squared_distances_match_brute_force() -> None:
    x = np.random.default_rng(0).normal(size=(5, 7))
    expected = [[float(np.sum((a - b) ** 2)) for b in x] for a in x]
    np.testing.assert_allclose(pairwise_squared_distances(x), expected, rtol=1e-12)


def test_krum_scores_by_hand_on_a_line() -> None:
    # points 0, 1, 2, 10. f = 0: n - f - 2 = 2 nearest.
    #   0: 1 + 4 = 5;  1: 1 + 1 = 2;  2: 1 + 4 = 5;  10: 64 + 81 = 145
    x = np.array([[0.0], [1.0], [2.0], [10.0]])
    np.testing.assert_allclose(krum_scores(x, byzantine=0), [5, 2, 5, 145])
    # f = 1: max(1, 4 - 1 - 2) = 1 nearest: 1, 1, 1, 64; keep n - f = 3
    np.testing.assert_allclose(krum_scores(x, byzantine=1), [1, 1, 1, 64])
    assert multi_krum_select(x, byzantine=1).tolist() == [0, 1, 2]
    assert multi_krum_select(x, byzantine=1, select=1).tolist() == [0]  # ties to the lower index


def test_krum_scores_refuse_impossible_byzantine_counts() -> None:
    with pytest.raises(AggregatorValueError):
        krum_scores(np.zeros((3, 2)), byzantine=3)
    with pytest.raises(AggregatorValueError):
        multi_krum_select(np.zeros((3, 2)), byzantine=0, select=4)


def test_default_byzantine_is_the_largest_krum_tolerates() -> None:
    assert [default_byzantine(n) for n in (1, 3, 4, 5, 8, 9)] == [0, 0, 0, 1, 2, 3]


def test_multi_krum_detector_flags_obvious_outliers() -> None:
    # Prepare: 7 honest updates around one direction, a sign flipper and a huge one; slot 9
    # absent, slot 10 rejected (would be an outlier too)
    rng = np.random.default_rng(1)
    direction = rng.normal(size=500)
    updates: list = [direction + rng.normal(scale=0.3, size=500) for _ in range(7)]
    updates += [-direction, 20 * direction, None, 50 * direction]
    rejected = [False] * 10 + [True]
    # Execute
    detection = MultiKrumDetector(byzantine=2).detect(updates, rejected=rejected)
    # Assert
    assert detection.flags == (False,) * 7 + (True, True, False, False)
    assert detection.labels == ("ok",) * 7 + ("outlier", "outlier", "absent", "rejected")
    assert np.isnan(detection.statistics[9]) and np.isnan(detection.statistics[10])
    assert detection.flags_mask == 0b110000000


def test_multi_krum_detector_takes_named_tensors_and_sketches() -> None:
    honest = [{"a": np.full(3, 1.0 + 0.01 * i), "b": np.ones((2, 2))} for i in range(5)]
    bad = {"a": np.full(3, -9.0), "b": np.ones((2, 2))}
    assert MultiKrumDetector(byzantine=1).detect([*honest, bad]).flags == (False,) * 5 + (True,)
    sketches = [[10, 11, 12], [11, 10, 12], [12, 12, 10], [11, 11, 11], [-500, 900, 7]]
    assert MultiKrumDetector().detect(sketches).flags == (False,) * 4 + (True,)


def test_multi_krum_detector_small_rounds() -> None:
    assert MultiKrumDetector().detect([None, [1.0, 2.0]]).flags == (False, False)
    assert MultiKrumDetector(byzantine=5).detect([[1.0], [2.0]]).flags == (False, True)


def test_multi_krum_detector_refuses_updates_of_different_sizes() -> None:
    with pytest.raises(UpdateMismatchError):
        MultiKrumDetector().detect([[1.0, 2.0], [1.0]])
    with pytest.raises(AggregatorValueError):
        MultiKrumDetector().detect([[1.0, float("nan")], [1.0, 2.0]])
    with pytest.raises(AggregatorValueError):
        MultiKrumDetector(select=0)

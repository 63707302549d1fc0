"""MUD-HoG (aggregator/detectors/mud_hog.py) over synthetic rounds."""

from __future__ import annotations

import numpy as np
import pytest

from aggregator.detectors.mud_hog import (
    MudHogDetector,
    classify_histories,
    cosine,
    spherical_two_means,
)
from aggregator.exceptions import AggregatorValueError, UpdateMismatchError

HONEST = range(6)
SIGN_FLIPPER, NOISE_ATTACKER, LABEL_FLIPPER, UNRELIABLE = 6, 7, 8, 9


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _rounds(seed: int = 0, rounds: int = 5, d: int = 200, attackers: bool = True) -> list[list[np.ndarray]]:
    """Each round: a true gradient g (unit norm, drifting); honest = g + a fixed non-IID bias
    (norm 0.3) + noise (norm 0.5); sign flipper = -(g + noise); noise attacker = g + noise of
    norm 5; label flipper = a fixed other direction + 0.3 g + noise; unreliable = 0.6 g +
    noise of norm 1.5."""
    rng = np.random.default_rng(seed)
    base, other = _unit(rng.normal(size=d)), _unit(rng.normal(size=d))
    bias = [0.3 * _unit(rng.normal(size=d)) for _ in HONEST]
    out = []
    for _ in range(rounds):
        g = _unit(base + 0.3 * _unit(rng.normal(size=d)))

        def noise(norm: float) -> np.ndarray:
            return norm * rng.normal(size=d) / np.sqrt(d)

        updates = [g + bias[i] + noise(0.5) for i in HONEST]
        if attackers:
            updates += [-(g + noise(0.5)), g + noise(5.0), other + 0.3 * g + noise(0.5), 0.6 * g + noise(1.5)]
        out.append(updates)
    return out


def test_mud_hog_labels_attackers_unreliable_and_honest_over_rounds() -> None:
    # Prepare
    detector = MudHogDetector()
    labels = []
    flags = []
    # Execute
    for updates in _rounds(seed=0):
        detection = detector.observe(updates)
        labels.append(detection.labels)
        flags.append(detection.flags)
    # Assert: every round
    for round_labels, round_flags in zip(labels, flags):
        assert all(round_labels[i] == "ok" and not round_flags[i] for i in HONEST)
        assert round_labels[SIGN_FLIPPER] == "sign_flip" and round_flags[SIGN_FLIPPER]
        assert round_labels[NOISE_ATTACKER] == "noise" and round_flags[NOISE_ATTACKER]
        assert round_flags[LABEL_FLIPPER]  # malicious in every round, whichever kind
        assert round_labels[UNRELIABLE] in ("unreliable", "label_flip")
        assert round_flags[UNRELIABLE] == (round_labels[UNRELIABLE] != "unreliable")
    # ... and the finer kinds in most rounds
    assert sum(r[LABEL_FLIPPER] == "label_flip" for r in labels) >= 4
    assert sum(r[UNRELIABLE] == "unreliable" for r in labels) >= 4
    assert detector.rounds == 5


def test_mud_hog_flags_nobody_in_an_honest_federation() -> None:
    detector = MudHogDetector()
    for updates in _rounds(seed=1, attackers=False):
        detection = detector.observe(updates)
        assert detection.labels == ("ok",) * 6
        assert not any(detection.flags)


def test_mud_hog_can_flag_unreliable_trainers_on_request() -> None:
    detector = MudHogDetector(flag_unreliable=True)
    for updates in _rounds(seed=0):
        detection = detector.observe(updates)
    assert detection.labels[UNRELIABLE] == "unreliable" and detection.flags[UNRELIABLE]


def test_mud_hog_keeps_absent_and_rejected_slots_out_of_the_history() -> None:
    rounds = _rounds(seed=0, rounds=2)
    detector = MudHogDetector()
    first = list(rounds[0])
    first[2] = None
    detection = detector.observe(first, rejected=[False] * 9 + [True])
    assert detection.labels[2] == "absent" and detection.labels[9] == "rejected"
    assert not detection.flags[2] and not detection.flags[9]
    assert 2 not in detector.long and 9 not in detector.long
    detector.observe(rounds[1])
    np.testing.assert_allclose(detector.long[2], rounds[1][2])
    np.testing.assert_allclose(detector.long[0], rounds[0][0] + rounds[1][0])
    np.testing.assert_allclose(detector.short(0), (rounds[0][0] + rounds[1][0]) / 2)


def test_mud_hog_short_history_is_a_moving_window() -> None:
    detector = MudHogDetector(short_window=2)
    for value in (1.0, 2.0, 4.0):
        detector.observe([np.full(3, value), np.full(3, value)])
    np.testing.assert_allclose(detector.short(0), np.full(3, 3.0))
    np.testing.assert_allclose(detector.long[0], np.full(3, 7.0))
    detector.reset()
    assert detector.long == {} and detector.rounds == 0


def test_mud_hog_refuses_a_change_of_model_size() -> None:
    detector = MudHogDetector()
    detector.observe([np.ones(3), np.ones(3)])
    with pytest.raises(UpdateMismatchError):
        detector.observe([np.ones(4), np.ones(4)])
    with pytest.raises(AggregatorValueError):
        MudHogDetector(short_window=0)


def test_classify_histories_without_spread_labels_nobody_by_distance() -> None:
    long = np.array([[1.0, 0.0]] * 3 + [[1.0, 0.5]])
    result = classify_histories(long, long)
    assert result.short_median_distance == 0.0
    assert result.labels == ("ok",) * 4


def test_spherical_two_means_is_deterministic_and_separates_directions() -> None:
    x = np.array([[1.0, 0.0], [0.9, 0.1], [1.0, 0.05], [0.0, 1.0], [0.1, 0.9]])
    assert spherical_two_means(x).tolist() in ([0, 0, 0, 1, 1], [1, 1, 1, 0, 0])
    assert spherical_two_means(np.ones((3, 2))).tolist() == [0, 0, 0]
    assert cosine(np.zeros(2), np.ones(2)) == 0.0

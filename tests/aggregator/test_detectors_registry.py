"""The detector registry and the common interface (aggregator/detectors/__init__.py)."""

from __future__ import annotations

import numpy as np
import pytest

from aggregator.detectors import (
    DETECTORS,
    Detection,
    Detector,
    MudHogDetector,
    detect,
    make_detector,
)
from aggregator.exceptions import UnknownDetectorError
from market.exceptions import MarketError
from market.task_spec import ScoringSection
from zk.protocol.rule import ProvableRoundResult

SKETCHES = [[10, 11, 12], [11, 10, 12], [12, 12, 10], [11, 11, 11], [-500, 900, 7], None]


def test_registry_holds_every_detector_the_task_spec_allows() -> None:
    allowed = set(ScoringSection.model_fields["detector"].annotation.__args__)
    # the root-of-trust rule reads the round's reference sketch too, so it is no Detector over the
    # updates alone: the round pipeline calls zk.protocol.reference_rule.reference_round itself
    assert set(DETECTORS) | {"reference"} == allowed == {"reference", "provable", "multi_krum", "mud_hog"}
    assert ScoringSection().detector == "provable"


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_follows_the_protocol_and_flags_the_outlier(name: str) -> None:
    detector = make_detector(name)
    assert isinstance(detector, Detector) and detector.name == name
    detection = detector.detect(SKETCHES, rejected=[False] * 6)
    assert isinstance(detection, Detection)
    assert len(detection.flags) == len(detection.labels) == len(detection.statistics) == 6
    assert detection.flags[4] and not any(detection.flags[:4]) and not detection.flags[5]
    assert detection.labels[5] == "absent"


def test_detect_by_name_passes_options() -> None:
    detection = detect("provable", SKETCHES, tau=4.0)
    assert isinstance(detection.detail, ProvableRoundResult)
    assert detection.flags_mask == 1 << 4 == detection.detail.flags_mask
    loose = detect("provable", SKETCHES, tau=1e6)
    assert not any(loose.flags)


def test_unknown_detector_is_a_clean_market_error() -> None:
    with pytest.raises(UnknownDetectorError, match="known: mud_hog, multi_krum, provable") as info:
        make_detector("krum++")
    assert isinstance(info.value, MarketError) and isinstance(info.value, ValueError)


def test_make_detector_gives_a_fresh_stateful_mud_hog() -> None:
    a = make_detector("mud_hog", short_window=2)
    a.detect([np.ones(2), np.ones(2)])
    b = make_detector("mud_hog")
    assert isinstance(b, MudHogDetector) and b.rounds == 0 and a.rounds == 1

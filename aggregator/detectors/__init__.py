"""Outlier detectors, one a module, behind one interface and one registry.

Each detector is a thin class over pure functions (the maths lives in the module's functions):

| name | module | looks at |
|---|---|---|
| ``"provable"`` | :mod:`aggregator.detectors.provable` | the committed sketches (exact integers); the default |
| ``"multi_krum"`` | :mod:`aggregator.detectors.multi_krum` | full updates or sketches |
| ``"mud_hog"`` | :mod:`aggregator.detectors.mud_hog` | full updates over rounds (keeps history) |

The task spec's ``scoring.detector`` names one. :func:`make_detector` builds it; keep the
instance for the whole task, since MUD-HoG remembers earlier rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aggregator.detectors.base import ABSENT, OK, OUTLIER, REJECTED, Detection, Detector
from aggregator.detectors.mud_hog import MudHogDetector
from aggregator.detectors.multi_krum import MultiKrumDetector
from aggregator.detectors.provable import ProvableDetector
from aggregator.exceptions import UnknownDetectorError

__all__ = [
    "ABSENT",
    "DETECTORS",
    "OK",
    "OUTLIER",
    "REJECTED",
    "Detection",
    "Detector",
    "MudHogDetector",
    "MultiKrumDetector",
    "ProvableDetector",
    "detect",
    "make_detector",
]

#: The registry: policy name → detector class (each takes keyword-only options).
DETECTORS: dict[str, type] = {
    ProvableDetector.name: ProvableDetector,
    MultiKrumDetector.name: MultiKrumDetector,
    MudHogDetector.name: MudHogDetector,
}


def make_detector(name: str, **options: Any) -> Detector:
    """A new detector for a scoring policy's name, e.g. ``make_detector("provable", tau=4.0)``."""
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise UnknownDetectorError(f"unknown detector {name!r}; known: {', '.join(sorted(DETECTORS))}") from None
    return cls(**options)


def detect(name: str, updates: Sequence[Any | None], *, rejected: Sequence[bool] | None = None,
           **options: Any) -> Detection:
    """One round through a fresh detector. For MUD-HoG, whose verdicts depend on earlier rounds,
    keep a :func:`make_detector` instance across rounds instead."""
    return make_detector(name, **options).detect(updates, rejected=rejected)

"""The provable rule as a detector: a thin class over :mod:`zk.protocol.rule`.

The rule itself (flags and scores from the committed sketches, in exact integers) is protocol
core: it lives once, in :mod:`zk.protocol.rule`, which the service, the audit, the benchmarks
and the zk witness builder all import. This module only adapts it to the
:class:`~aggregator.detectors.base.Detector` protocol (labels and statistics per slot).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from aggregator.detectors.base import ABSENT, OK, OUTLIER, REJECTED, Detection
from zk.protocol.params import DEFAULT_TAU
from zk.protocol.rule import TAU_DENOMINATOR, Sketch, provable_round, tau_fraction

__all__ = ["ProvableDetector"]


class ProvableDetector:
    """The provable rule as a :class:`~aggregator.detectors.base.Detector` over sketches.

    ``detect`` takes one sketch (k integers) or None per slot; the Detection's ``detail`` is
    the :class:`ProvableRoundResult` (scores and g included) and its statistics the distances.
    """

    name = "provable"

    def __init__(self, *, tau: float = DEFAULT_TAU, tau_denominator: int = TAU_DENOMINATOR, k: int | None = None,
                 bound: int | None = None) -> None:
        self.tau_num, self.tau_den = tau_fraction(tau, denominator=tau_denominator)
        self.k = k
        self.bound = bound

    def detect(self, updates: Sequence[Sketch | None], *, rejected: Sequence[bool] | None = None) -> Detection:
        """Run :func:`provable_round` on the round's sketches."""
        result = provable_round(updates, rejected, tau_num=self.tau_num, tau_den=self.tau_den, k=self.k,
                                bound=self.bound)
        rejected = rejected if rejected is not None else [False] * len(updates)
        labels = tuple(
            REJECTED if r else ABSENT if s is None else OUTLIER if f else OK
            for s, r, f in zip(updates, rejected, result.flags)
        )
        stats = tuple(float(d) if a else math.nan for d, a in zip(result.distances, result.active))
        return Detection(flags=result.flags, labels=labels, statistics=stats, detail=result)

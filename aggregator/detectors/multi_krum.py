"""Multi-Krum: keep the m updates closest to their neighbours, flag the rest.

Blanchard, El Mhamdi, Guerraoui and Stainer, "Machine Learning with Adversaries: Byzantine
Tolerant Gradient Descent", NeurIPS 2017. With n updates of which at most f are Byzantine,
the Krum score of update i is the sum of squared Euclidean distances to its ``n - f - 2``
nearest other updates; Multi-Krum selects the m updates with the lowest scores (m = n - f by
default) and averages them. Here the selection is the detector's verdict: the n - m others are
flagged. As in Flower's ``aggregate_krum``, the neighbour count is ``max(1, n - f - 2)`` so small
rounds still work (Blanchard's guarantee needs ``n > 2f + 2``). Ties in score go to the lower slot.

Works on full updates or on sketches alike (anything :func:`~aggregator.detectors.base.to_vector`
takes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from aggregator.detectors.base import (
    ABSENT,
    OK,
    OUTLIER,
    REJECTED,
    Detection,
    active_slots,
    stack_vectors,
)
from aggregator.exceptions import AggregatorValueError

__all__ = [
    "MultiKrumDetector",
    "default_byzantine",
    "krum_scores",
    "multi_krum_select",
    "pairwise_squared_distances",
]


def pairwise_squared_distances(vectors: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``D[i, j] = ‖x_i - x_j‖²`` for the rows of an ``n × d`` matrix, from differences (not
    the Gram trick, which cancels catastrophically for nearby updates)."""
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise AggregatorValueError(f"expected an n × d matrix, got shape {x.shape}")
    n = x.shape[0]
    out = np.zeros((n, n))
    for i in range(n - 1):
        diff = x[i + 1 :] - x[i]
        row = np.einsum("ij,ij->i", diff, diff)
        out[i, i + 1 :] = row
        out[i + 1 :, i] = row
    return out


def default_byzantine(n: int) -> int:
    """The largest f Krum tolerates among n updates: ``n > 2f + 2``, i.e. ``max(0, (n - 3) // 2)``."""
    return max(0, (n - 3) // 2)


def krum_scores(vectors: npt.ArrayLike, *, byzantine: int) -> npt.NDArray[np.float64]:
    """Each row's Krum score: the sum of its ``max(1, n - f - 2)`` smallest squared distances
    to the other rows (0 when it is alone)."""
    dist = pairwise_squared_distances(vectors)
    n = dist.shape[0]
    if isinstance(byzantine, bool) or not 0 <= byzantine < max(n, 1):
        raise AggregatorValueError(f"byzantine must be in [0, {max(n - 1, 0)}] for {n} updates, got {byzantine}")
    if n <= 1:
        return np.zeros(n)
    closest = min(max(1, n - byzantine - 2), n - 1)
    others = np.sort(dist + np.diag(np.full(n, np.inf)), axis=1)[:, :closest]
    return others.sum(axis=1)


def multi_krum_select(vectors: npt.ArrayLike, *, byzantine: int, select: int | None = None) -> npt.NDArray[np.int64]:
    """The indices (rows) Multi-Krum keeps: the ``select`` lowest Krum scores (default
    ``n - byzantine``), in increasing score order, ties to the lower index."""
    scores = krum_scores(vectors, byzantine=byzantine)
    n = scores.shape[0]
    m = n - byzantine if select is None else select
    if not 1 <= m <= n and n > 0:
        raise AggregatorValueError(f"select must be in [1, {n}], got {m}")
    return np.argsort(scores, kind="stable")[:m].astype(np.int64)


class MultiKrumDetector:
    """Multi-Krum as a :class:`~aggregator.detectors.base.Detector`.

    Args:
        byzantine: f, the number of Byzantine trainers assumed; default
            :func:`default_byzantine` of the round's number of active slots.
        select: m, how many to keep; default ``n - f``.
    """

    name = "multi_krum"

    def __init__(self, *, byzantine: int | None = None, select: int | None = None) -> None:
        if byzantine is not None and (isinstance(byzantine, bool) or byzantine < 0):
            raise AggregatorValueError(f"byzantine must be a non-negative integer, got {byzantine!r}")
        if select is not None and (isinstance(select, bool) or select < 1):
            raise AggregatorValueError(f"select must be a positive integer, got {select!r}")
        self.byzantine = byzantine
        self.select = select

    def detect(self, updates: Sequence[Any | None], *, rejected: Sequence[bool] | None = None) -> Detection:
        """Flag the active slots that Multi-Krum does not select."""
        slots = active_slots(updates, rejected)
        n = len(updates)
        flags = [False] * n
        stats = [float("nan")] * n
        if slots:
            x = stack_vectors(updates, slots)
            f = default_byzantine(len(slots)) if self.byzantine is None else min(self.byzantine, len(slots) - 1)
            m = None if self.select is None else min(self.select, len(slots))
            scores = krum_scores(x, byzantine=f)
            m = len(slots) - f if m is None else m
            keep = set(np.argsort(scores, kind="stable")[:m].tolist())  # as multi_krum_select
            for row, slot in enumerate(slots):
                stats[slot] = float(scores[row])
                flags[slot] = row not in keep
        rej = rejected if rejected is not None else [False] * n
        labels = tuple(
            REJECTED if r else ABSENT if u is None else OUTLIER if fl else OK for u, r, fl in zip(updates, rej, flags)
        )
        return Detection(flags=tuple(flags), labels=labels, statistics=tuple(stats), detail=None)

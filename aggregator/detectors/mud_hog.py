"""A history-based detector in the spirit of MUD-HoG.

Gupta, Luo, Ngo and Das, "Long-Short History of Gradients is All You Need: Detecting
Malicious and Unreliable Clients in Federated Learning", ESORICS 2022 (arXiv 2208.10273).
Each trainer has a **long history** (the sum of all its updates so far) and a **short
history** (the mean of its last ``short_window`` updates). One round's verdict, over the
trainers that submitted in it, in the paper's order:

1. **sign flip**: cosine of the long history to the coordinate-wise median of the long
   histories below ``sign_flip_cosine`` (0: pointing against the crowd).
2. **noise** (additive noise, untargeted): among the rest, ``e_i = ‖short_i - median(short)‖``
   (median over the rest). Noise cancels in a long history but not in a short one. With ``ē``
   the median of the e_i, ``e_i > noise_ratio · ē`` is noise.
3. **label flip** (targeted): the remaining long histories' directions are split in two by
   spherical 2-means (deterministic: seeded with the two least similar directions, Lloyd
   iterations); when the smaller cluster is a strict minority and the cosine between the two
   centroids is below ``label_flip_cosine``, its members are label flippers: they pull
   consistently in another direction.
4. **unreliable**: among the rest, ``e_i > unreliable_ratio · ē``: an honest-looking but
   low-quality trainer (noisy labels, blurred data), kept apart from the malicious kinds and
   not flagged unless ``flag_unreliable``.

Departures from the paper and its reference code, all for determinism and no clustering
library: the paper's code takes the sign-flip cosine on short histories, here the long one
(steady under per-round non-IID variance; a trainer who turns late is caught once its flipped
rounds dominate its sum); noise and unreliable are split by ratios to the median distance
(the code uses DBSCAN, a largest-gap split and a cosine for unreliable); label flip adds the
centroid-cosine guard so that an honest round with no attacker is not split in two; and there
is no delayed decision over consecutive rounds (each round's verdict stands alone, on the
whole history). When ``ē = 0`` (a majority of identical short histories) steps 2 and 4 label
nobody, as the provable rule does when its median distance is 0.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from aggregator.detectors.base import ABSENT, OK, REJECTED, Detection, active_slots, to_vector
from aggregator.exceptions import AggregatorValueError, UpdateMismatchError

__all__ = [
    "LABEL_FLIP",
    "MALICIOUS",
    "NOISE",
    "SIGN_FLIP",
    "UNRELIABLE",
    "MudHogDetector",
    "MudHogResult",
    "classify_histories",
    "cosine",
    "spherical_two_means",
]

SIGN_FLIP = "sign_flip"
NOISE = "noise"
LABEL_FLIP = "label_flip"
UNRELIABLE = "unreliable"
#: The labels that mean an attack (always flagged).
MALICIOUS = frozenset({SIGN_FLIP, NOISE, LABEL_FLIP})


def cosine(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    """The cosine of two vectors, 0 when either is zero."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def _unit_rows(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def spherical_two_means(directions: npt.ArrayLike, *, max_iterations: int = 100) -> npt.NDArray[np.int64]:
    """Split the rows in two clusters by cosine (spherical k-means, k = 2), deterministically:
    the seeds are the two least similar rows (first such pair), points go to the more similar
    centroid (ties to cluster 0), iterated until the assignment no longer changes."""
    u = _unit_rows(np.asarray(directions, dtype=np.float64))
    n = u.shape[0]
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    sim = u @ u.T
    a, b = np.unravel_index(int(np.argmin(sim)), sim.shape)
    centroids = np.stack([u[a], u[b]])
    assign = np.full(n, -1, dtype=np.int64)
    for _ in range(max_iterations):
        new = (u @ centroids[1] > u @ centroids[0]).astype(np.int64)
        if np.array_equal(new, assign) or new.min() == new.max():
            assign = new
            break
        assign = new
        centroids = np.stack([u[assign == c].mean(axis=0) for c in (0, 1)])
    return assign


@dataclass(frozen=True)
class MudHogResult:
    """The verdict on the rows given to :func:`classify_histories`.

    Attributes:
        labels: per row, ``"ok"``, ``"sign_flip"``, ``"noise"``, ``"label_flip"`` or ``"unreliable"``.
        long_cosine: per row, cosine of the long history to the median long history.
        short_distance: per row, ``e_i`` (NaN for rows labelled sign flip in step 1).
        short_median_distance: ``ē``.
        cluster_cosine: the cosine between the two direction clusters of step 3 (NaN if not run).
    """

    labels: tuple[str, ...]
    long_cosine: tuple[float, ...]
    short_distance: tuple[float, ...]
    short_median_distance: float
    cluster_cosine: float


def _flag_sign_flips(lh: npt.NDArray[np.float64], labels: list[str], threshold: float) -> npt.NDArray[np.float64]:
    """Step 1: label ``SIGN_FLIP`` where the long history points against the median long
    history (cosine below ``threshold``); returns the cosines."""
    med_long = np.median(lh, axis=0)
    cos_long = np.array([cosine(lh[i], med_long) for i in range(len(labels))])
    for i in range(len(labels)):
        if cos_long[i] < threshold:
            labels[i] = SIGN_FLIP
    return cos_long


def _flag_noise(sh: npt.NDArray[np.float64], labels: list[str], noise_ratio: float) -> tuple[npt.NDArray[np.float64], float]:
    """Step 2: ``e_i`` = distance of the short history to the median short history of the
    rows still ``OK``; label ``NOISE`` where ``e_i > noise_ratio · ē``. Returns ``(e, ē)``."""
    n = len(labels)
    rest = [i for i in range(n) if labels[i] == OK]
    e = np.full(n, np.nan)
    e_med = float("nan")
    if rest:
        med_short = np.median(sh[rest], axis=0)
        for i in rest:
            e[i] = float(np.linalg.norm(sh[i] - med_short))
        e_med = float(np.median(e[rest]))
        if e_med > 0:
            for i in rest:
                if e[i] > noise_ratio * e_med:
                    labels[i] = NOISE
    return e, e_med


def _flag_label_flips(lh: npt.NDArray[np.float64], labels: list[str], threshold: float) -> float:
    """Step 3: split the ``OK`` rows' long-history directions in two; a strict minority whose
    centroid cosine to the other is below ``threshold`` is ``LABEL_FLIP``. Returns that
    cosine (NaN when not run)."""
    rest = [i for i in range(len(labels)) if labels[i] == OK]
    cluster_cos = float("nan")
    if len(rest) < 3:
        return cluster_cos
    assign = spherical_two_means(lh[rest])
    sizes = np.bincount(assign, minlength=2)
    if sizes.min() > 0:
        units = _unit_rows(lh[rest])
        cluster_cos = cosine(units[assign == 0].mean(axis=0), units[assign == 1].mean(axis=0))
        small = int(np.argmin(sizes))
        if 2 * sizes[small] < len(rest) and cluster_cos < threshold:
            for row, i in enumerate(rest):
                if assign[row] == small:
                    labels[i] = LABEL_FLIP
    return cluster_cos


def classify_histories(
    long: npt.ArrayLike,
    short: npt.ArrayLike,
    *,
    sign_flip_cosine: float = 0.0,
    noise_ratio: float = 4.0,
    unreliable_ratio: float = 1.5,
    label_flip_cosine: float = 0.5,
) -> MudHogResult:
    """Label each row of the long and short histories (both ``n × d``), steps 1–4 of the
    module docstring."""
    lh = np.asarray(long, dtype=np.float64)
    sh = np.asarray(short, dtype=np.float64)
    if lh.ndim != 2 or lh.shape != sh.shape:
        raise AggregatorValueError(f"long and short histories must be n × d alike, got {lh.shape} and {sh.shape}")
    if not 1 < unreliable_ratio <= noise_ratio:
        raise AggregatorValueError("need 1 < unreliable_ratio <= noise_ratio")
    n = lh.shape[0]
    labels = [OK] * n
    if n == 0:
        return MudHogResult((), (), (), float("nan"), float("nan"))
    cos_long = _flag_sign_flips(lh, labels, sign_flip_cosine)
    e, e_med = _flag_noise(sh, labels, noise_ratio)
    cluster_cos = _flag_label_flips(lh, labels, label_flip_cosine)
    # 4. unreliable: honest-looking, but far from the crowd
    if e_med > 0:
        for i in range(n):
            if labels[i] == OK and e[i] > unreliable_ratio * e_med:
                labels[i] = UNRELIABLE
    return MudHogResult(
        labels=tuple(labels),
        long_cosine=tuple(float(c) for c in cos_long),
        short_distance=tuple(float(v) for v in e),
        short_median_distance=e_med,
        cluster_cosine=cluster_cos,
    )


class MudHogDetector:
    """MUD-HoG over rounds: holds each slot's long and short history between rounds.

    Call :meth:`observe` (or :meth:`detect`, the same) once per round, in round order, with
    one update per slot (named tensors, a vector, or a sketch; None when the trainer did not
    submit). Rejected submissions do not enter the histories. Each round judges the slots that
    submitted in it, on their whole history so far.

    Args:
        short_window: rounds averaged in the short history.
        flag_unreliable: also flag ``"unreliable"`` trainers (by default only the malicious).
        sign_flip_cosine, noise_ratio, unreliable_ratio, label_flip_cosine: the thresholds of
            :func:`classify_histories`.
    """

    name = "mud_hog"

    def __init__(
        self,
        *,
        short_window: int = 3,
        flag_unreliable: bool = False,
        sign_flip_cosine: float = 0.0,
        noise_ratio: float = 4.0,
        unreliable_ratio: float = 1.5,
        label_flip_cosine: float = 0.5,
    ) -> None:
        if isinstance(short_window, bool) or short_window < 1:
            raise AggregatorValueError(f"short_window must be a positive integer, got {short_window!r}")
        self.short_window = short_window
        self.flag_unreliable = flag_unreliable
        self.thresholds = {
            "sign_flip_cosine": sign_flip_cosine,
            "noise_ratio": noise_ratio,
            "unreliable_ratio": unreliable_ratio,
            "label_flip_cosine": label_flip_cosine,
        }
        self.reset()

    def reset(self) -> None:
        """Forget every history."""
        self.long: dict[int, npt.NDArray[np.float64]] = {}
        self.recent: dict[int, deque[npt.NDArray[np.float64]]] = {}
        self.rounds = 0
        self._d: int | None = None

    def short(self, slot: int) -> npt.NDArray[np.float64]:
        """The short history of a slot: the mean of its last ``short_window`` updates."""
        return np.mean(np.stack(list(self.recent[slot])), axis=0)

    def observe(self, updates: Sequence[Any | None], *, rejected: Sequence[bool] | None = None) -> Detection:
        """Add the round's updates to the histories and judge the slots that submitted."""
        slots = active_slots(updates, rejected)
        vectors = {i: to_vector(updates[i]) for i in slots}
        for i, v in vectors.items():
            if self._d is None:
                self._d = v.shape[0]
            if v.shape[0] != self._d:
                raise UpdateMismatchError(f"slot {i} has {v.shape[0]} parameters, earlier updates had {self._d}")
        for i, v in vectors.items():
            self.long[i] = self.long[i] + v if i in self.long else v.copy()
            self.recent.setdefault(i, deque(maxlen=self.short_window)).append(v)
        self.rounds += 1

        n = len(updates)
        flags, stats = [False] * n, [float("nan")] * n
        rej = rejected if rejected is not None else [False] * n
        labels = [REJECTED if r else ABSENT if u is None else OK for u, r in zip(updates, rej)]
        result = None
        if slots:
            result = classify_histories(
                np.stack([self.long[i] for i in slots]),
                np.stack([self.short(i) for i in slots]),
                **self.thresholds,
            )
            for row, i in enumerate(slots):
                labels[i] = result.labels[row]
                stats[i] = result.short_distance[row]
                flags[i] = labels[i] in MALICIOUS or (self.flag_unreliable and labels[i] == UNRELIABLE)
        return Detection(flags=tuple(flags), labels=tuple(labels), statistics=tuple(stats), detail=result)

    detect = observe

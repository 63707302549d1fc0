"""What every outlier detector returns, and the protocol the registry holds.

A detector looks at one round's slots (one per joined trainer, in the task's trainer order)
and says which submissions it flags. A slot is ``None`` when its trainer did not submit, and
it is ignored when ``rejected`` marks it (intake refused the submission); neither is ever
flagged, since the contract allows no flag on a slot without a valid submission.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from aggregator.exceptions import AggregatorValueError, UpdateMismatchError
from zk.protocol.sketch import flatten_update

__all__ = [
    "ABSENT",
    "OK",
    "OUTLIER",
    "REJECTED",
    "Detection",
    "Detector",
    "active_slots",
    "stack_vectors",
    "to_vector",
]

#: Label of a slot whose trainer did not submit.
ABSENT = "absent"
#: Label of a slot that intake rejected.
REJECTED = "rejected"
#: Label of a submission the detector accepts.
OK = "ok"
#: Label of a flagged submission for detectors that do not tell kinds apart.
OUTLIER = "outlier"


@dataclass(frozen=True)
class Detection:
    """One round's verdict of a detector.

    Attributes:
        flags: per slot, True when the submission is flagged (it earns nothing this round).
        labels: per slot, ``"absent"``, ``"rejected"``, ``"ok"``, ``"outlier"`` or a kind
            of attack (MUD-HoG: ``"sign_flip"``, ``"noise"``, ``"label_flip"``, and
            ``"unreliable"`` for honest-looking low-quality submissions).
        statistics: per slot, the detector's own outlier statistic (the provable rule's
            distance, the Krum score, MUD-HoG's short-history distance), NaN where it has none.
        detail: the full result of the detector's pure function, for the audit transcript
            and the witness builder (e.g. :class:`~aggregator.detectors.provable.ProvableRoundResult`).
    """

    flags: tuple[bool, ...]
    labels: tuple[str, ...]
    statistics: tuple[float, ...]
    detail: Any = None

    @property
    def flags_mask(self) -> int:
        """The flags as the contract's bitmask: bit i set when slot i is flagged."""
        return sum(1 << i for i, flag in enumerate(self.flags) if flag)


@runtime_checkable
class Detector(Protocol):
    """A detector: :meth:`detect` is called once per round, in round order."""

    name: str

    def detect(self, updates: Sequence[Any | None], *, rejected: Sequence[bool] | None = None) -> Detection:
        """Flag the round's submissions; ``updates[i]`` is slot i's update, sketch, or None."""
        ...


def active_slots(updates: Sequence[object | None], rejected: Sequence[bool] | None) -> list[int]:
    """The slots that submitted and were not rejected, in slot order."""
    if rejected is None:
        rejected = [False] * len(updates)
    if len(rejected) != len(updates):
        raise AggregatorValueError(f"{len(updates)} slots but {len(rejected)} rejection marks")
    return [i for i, (u, r) in enumerate(zip(updates, rejected)) if u is not None and not bool(r)]


def to_vector(update: Mapping[str, npt.ArrayLike] | npt.ArrayLike) -> npt.NDArray[np.float64]:
    """An update as one float64 vector: named tensors in the sketch's order (sorted names, C
    order, see :func:`zk.protocol.sketch.flatten_update`), or any array-like flattened."""
    if isinstance(update, Mapping):
        parts = [np.asarray(p, dtype=np.float64) for p in flatten_update(update)]
        vector = np.concatenate(parts) if parts else np.zeros(0)
    else:
        vector = np.asarray(update, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(vector)):
        raise AggregatorValueError("an update holds NaN or infinite values")
    return vector


def stack_vectors(updates: Sequence[Any], slots: Sequence[int]) -> npt.NDArray[np.float64]:
    """The updates of ``slots`` as rows of one float64 matrix (all of the same length)."""
    rows = [to_vector(updates[i]) for i in slots]
    if not rows:
        return np.zeros((0, 0))
    d = rows[0].shape[0]
    for i, row in zip(slots, rows):
        if row.shape[0] != d:
            raise UpdateMismatchError(f"slot {i} has {row.shape[0]} parameters, slot {slots[0]} has {d}")
    return np.stack(rows)

"""Weighted FedAvg of the accepted updates, streaming.

McMahan, Moore, Ramage, Hampson and Agüera y Arcas, "Communication-Efficient Learning of Deep
Networks from Decentralized Data", AISTATS 2017: the new global model is the old one plus the
mean of the trainers' updates weighted by their sample counts,
``Δ = Σ_i n_i Δ_i / Σ_i n_i``.

The updates arrive one at a time (an iterable or a generator that fetches and decrypts them
lazily) and only a running weighted sum of one model's size is kept, so memory is O(d) whatever
the number of trainers, never O(n·d): per tensor a float64 accumulator, plus one float64 scratch
buffer as large as the largest tensor. Sums are taken in float64 whatever the input dtype and
cast to the output dtype (the task spec's ``training.dtype``: float32 or float64) at the end.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from aggregator.exceptions import AggregatorValueError, EmptyAggregationError, UpdateMismatchError
from market.tracing import traced

__all__ = ["ALLOWED_DTYPES", "FedAvgAccumulator", "apply_to", "fedavg"]

#: Output dtypes a task may ask for.
ALLOWED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

Update = Mapping[str, npt.ArrayLike]


def _out_dtype(dtype: npt.DTypeLike | None) -> np.dtype[Any] | None:
    if dtype is None:
        return None
    dt = np.dtype(dtype)
    if dt not in ALLOWED_DTYPES:
        raise AggregatorValueError(f"the aggregate's dtype must be float32 or float64, got {dt}")
    return dt


def _check_weight(weight: float) -> float:
    if isinstance(weight, bool):
        raise AggregatorValueError("a weight must be a number (a sample count), not a bool")
    try:
        w = float(weight)
    except (TypeError, ValueError):
        raise AggregatorValueError(f"a weight must be a number, got {weight!r}") from None
    if not math.isfinite(w) or w <= 0:
        raise AggregatorValueError(f"a weight must be finite and positive, got {weight!r}")
    return w


def _as_array(name: object, value: npt.ArrayLike) -> npt.NDArray[Any]:
    if not isinstance(name, str):
        raise AggregatorValueError(f"tensor names must be strings, got {name!r}")
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise AggregatorValueError(f"tensor {name!r} has dtype {arr.dtype}; expected a real number type")
    return arr


class FedAvgAccumulator:
    """A running weighted sum of updates (named tensors) and of their weights.

    Args:
        dtype: the dtype of :meth:`result` (float32 or float64); default: each tensor's dtype
            in the first update when that is float32 or float64, else float64.
    """

    def __init__(self, *, dtype: npt.DTypeLike | None = None) -> None:
        self.dtype = _out_dtype(dtype)
        self.count = 0
        self.total_weight = 0.0
        self._sums: dict[str, npt.NDArray[np.float64]] = {}
        self._dtypes: dict[str, np.dtype[Any]] = {}
        self._scratch = np.empty(0, dtype=np.float64)

    @traced("aggregation.add")
    def add(self, weight: float, update: Update) -> None:
        """Add ``weight · update`` to the sum. The first update fixes the tensor names and
        shapes; every later one must have exactly the same."""
        w = _check_weight(weight)
        if not isinstance(update, Mapping) or not update:
            raise AggregatorValueError("an update must be a non-empty mapping of tensor names to arrays")
        arrays = {name: _as_array(name, value) for name, value in update.items()}
        if self.count == 0:
            for name, arr in arrays.items():
                self._sums[name] = np.zeros(arr.shape, dtype=np.float64)
                self._dtypes[name] = arr.dtype if arr.dtype in ALLOWED_DTYPES else np.dtype(np.float64)
        else:
            if arrays.keys() != self._sums.keys():
                missing = sorted(self._sums.keys() - arrays.keys())
                extra = sorted(arrays.keys() - self._sums.keys())
                raise UpdateMismatchError(
                    f"update {self.count} has different tensors: missing {missing}, extra {extra}"
                )
            for name, arr in arrays.items():
                if arr.shape != self._sums[name].shape:
                    raise UpdateMismatchError(
                        f"update {self.count}: tensor {name!r} has shape {arr.shape}, expected {self._sums[name].shape}"
                    )
        # check every tensor before touching the sums, so a refused update leaves no trace
        for name, arr in arrays.items():
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise AggregatorValueError(f"update {self.count}: tensor {name!r} holds NaN or infinite values")
        for name, arr in arrays.items():
            if self._scratch.size < arr.size:
                self._scratch = np.empty(arr.size, dtype=np.float64)
            product = self._scratch[: arr.size].reshape(arr.shape)
            np.multiply(arr, w, out=product, dtype=np.float64)
            np.add(self._sums[name], product, out=self._sums[name])
        self.count += 1
        self.total_weight += w

    @traced("aggregation.result")
    def result(self) -> dict[str, npt.NDArray[Any]]:
        """The weighted mean, ``Σ w_i u_i / Σ w_i``, tensor by tensor, in the output dtype."""
        if self.count == 0:
            raise EmptyAggregationError("nothing to aggregate: no accepted update")
        out = {}
        for name, total in self._sums.items():
            dt = self.dtype or self._dtypes[name]
            out[name] = (total / self.total_weight).astype(dt, copy=False)
        return out


def fedavg(
    updates: Iterable[tuple[float, Update]], *, dtype: npt.DTypeLike | None = None
) -> dict[str, npt.NDArray[Any]]:
    """The weighted mean of ``(weight, update)`` pairs, consumed one at a time (pass a
    generator to keep memory O(d)). Raises :class:`EmptyAggregationError` when there is none."""
    acc = FedAvgAccumulator(dtype=dtype)
    for item in updates:
        try:
            weight, update = item
        except (TypeError, ValueError):
            raise AggregatorValueError("each item must be a (weight, update) pair") from None
        acc.add(weight, update)
    return acc.result()


@traced("aggregation.apply_to")
def apply_to(global_state: Update, mean_delta: Update) -> dict[str, npt.NDArray[Any]]:
    """The new global model ``w + Δ``, tensor by tensor, in each global tensor's dtype (the
    sum is taken in float64 and rounded once)."""
    if global_state.keys() != mean_delta.keys():
        missing = sorted(global_state.keys() - mean_delta.keys())
        extra = sorted(mean_delta.keys() - global_state.keys())
        raise UpdateMismatchError(f"the update does not match the model: missing {missing}, extra {extra}")
    out = {}
    for name, value in global_state.items():
        w = _as_array(name, value)
        delta = _as_array(name, mean_delta[name])
        if w.shape != delta.shape:
            raise UpdateMismatchError(f"tensor {name!r}: model shape {w.shape}, update shape {delta.shape}")
        dt = w.dtype if w.dtype in ALLOWED_DTYPES else np.dtype(np.float64)
        out[name] = (w.astype(np.float64) + delta.astype(np.float64)).astype(dt, copy=False)
    return out

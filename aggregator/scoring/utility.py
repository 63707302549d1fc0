"""Utilities (set functions) for the validation-utility scorers, and their memoisation.

Every scorer takes ``utility(subset) -> float``: the value of a coalition of players
``0 … n-1``, given as a ``frozenset[int]``. In the market a player is a trainer of the round
and ``U(S)`` is the validation accuracy (or negative loss) of the global model plus the FedAvg
of S's updates, ``U(∅)`` that of the global model unchanged: no retraining, the round's
updates are reused (as GTG-Shapley does). :func:`fedavg_subset_utility` builds that utility
from the updates and a model-specific ``evaluate`` supplied by the caller (which may use torch);
the scorers themselves never see a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import numpy.typing as npt

from aggregator.exceptions import AggregatorValueError, UpdateMismatchError

__all__ = ["MemoisedUtility", "Utility", "check_players", "fedavg_subset_utility", "memoise"]

Utility = Callable[[frozenset[int]], float]


class MemoisedUtility:
    """A utility that evaluates each coalition once; ``evaluations`` counts the real calls.

    Coalitions may be given as any iterable of player indices; they are keyed as frozensets.
    A non-finite value is refused (it would poison every average it enters).
    """

    def __init__(self, utility: Callable[[frozenset[int]], float]) -> None:
        self._utility = utility
        self._cache: dict[frozenset[int], float] = {}
        self.evaluations = 0

    def __call__(self, subset: Iterable[int]) -> float:
        key = subset if isinstance(subset, frozenset) else frozenset(subset)
        value = self._cache.get(key)
        if value is None:
            value = float(self._utility(key))
            if not np.isfinite(value):
                raise AggregatorValueError(f"the utility of {sorted(key)} is {value}")
            self._cache[key] = value
            self.evaluations += 1
        return value


def memoise(utility: Callable[[frozenset[int]], float]) -> MemoisedUtility:
    """``utility`` memoised (returned as is when it already is)."""
    return utility if isinstance(utility, MemoisedUtility) else MemoisedUtility(utility)


def check_players(n: int) -> int:
    """``n`` as a player count (a non-negative integer)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise AggregatorValueError(f"the number of players must be a non-negative integer, got {n!r}")
    return int(n)


def fedavg_subset_utility(
    *,
    updates: Sequence[npt.ArrayLike],
    weights: Sequence[float],
    evaluate: Callable[[npt.NDArray[np.float64]], float],
) -> MemoisedUtility:
    """``U(S) = evaluate(Σ_{i∈S} w_i u_i / Σ_{i∈S} w_i)`` and ``U(∅) = evaluate(0)``, memoised.

    Args:
        updates: per player, its update as one flat vector (all of the same length).
        weights: per player, its FedAvg weight (sample count), positive.
        evaluate: the validation utility of the global model plus a mean update (a flat
            float64 vector); e.g. accuracy on the owner's validation set.
    """
    vectors = [np.asarray(u, dtype=np.float64).reshape(-1) for u in updates]
    if len(weights) != len(vectors):
        raise AggregatorValueError(f"{len(vectors)} updates but {len(weights)} weights")
    if vectors and any(v.shape != vectors[0].shape for v in vectors):
        raise UpdateMismatchError("the updates differ in length")
    w = np.asarray(weights, dtype=np.float64)
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise AggregatorValueError("weights must be finite and positive")
    d = vectors[0].shape[0] if vectors else 0

    def utility(subset: frozenset[int]) -> float:
        if not subset:
            return float(evaluate(np.zeros(d)))
        members = sorted(subset)
        mean = np.zeros(d)
        for i in members:
            mean += w[i] * vectors[i]
        return float(evaluate(mean / w[members].sum()))

    return MemoisedUtility(utility)

"""Exact Shapley values of a set function, by enumerating every coalition.

Shapley, "A Value for n-Person Games", Contributions to the Theory of Games II (1953):

    φ_i = Σ_{S ⊆ N∖{i}} |S|! (n - |S| - 1)! / n! · (U(S ∪ {i}) - U(S))

The utility is evaluated once on each of the 2^n coalitions (memoised), so this is for small
rounds: n ≤ 10 is 1024 evaluations; :data:`MAX_EXACT_PLAYERS` is a hard stop. The estimators
(:mod:`~aggregator.scoring.shapley_tmc`, :mod:`~aggregator.scoring.gtg_shapley`) are measured
against it.
"""

from __future__ import annotations

from collections.abc import Callable
from math import factorial

import numpy as np
import numpy.typing as npt

from aggregator.exceptions import AggregatorValueError
from aggregator.scoring.utility import check_players, memoise

__all__ = ["MAX_EXACT_PLAYERS", "exact_shapley", "shapley_weights"]

#: Exact Shapley refuses more players than this (2^16 utility evaluations): the algorithm's hard
#: stop. The round pipeline stops earlier, at
#: :data:`aggregator.round_pipeline.SERVICE_EXACT_PLAYERS`.
MAX_EXACT_PLAYERS = 16


def shapley_weights(n: int) -> npt.NDArray[np.float64]:
    """``w[s] = s! (n - s - 1)! / n!``, the weight of a marginal contribution to a coalition of
    size s, for s = 0 … n-1."""
    return np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)], dtype=np.float64)


def exact_shapley(n: int, utility: Callable[[frozenset[int]], float]) -> npt.NDArray[np.float64]:
    """The Shapley value of each of the players ``0 … n-1`` of ``utility`` (float64, length n)."""
    n = check_players(n)
    if n > MAX_EXACT_PLAYERS:
        raise AggregatorValueError(f"exact Shapley enumerates 2^n coalitions; n = {n} exceeds {MAX_EXACT_PLAYERS}")
    if n == 0:
        return np.zeros(0)
    u = memoise(utility)
    masks = np.arange(1 << n)
    values = np.array([u(frozenset(i for i in range(n) if m >> i & 1)) for m in masks.tolist()])
    size = np.array([m.bit_count() for m in masks.tolist()])
    weights = shapley_weights(n)
    phi = np.empty(n)
    for i in range(n):
        without = masks[(masks >> i) & 1 == 0]
        phi[i] = np.sum(weights[size[without]] * (values[without | (1 << i)] - values[without]))
    return phi

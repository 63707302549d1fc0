"""GTG-Shapley: guided truncation gradient Shapley for federated learning.

Liu, Chen, Yu, Liu and Cui, "GTG-Shapley: Efficient and Accurate Participant Contribution
Evaluation in Federated Learning", ACM TIST 13(4), 2022. The players are one round's trainers
and ``U(S)`` the validation utility of the global model plus the FedAvg of S's updates
(:func:`~aggregator.scoring.utility.fedavg_subset_utility`): sub-models are **reconstructed from
the round's updates, never retrained**. Monte Carlo over permutations, with the paper's savings:

* **between-round truncation**: when ``|U(N) - U(∅)| < between_round_tol`` the round changed
  nothing worth sharing out and every value is 0 (default 0: never);
* **within-round truncation**: walking a permutation, once the coalition's utility is within
  ``within_round_tol · |U(N) - U(∅)|`` of U(N), the remaining players get 0 without evaluating;
* **guided sampling**: permutations come in groups of n, the k-th of a group starting with
  player k (the rest in random order), so every player's first-position marginal
  ``U({k}) - U(∅)``, the largest for most rounds, is sampled equally often.

Stopping: after ``max_iterations`` groups, or earlier when ``convergence_tol`` is set and a
group moved the estimate by less than that, relatively (``Σ|φ - φ_prev| / Σ|φ|``, after at
least ``min_iterations`` groups). Deterministic for a given ``seed`` (numpy's PCG64). The
tolerances are relative to the round's utility gain, where the paper uses absolute accuracy
thresholds; the effect is the same up to the scale of the utility.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from aggregator.exceptions import AggregatorValueError
from aggregator.scoring.shapley_tmc import relative_change
from aggregator.scoring.utility import check_players, memoise

__all__ = ["gtg_shapley"]


def gtg_shapley(
    n: int,
    utility: Callable[[frozenset[int]], float],
    *,
    max_iterations: int = 50,
    min_iterations: int = 3,
    within_round_tol: float = 0.01,
    between_round_tol: float = 0.0,
    convergence_tol: float | None = 0.01,
    seed: int = 0,
) -> npt.NDArray[np.float64]:
    """GTG-Shapley estimate of each player's Shapley value (float64, length n)."""
    n = check_players(n)
    if max_iterations < 1 or min_iterations < 1:
        raise AggregatorValueError("max_iterations and min_iterations must be positive")
    if within_round_tol < 0 or between_round_tol < 0:
        raise AggregatorValueError("tolerances must be >= 0")
    if n == 0:
        return np.zeros(0)
    u = memoise(utility)
    rng = np.random.default_rng(seed)
    empty, full = u(frozenset()), u(frozenset(range(n)))
    if abs(full - empty) < between_round_tol:
        return np.zeros(n)
    threshold = within_round_tol * abs(full - empty)
    phi = np.zeros(n)
    t = 0
    for iteration in range(1, max_iterations + 1):
        before = phi.copy()
        for first in range(n):
            others = [p for p in range(n) if p != first]
            order = [first, *(others[j] for j in rng.permutation(n - 1).tolist())]
            marginals = np.zeros(n)
            prev = empty
            for pos, player in enumerate(order):
                if abs(full - prev) < threshold:
                    break  # within-round truncation
                value = u(frozenset(order[: pos + 1]))
                marginals[player] = value - prev
                prev = value
            t += 1
            phi += (marginals - phi) / t
        if (convergence_tol is not None and iteration >= min_iterations
                and relative_change(phi, before) < convergence_tol):
            break
    return phi

"""Truncated Monte Carlo Shapley (TMC-Shapley).

Ghorbani and Zou, "Data Shapley: Equitable Valuation of Data for Machine Learning", ICML 2019,
Algorithm 1. Sample random permutations of the players; walk each one, adding players one at a
time, and credit each with its marginal utility; average over permutations. **Truncation**: once
the coalition's utility is within ``truncation_tol · |U(N) - U(∅)|`` of the full utility U(N),
the remaining players of that permutation get a marginal of 0 without evaluating the utility
(the rest of the walk cannot change much). With ``truncation_tol = 0`` nothing is truncated and
the estimate is unbiased.

Stopping: after ``permutations`` permutations, or earlier when ``convergence_tol`` is set and
the estimate moved by less than that, relatively (``Σ|φ - φ_prev| / Σ|φ|``), between two
checkpoints ``check_every`` permutations apart (default n). Deterministic for a given ``seed``
(numpy's PCG64).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from aggregator.exceptions import AggregatorValueError
from aggregator.scoring.utility import check_players, memoise

__all__ = ["relative_change", "tmc_shapley"]


def relative_change(new: npt.NDArray[np.float64], old: npt.NDArray[np.float64]) -> float:
    """``Σ|new - old| / Σ|new|`` (inf when new is all zeros and old is not, 0 when both are)."""
    den = float(np.abs(new).sum())
    num = float(np.abs(new - old).sum())
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / den


def tmc_shapley(
    n: int,
    utility: Callable[[frozenset[int]], float],
    *,
    permutations: int = 500,
    truncation_tol: float = 0.01,
    convergence_tol: float | None = None,
    check_every: int | None = None,
    seed: int = 0,
) -> npt.NDArray[np.float64]:
    """TMC-Shapley estimate of each player's Shapley value (float64, length n)."""
    n = check_players(n)
    if permutations < 1:
        raise AggregatorValueError(f"permutations must be positive, got {permutations}")
    if truncation_tol < 0:
        raise AggregatorValueError(f"truncation_tol must be >= 0, got {truncation_tol}")
    if n == 0:
        return np.zeros(0)
    u = memoise(utility)
    rng = np.random.default_rng(seed)
    empty, full = u(frozenset()), u(frozenset(range(n)))
    threshold = truncation_tol * abs(full - empty)
    every = n if check_every is None else max(1, check_every)
    phi = np.zeros(n)
    checkpoint = phi.copy()
    for t in range(1, permutations + 1):
        marginals = np.zeros(n)
        prev = empty
        order = rng.permutation(n).tolist()
        for pos, player in enumerate(order):
            if abs(full - prev) < threshold:
                break  # truncated: the rest of this walk contributes 0
            value = u(frozenset(order[: pos + 1]))
            marginals[player] = value - prev
            prev = value
        phi += (marginals - phi) / t
        if convergence_tol is not None and t % every == 0:
            if t > every and relative_change(phi, checkpoint) < convergence_tol:
                break
            checkpoint = phi.copy()
    return phi

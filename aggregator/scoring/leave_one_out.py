"""Leave-one-out contribution: what the coalition loses without each player.

``φ_i = U(N) - U(N ∖ {i})`` (n + 1 utility evaluations). Cook, "Detection of Influential
Observation in Linear Regression", Technometrics 1977, for the idea; used for federated
contribution by, among others, the FedML contribution assessors of Buyukates et al.
(arXiv 2302.14031). Cheap, but blind to redundancy: two trainers with the same data each get
about 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from aggregator.scoring.utility import check_players, memoise

__all__ = ["leave_one_out"]


def leave_one_out(n: int, utility: Callable[[frozenset[int]], float]) -> npt.NDArray[np.float64]:
    """Each player's leave-one-out value (float64, length n)."""
    n = check_players(n)
    u = memoise(utility)
    everyone = frozenset(range(n))
    full = u(everyone)
    return np.array([full - u(everyone - {i}) for i in range(n)], dtype=np.float64)

"""Contribution scoring, one method a module, all pure functions of a utility.

* :mod:`~aggregator.scoring.provable`: the paid, zk-proven score (Shapley value of the linear
  utility over sketches); exact integers; the computation lives in
  :mod:`zk.protocol.rule`.
* validation-utility values, reported in the audit transcript and the benchmarks:
  :func:`exact_shapley` (n ≤ 16), :func:`tmc_shapley` (truncated Monte Carlo),
  :func:`gtg_shapley` (GTG-Shapley) and :func:`leave_one_out`. Each takes the number of
  players and ``utility(frozenset[int]) -> float`` and returns a float64 array;
  :func:`fedavg_subset_utility` builds the FedAvg-of-the-round utility from the updates and an
  ``evaluate`` callable.

:data:`SCORERS` maps the task spec's ``scoring.validation_shapley`` names (``"exact"``,
``"tmc"``, ``"gtg"``, ``"loo"``) to these functions; :func:`score` calls one by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from aggregator.exceptions import AggregatorValueError
from aggregator.scoring.gtg_shapley import gtg_shapley
from aggregator.scoring.leave_one_out import leave_one_out
from aggregator.scoring.provable import linear_utility, provable_scores
from aggregator.scoring.shapley_exact import MAX_EXACT_PLAYERS, exact_shapley
from aggregator.scoring.shapley_tmc import tmc_shapley
from aggregator.scoring.utility import MemoisedUtility, Utility, fedavg_subset_utility, memoise

__all__ = [
    "MAX_EXACT_PLAYERS",
    "SCORERS",
    "MemoisedUtility",
    "Utility",
    "exact_shapley",
    "fedavg_subset_utility",
    "gtg_shapley",
    "leave_one_out",
    "linear_utility",
    "memoise",
    "provable_scores",
    "score",
    "tmc_shapley",
]

#: Validation-utility scorers by the task spec's names.
SCORERS: dict[str, Callable[..., npt.NDArray[np.float64]]] = {
    "exact": exact_shapley,
    "tmc": tmc_shapley,
    "gtg": gtg_shapley,
    "loo": leave_one_out,
}


def score(name: str, n: int, utility: Callable[[frozenset[int]], float], **options: Any) -> npt.NDArray[np.float64]:
    """``SCORERS[name](n, utility, **options)``; share one :func:`memoise` d utility between
    several calls so that each coalition is evaluated once per round."""
    try:
        fn = SCORERS[name]
    except KeyError:
        raise AggregatorValueError(f"unknown scorer {name!r}; known: {', '.join(sorted(SCORERS))}") from None
    return fn(n, utility, **options)

"""The provable score: the Shapley value of the linear utility over the accepted sketches.

DESIGN.md, a round, step 7; the computation itself lives once, in
:mod:`zk.protocol.rule` (flags and scores come from one rule, checked by one
circuit). This module adds the game the score solves:
``U(S) = ⟨Σ_{i∈S} s_i, g⟩`` over the accepted players G, with g the floor mean of the accepted
sketches. U is additive, so every marginal contribution of player i is ``⟨s_i, g⟩`` and that is
its exact Shapley value; the paid score clamps it at 0. Cosine-gradient style contribution as
in CGSV (Xu, Lyu, Ma, Miao, Foo and Low, "Gradient Driven Rewards to Guarantee Fairness in
Collaborative Machine Learning", NeurIPS 2021), without the normalisation so that it stays an
integer a circuit can check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from zk.protocol.rule import ProvableRoundResult, provable_round

__all__ = ["linear_utility", "provable_scores"]


def provable_scores(
    sketches: Sequence[Sequence[int] | None],
    rejected: Sequence[bool] | None = None,
    *,
    tau_num: int,
    tau_den: int,
) -> tuple[int, ...]:
    """The paid scores of :func:`provable_round` alone, as exact Python integers (they exceed
    int64: up to 2^85 for default sketches)."""
    return provable_round(sketches, rejected, tau_num=tau_num, tau_den=tau_den).scores


def linear_utility(
    sketches: Sequence[Sequence[int] | None], result: ProvableRoundResult
) -> Callable[[frozenset[int]], int]:
    """The game whose Shapley values are ``result.inner_products``: a function of a coalition
    of slots returning the exact integer ``⟨Σ_{i∈S∩G} s_i, g⟩`` (players outside G add 0)."""
    g = result.aggregate
    per_slot = [
        sum(int(x) * y for x, y in zip(s, g)) if accepted and s is not None else 0
        for s, accepted in zip(sketches, result.accepted)
    ]

    def utility(subset: frozenset[int]) -> int:
        return sum(per_slot[i] for i in subset)

    return utility

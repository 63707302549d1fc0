"""Sybil inflation: what k identities sending near-copies of one update earn against what the
one update earns alone (issue 11's goal: at most 1.0×).

Protocol. Slot 0 is an honest trainer; slots n − k + 1 … n − 1 are its k − 1 sybil copies
(``sybil:noise=0.001``: slot 0's update plus N(0, (10⁻³·rms)²) per coordinate, so no two
envelopes or sketches are equal); the other slots are honest. The global model follows the
reference rule (:func:`~benchmarks.reference_arm.reference_step`). Each round every rule scores the
same sketches twice: as submitted, and with the copies absent (their slots empty). Inflation =
Σ over the rounds of the k identities' pay ÷ Σ of slot 0's pay with the copies absent, for the
reference rule (δ = 0.99, its default; it flags the later submission of a near-identical pair,
and the copies submit after slot 0), the reference rule with the duplicate flag off (δ ≥ 1),
and the old median rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from benchmarks.common import Table
from benchmarks.kit import DigitsTask
from benchmarks.reference_arm import DUPLICATES_OFF, RoundSketches, median_scores, reference_step
from benchmarks.robustness_arms import Cast, Pool, fingerprint
from zk.protocol.reference_rule import ReferenceRuleParams, reference_round

__all__ = ["RULES", "SYBIL_PLAN", "inflation", "sybil_table"]

SYBIL_PLAN = "sybil:noise=0.001"


def _reference(params: ReferenceRuleParams) -> Callable[[DigitsTask, RoundSketches], tuple[int, ...]]:
    return lambda task, sk: reference_round(sk.slots, sk.rejected, reference=sk.reference or [], params=params).scores


#: rule name → ``scores(task, sketches)``
RULES: dict[str, Callable[[DigitsTask, RoundSketches], tuple[int, ...]]] = {
    "reference (δ = 0.99)": _reference(ReferenceRuleParams()),
    "reference, duplicate flag off": _reference(DUPLICATES_OFF),
    "median rule": lambda task, sk: median_scores(task, sk)[0],
}


def inflation(pool: Pool, k: int, rounds: int, seed: int) -> dict[str, float | None]:
    """Per rule, the k identities' total pay ÷ slot 0's pay with the copies absent."""
    cast = Cast.of(len(pool.datasets), SYBIL_PLAN, k - 1, seed)
    group = sorted({0, *cast.attackers})
    state = {name: v.copy() for name, v in pool.task.initial.items()}
    together, alone = dict.fromkeys(RULES, 0.0), dict.fromkeys(RULES, 0.0)
    for r in range(rounds):
        inputs = pool.inputs(state, fingerprint(state), cast, r, reference=True, sketches=True)
        sk = inputs.sketches
        solo = replace(sk, slots=[None if i in cast.attackers else s for i, s in enumerate(sk.slots)])
        for name, rule in RULES.items():
            together[name] += float(np.sum([rule(pool.task, sk)[i] for i in group]))
            alone[name] += float(rule(pool.task, solo)[0])
        _, state = reference_step(pool.task, state, inputs.submissions, sk)
    return {name: together[name] / alone[name] if alone[name] else None for name in RULES}


def sybil_table(results: list[dict], rounds: int, n: int) -> Table:
    """The inflation per partition and k (``results``: ``{"partition", "k", "inflation"}``)."""
    table = Table(f"Sybil inflation: k identities' pay ÷ one submission's pay ({n} trainers, {rounds} rounds)",
                  ["partition", "k", *RULES])
    for row in results:
        table.add(row["partition"], row["k"], *("n/a" if row["inflation"][r] is None else f"{row['inflation'][r]:.2f}×"
                                                for r in RULES))
    met = {r: sum(1 for row in results if row["inflation"][r] is not None and row["inflation"][r] <= 1.0) for r in RULES}
    table.notes.append("Goal ≤ 1.0×: " + ", ".join(f"{r} {met[r]} of {len(results)}" for r in RULES) + ". The "
                       "duplicate flag flags the later member of a near-identical pair (submission order = slot "
                       "order here, the copies after slot 0), so the group keeps slot 0's pay and no more.")
    return table


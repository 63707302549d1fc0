"""The root-of-trust paid rule as the benchmarks run it, from the protocol core: the owner's
class-balanced root set, each round's reference update, the sketches, and one round of
:func:`~zk.protocol.reference_rule.reference_round` whose accepted set is FedAvg'd into the next
global model (what :mod:`benchmarks.reference_study` does, shared by the robustness, sybil and
fairness benchmarks).

The root set is 10 samples per class of the validation split (drawn with ``seed + 7``); the
reference is the aggregator's own (:func:`aggregator.evaluation.make_reference_trainer`: the
task's recipe on the whole root set from the round's global model, CPU, one thread, the
service's seed), so the benchmarks measure the reference the service commits; every update and the reference are sketched with
:func:`~zk.protocol.sketch.sketch_update` (the round's seed, k = the task's ``sketch_k``). The
rule's parameters are :class:`~zk.protocol.reference_rule.ReferenceRuleParams`' defaults (h = 1/2,
γ = 0, β = 4, δ = 0.99), the task spec's defaults too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from aggregator.aggregation import apply_to, fedavg
from aggregator.evaluation import make_reference_trainer
from benchmarks.kit import DigitsTask
from market.root_set import RootSet
from trainers.data import Dataset
from zk.protocol.reference_rule import ReferenceRoundResult, ReferenceRuleParams, reference_round
from zk.protocol.rule import provable_round, tau_fraction
from zk.protocol.sketch import SketchParams, sketch_update

__all__ = ["DUPLICATES_OFF", "ROOT_PER_CLASS", "RoundSketches", "median_scores", "reference_step",
           "reference_update", "root_set", "sketch_round", "validation_halves"]

ROOT_PER_CLASS = 10
#: The rule with the duplicate flag off (δ ≥ 1), for the sybil table.
DUPLICATES_OFF = ReferenceRuleParams(dup_num=2, dup_den=1)

Update = Mapping[str, np.ndarray]


def _class_picks(task: DigitsTask, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed + 7)
    y = task.validation.y
    return [rng.permutation(np.flatnonzero(y == c)) for c in range(task.spec.model.num_classes)]


def root_set(task: DigitsTask, seed: int) -> Dataset:
    """The owner's class-balanced root set: :data:`ROOT_PER_CLASS` samples of each class of the
    validation split (the reference study's draw)."""
    picks = _class_picks(task, seed)
    return task.validation.subset(np.sort(np.concatenate([p[:ROOT_PER_CLASS] for p in picks])))


def validation_halves(task: DigitsTask, seed: int) -> tuple[Dataset, Dataset]:
    """Two class-balanced halves of the validation split (for the split-half noise floor)."""
    picks = _class_picks(task, seed)
    half = np.sort(np.concatenate([p[: len(p) // 2] for p in picks]))
    other = np.setdiff1d(np.arange(len(task.validation.y)), half)
    return task.validation.subset(half), task.validation.subset(other)


def reference_update(task: DigitsTask, state: Update, root: Dataset, round_: int) -> dict[str, np.ndarray]:
    """The round's reference: the service's reference trainer on the root set from ``state``."""
    return make_reference_trainer(task.spec, RootSet(root.X, root.y))(state, round_)


@dataclass(frozen=True)
class RoundSketches:
    """One round's sketches: per slot (None where intake rejected it) and the reference's (None
    when the round's reference was not computed)."""

    slots: list[list[int] | None]
    reference: list[int] | None
    rejected: list[bool]


def sketch_round(task: DigitsTask, updates: Sequence[Update], reference: Update | None, rejected: Sequence[bool],
                 seed: int) -> RoundSketches:
    """Every accepted update and the reference sketched with the round's ``seed``."""
    params = SketchParams(k=task.spec.scoring.sketch_k)
    slots = [None if bad else list(sketch_update(u, seed, params)) for u, bad in zip(updates, rejected)]
    ref = None if reference is None else list(sketch_update(reference, seed, params))
    return RoundSketches(slots, ref, list(rejected))


def reference_step(task: DigitsTask, state: Update, submissions: Sequence[tuple[Update, int]], sketches: RoundSketches,
                   params: ReferenceRuleParams = ReferenceRuleParams(),  # noqa: B008 (frozen)
                   ) -> tuple[ReferenceRoundResult, dict[str, np.ndarray]]:
    """The rule on the round's sketches and the next global model: ``state`` plus the
    sample-weighted FedAvg of the accepted set G (``state`` again when G is empty)."""
    if sketches.reference is None:
        raise ValueError("the reference rule needs the round's reference sketch")
    out = reference_round(sketches.slots, sketches.rejected, reference=sketches.reference, params=params)
    chosen = [(float(samples), u) for (u, samples), ok in zip(submissions, out.accepted) if ok]
    if not chosen:
        return out, {k: np.array(v, copy=True) for k, v in state.items()}
    return out, apply_to(state, fedavg(chosen, dtype=task.spec.training.dtype))


def median_scores(task: DigitsTask, sketches: RoundSketches) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """The old median rule (:func:`~zk.protocol.rule.provable_round`, the task's τ) on the same
    sketches: ``(scores, flags)``."""
    tau = tau_fraction(task.spec.scoring.tau)
    out = provable_round(sketches.slots, sketches.rejected, tau_num=tau[0], tau_den=tau[1],
                         k=task.spec.scoring.sketch_k)
    return out.scores, out.flags

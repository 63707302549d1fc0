"""One round's assessment: from intake verdicts to flags, scores, the new global model and the
validation-utility Shapley estimates. Pure (numpy) and shared by the service, the audit, the
demo and the benchmarks: one copy of the pipeline.

DESIGN.md, a round, steps 6–7:

* flags come from the task's detector: the root-of-trust ``reference`` rule
  (:func:`zk.protocol.reference_rule.reference_round`: flags from the round's reference sketch,
  scores the exact Shapley value of its utility) when the spec has a root set; else the median
  rule (``provable``); Multi-Krum and MUD-HoG on full updates when the scoring policy names
  them, which only a trusted-aggregator task can use, since a proof covers only the first two;
* scores are the rule's provable ones (the median rule's ``max(0, ⟨s_i, g⟩)`` over the accepted
  sketches, or the reference rule's Shapley scores): what is paid;
* the new global model is the sample-weighted FedAvg of the accepted updates, streamed;
* the validation-utility Shapley estimates (exact for ≤ :data:`SERVICE_EXACT_PLAYERS` players,
  TMC, GTG, leave-one-out, as the spec lists) and the validation accuracy go to the audit transcript only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aggregator.aggregation import FedAvgAccumulator, apply_to
from aggregator.detectors import make_detector
from aggregator.detectors.mud_hog import MudHogDetector
from aggregator.intake import IntakeResult
from aggregator.reference import ReferenceSketch, reference_params
from aggregator.scoring import score as shapley_score
from aggregator.scoring.utility import fedavg_subset_utility
from market.task_spec import ScoringSection
from market.tracing import traced
from market.types import RoundPublication
from zk.protocol.commitment import aggregate_commitment
from zk.protocol.reference_rule import ReferenceRoundResult, reference_round
from zk.protocol.rule import ProvableRoundResult, provable_round, score_accepted, tau_fraction
from zk.protocol.sketch import flatten_update

#: The most accepted trainers a round computes exact validation Shapley for (2^10 = 1024
#: evaluations of the model); above it the spec's ``exact`` is skipped and the estimators
#: stand alone. Below :data:`aggregator.scoring.shapley_exact.MAX_EXACT_PLAYERS`, the most
#: players exact Shapley itself accepts.
SERVICE_EXACT_PLAYERS = 10

Evaluate = Callable[[Mapping[str, np.ndarray]], float]
"""Validation utility of a model state (e.g. accuracy on the owner's validation set)."""


@dataclass
class RoundOutcome:
    """Everything a round publishes and records."""

    flags: list[bool]
    rejections: list[bool]
    scores: list[int]
    aggregate: list[int]
    aggregate_commitment: int
    labels: list[str]
    provable: ProvableRoundResult
    new_global: dict[str, np.ndarray] = field(repr=False)
    accepted: list[bool] = field(default_factory=list)
    shapley: dict[str, list[float]] = field(default_factory=dict)
    accuracy: float | None = None
    accuracy_before: float | None = None
    reference_result: ReferenceRoundResult | None = None
    """The reference rule's values (None for the other detectors): what the proof covers."""
    reference: ReferenceSketch | None = None
    """The round's reference sketch, salt, commitment and digest (the reference rule only)."""
    order: list[int] | None = None
    """Per slot its rank among the round's submissions (the chain's); the reference rule flags only
    the later member of a near-duplicate pair."""


    @property
    def reference_sketch(self) -> list[int] | None:
        return None if self.reference is None else list(self.reference.sketch)

    @property
    def reference_salt(self) -> int | None:
        return None if self.reference is None else self.reference.salt


def _flat(tensors: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1) for a in flatten_update(tensors)])


@dataclass(frozen=True)
class _Judgement:
    flags: list[bool]
    labels: list[str]
    accepted: list[bool]
    aggregate: Sequence[int]
    scores: list[int]
    reference_result: ReferenceRoundResult | None


def _label(flagged: bool, why: str, rejected: bool, sketch: Sequence[int] | None) -> str:
    return why if flagged else ("rejected" if rejected else ("absent" if sketch is None else "ok"))


def _judge(intakes: Sequence[IntakeResult | None], rejected: list[bool], sketches: list, provable: ProvableRoundResult,
           *, scoring: ScoringSection, history: MudHogDetector | None, reference: ReferenceSketch | None,
           order: Sequence[int] | None = None) -> _Judgement:
    """Flags, labels, the accepted set and the paid scores by the task's detector."""
    if scoring.detector == "reference":
        if reference is None or scoring.reference is None:
            raise ValueError("the reference detector needs the round's reference sketch")
        result = reference_round(sketches, rejected, reference=reference.sketch,
                                 params=reference_params(scoring.reference), k=scoring.sketch_k,
                                 order=None if order is None else list(order))
        labels = [_label(f, why.name.lower(), r, s) for f, why, r, s in zip(result.flags, result.reasons, rejected, sketches)]
        return _Judgement(list(result.flags), labels, list(result.accepted), result.aggregate, list(result.scores), result)
    if scoring.detector == "provable":
        labels = [_label(f, "outlier", r, s) for f, r, s in zip(provable.flags, rejected, sketches)]
        return _Judgement(list(provable.flags), labels, list(provable.accepted), provable.aggregate,
                          list(provable.scores), None)
    updates = [_flat(it.load_tensors()) if it is not None and it.accepted else None for it in intakes]
    detector = history if scoring.detector == "mud_hog" and history is not None else make_detector(scoring.detector)
    detection = detector.detect(updates, rejected=rejected)
    flags = [bool(f) for f in detection.flags]
    accepted = [s is not None and not f for s, f in zip(sketches, flags)]
    chosen = score_accepted(sketches, accepted, k=scoring.sketch_k)
    return _Judgement(flags, list(detection.labels), accepted, chosen.aggregate, list(chosen.scores), None)


@traced("round_pipeline.assess_round")
def assess_round(
    intakes: Sequence[IntakeResult | None],
    *,
    global_state: Mapping[str, np.ndarray],
    scoring: ScoringSection,
    evaluate: Evaluate | None = None,
    history: MudHogDetector | None = None,
    dtype: str = "float32",
    shapley_seed: int = 0,
    shapley: bool = True,
    reference: ReferenceSketch | None = None,
    order: Sequence[int] | None = None,
) -> RoundOutcome:
    """Assess one round. ``intakes[i]`` is slot i's verdict, ``None`` when it did not submit.
    ``history`` carries MUD-HoG's per-trainer history across rounds when that detector is used.
    FedAvg reads the accepted updates one at a time (:meth:`IntakeResult.load_tensors`), so
    released intakes keep the round at O(d); ``shapley=False`` skips the validation Shapley
    estimates, which hold every accepted update at once (O(n·d)). ``reference``: the round's
    reference sketch, required by the ``reference`` detector; ``order``: each slot's rank among the
    round's submissions (default: slot order)."""
    rejected = [bool(it is not None and not it.accepted) for it in intakes]
    sketches = [it.sketch if it is not None and it.accepted else None for it in intakes]
    num, den = tau_fraction(scoring.tau)
    provable = provable_round(sketches, rejected, tau_num=num, tau_den=den, k=scoring.sketch_k)

    judged = _judge(intakes, rejected, sketches, provable, scoring=scoring, history=history, reference=reference,
                    order=order)
    accepted = judged.accepted

    accumulator = FedAvgAccumulator(dtype=dtype)
    for i, it in enumerate(intakes):
        if accepted[i]:
            accumulator.add(it.num_samples, it.load_tensors())
    new_global = apply_to(global_state, accumulator.result()) if accumulator.count else {
        k: np.array(v, copy=True) for k, v in global_state.items()}

    outcome = RoundOutcome(
        flags=judged.flags, rejections=rejected, scores=[int(s) for s in judged.scores],
        aggregate=[int(v) for v in judged.aggregate], aggregate_commitment=aggregate_commitment(list(judged.aggregate)),
        labels=judged.labels, provable=provable, new_global=new_global, accepted=accepted,
        reference_result=judged.reference_result,
        reference=reference,
        order=None if order is None else list(order),
    )
    if evaluate is not None:
        outcome.accuracy_before = float(evaluate(global_state))
        outcome.accuracy = float(evaluate(new_global))
        if shapley:
            outcome.shapley = validation_shapley(intakes, accepted, global_state=global_state, scoring=scoring,
                                                 evaluate=evaluate, seed=shapley_seed)
    return outcome


def _vector(tensors: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    return np.concatenate([np.asarray(tensors[k], dtype=np.float64).reshape(-1) for k in names])


def _state_evaluator(global_state: Mapping[str, np.ndarray], evaluate: Evaluate) -> Callable[[np.ndarray], float]:
    """``evaluate`` of the global model plus a flat mean update (float64, in ``global_state``'s
    name order)."""
    names = list(global_state)
    shapes = [np.shape(global_state[k]) for k in names]
    base = {k: np.asarray(v, dtype=np.float64) for k, v in global_state.items()}

    def on_mean(mean: np.ndarray) -> float:
        state: dict[str, Any] = dict(base)
        offset = 0
        for k, shape in zip(names, shapes):
            size = int(np.prod(shape))
            state[k] = base[k] + mean[offset:offset + size].reshape(shape)
            offset += size
        return float(evaluate(state))

    return on_mean


@traced("round_pipeline.validation_shapley")
def validation_shapley(
    intakes: Sequence[IntakeResult | None],
    accepted: Sequence[bool],
    *,
    global_state: Mapping[str, np.ndarray],
    scoring: ScoringSection,
    evaluate: Evaluate,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Validation-utility contribution estimates of the accepted trainers, per method named in
    the spec (``exact`` only up to :data:`SERVICE_EXACT_PLAYERS`); 0 for every other slot. The
    utility of a coalition is the validation utility of the global model plus its FedAvg
    (:func:`~aggregator.scoring.utility.fedavg_subset_utility`)."""
    players = [i for i, a in enumerate(accepted) if a]
    if not players:
        return {m: [0.0] * len(intakes) for m in scoring.validation_shapley}
    names = list(global_state)
    cached = fedavg_subset_utility(
        updates=[_vector(intakes[i].load_tensors(), names) for i in players],
        weights=[float(intakes[i].num_samples) for i in players],
        evaluate=_state_evaluator(global_state, evaluate),
    )
    out: dict[str, list[float]] = {}
    for method in scoring.validation_shapley:
        if method == "exact" and len(players) > SERVICE_EXACT_PLAYERS:
            continue
        options = {"seed": seed} if method in ("tmc", "gtg") else {}
        values = shapley_score(method, len(players), cached, **options)
        per_slot = [0.0] * len(intakes)
        for j, i in enumerate(players):
            per_slot[i] = float(values[j])
        out[method] = per_slot
    return out


@dataclass
class RoundLog:
    """What the aggregator recorded about one round (kept in memory for reports and the demo)."""

    round: int
    outcome: RoundOutcome
    intakes: list[IntakeResult | None]
    publication: RoundPublication
    publish_gas: int = 0
    proof_seconds: float | None = None
    verified_on_chain: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def round_report(outcome: RoundOutcome, intakes: Sequence[IntakeResult | None]) -> list[str]:
    """What a service logs once a round is assessed: each rejection with its reason, the
    validation accuracy before and after (when the node has validation data) and each Shapley
    estimate per slot (reported, never paid)."""
    lines = [f"rejected {it.trainer}: {it.reason} ({it.detail})" for it in intakes if it is not None and not it.accepted]
    lines.append(f"{sum(outcome.accepted)} accepted, {sum(outcome.flags)} flagged, points {outcome.scores}")
    if outcome.accuracy is not None:
        before = "" if outcome.accuracy_before is None else f"{outcome.accuracy_before:.3f} → "
        lines.append(f"validation accuracy {before}{outcome.accuracy:.3f}")
    for method, values in sorted(outcome.shapley.items()):
        lines.append(f"{method} Shapley per slot (reported, not paid): " + ", ".join(f"{v:+.4f}" for v in values))
    return lines

"""The robustness benchmark's machinery: who attacks (:class:`Cast`), the round's submissions to
one global model (:class:`Pool`, computed once per model and shared by every arm and scenario
that holds it), and the arms (:class:`ReferenceArm`, :class:`PipelineArm`, :class:`FlowerArm`,
and the oracle :class:`HonestOnlyArm`) that each follow their own global model through the rounds.

Omniscient attackers (``alie``, ``ipm``, ``min_max``, ``min_sum``, ``mimic``, ``fang``,
``adaptive``, ``sybil``) do not train: their plan's update attack runs on an
:class:`~trainers.attacks.AttackContext` holding the round's honest updates (every slot that is
not an attacker), the round's reference update (the root-of-trust reference, what ``adaptive``
aims at) and, for sybils, the leader's update; their own delta only gives names and shapes. They
claim the honest trainers' mean sample count (sybils the leader's). Every other trainer runs
:func:`~benchmarks.kit.local_update` with its plan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aggregator.aggregation import apply_to, fedavg
from aggregator.detectors.mud_hog import MudHogDetector
from aggregator.intake import IntakeResult
from aggregator.round_pipeline import assess_round
from benchmarks.kit import DigitsTask, bound_refusal, direct_intake, flower_round, flower_strategy, local_update
from benchmarks.reference_arm import RoundSketches, reference_step, reference_update, sketch_round
from market.update_package import model_spec_hash
from trainers.attacks import AttackContext, AttackPlan
from trainers.data import Dataset
from zk.protocol.reference_rule import FlagReason

__all__ = ["CRAFTED", "HONEST_ONLY", "Arm", "Cast", "FlowerArm", "HonestOnlyArm", "PipelineArm", "Pool", "ReferenceArm",
           "RoundInputs", "fingerprint", "make_arm", "run_scenario"]

#: Attacks whose update is crafted from the round's context, not trained.
CRAFTED = frozenset({"alie", "ipm", "min_max", "min_sum", "mimic", "fang", "adaptive", "sybil"})
SYBIL_LEADER = 0
#: the oracle arm's name
HONEST_ONLY = "honest-only FedAvg"

Update = dict[str, np.ndarray]


def fingerprint(state: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha1()
    for k in sorted(state):
        h.update(np.ascontiguousarray(state[k]).tobytes())
    return h.hexdigest()


def _crafted(plan: AttackPlan) -> bool:
    return any(a.name in CRAFTED for a in plan.attacks)


@dataclass(frozen=True)
class Cast:
    """Who does what: per slot the plan; the attacker slots (the last m); the slots counted as
    honest (the others, minus a sybil group's leader, slot 0, which trains honestly and whose
    update the attackers copy)."""

    plans: tuple[AttackPlan, ...]
    attackers: frozenset[int]
    honest: frozenset[int]
    leader: int | None = None

    @classmethod
    def of(cls, n: int, plan: str | None, m: int, seed: int) -> Cast:
        plans = [AttackPlan()] * (n - m) + [AttackPlan.parse(plan, seed=seed + slot) for slot in range(n - m, n)]
        sybil = any(a.name == "sybil" for p in plans for a in p.attacks)
        leader = SYBIL_LEADER if sybil else None
        honest = frozenset(range(n - m)) - ({leader} if sybil else set())
        return cls(tuple(plans), frozenset(range(n - m, n)), honest, leader)

    @property
    def n(self) -> int:
        return len(self.plans)

    @property
    def needs_reference(self) -> bool:
        return any(a.name == "adaptive" for p in self.plans for a in p.attacks)


@dataclass
class RoundInputs:
    """The submissions to one global model in one round, their sketches and intake verdicts."""

    submissions: list[tuple[Update, int]]
    rejected: list[bool]
    intakes: list[IntakeResult]
    reference: Update | None
    sketches: RoundSketches


class Pool:
    """One partition's task, trainers' data and root set, and every update trained so far, keyed
    by (global model, slot, round, plan): arms and scenarios that reach the same model share them."""

    def __init__(self, task: DigitsTask, datasets: Sequence[Dataset], root: Dataset, sketch_seed) -> None:
        self.task, self.datasets, self.root, self.sketch_seed = task, list(datasets), root, sketch_seed
        self.spec_hash = model_spec_hash(task.param_spec)
        self._trained: dict[tuple, tuple[Update, int]] = {}
        self._reference: dict[tuple, Update] = {}
        self.trainings = 0

    def trained(self, state, fp: str, slot: int, plan: AttackPlan, round_: int) -> tuple[Update, int]:
        key = (fp, slot, round_, str(plan), plan.seed)
        if key not in self._trained:
            self.trainings += 1
            update, samples, _ = local_update(self.task, state, self.datasets[slot], plan,
                                              trainer_seed=self.task.seed + slot, round_=round_)
            self._trained[key] = (update, samples)
        return self._trained[key]

    def reference(self, state, fp: str, round_: int) -> Update:
        key = (fp, round_)
        if key not in self._reference:
            self.trainings += 1
            self._reference[key] = reference_update(self.task, state, self.root, round_)
        return self._reference[key]

    def submissions(self, state, fp: str, cast: Cast, round_: int, reference: Update | None) -> list[tuple[Update, int]]:
        """Every slot's ``(update, samples)``: trained with its plan, or crafted from the context."""
        out: list[Any] = [None] * cast.n
        for i, plan in enumerate(cast.plans):
            if not _crafted(plan):
                out[i] = self.trained(state, fp, i, plan, round_)
        honest = [out[i] for i in range(cast.n) if i not in cast.attackers]
        context = AttackContext(global_state=state, honest_updates=tuple(u for u, _ in honest), reference=reference,
                                leader_update=None if cast.leader is None else out[cast.leader][0])
        claim = int(round(np.mean([s for _, s in honest])))
        for i, plan in enumerate(cast.plans):
            if _crafted(plan):
                samples = out[cast.leader][1] if cast.leader is not None else claim
                out[i] = (plan.apply_update(honest[0][0], context, round_=round_), samples)
        return out

    def inputs(self, state, fp: str, cast: Cast, round_: int, *, reference: bool, sketches: bool) -> RoundInputs:
        """The round's inputs to ``state``; the reference, the sketches and the intake verdicts
        only when asked for (Flower's arms need none of them)."""
        ref = self.reference(state, fp, round_) if reference or cast.needs_reference else None
        subs = self.submissions(state, fp, cast, round_, ref)
        rejected = [bound_refusal(self.task, u) is not None for u, _ in subs]
        if not (sketches or reference):
            return RoundInputs(subs, rejected, [], ref, RoundSketches([None] * cast.n, None, rejected))
        sk = sketch_round(self.task, [u for u, _ in subs], ref, rejected, self.sketch_seed(round_))
        intakes = [direct_intake(self.task, i, u, s, sk.slots[i] or [], round_=round_, spec_hash=self.spec_hash)
                   for i, (u, s) in enumerate(subs)]
        return RoundInputs(subs, rejected, intakes, ref, sk)


@dataclass
class Arm:
    """One aggregator's global model and, per slot, its pay (scores summed over the rounds),
    flagged rounds and rejected rounds."""

    name: str
    task: DigitsTask
    state: Update
    n: int
    pay: np.ndarray = field(init=False)
    flagged: np.ndarray = field(init=False)
    rejected: np.ndarray = field(init=False)
    reasons: dict[str, int] = field(default_factory=dict)
    needs_reference: bool = False
    needs_sketches: bool = False

    def __post_init__(self) -> None:
        self.pay = np.zeros(self.n)
        self.flagged = np.zeros(self.n, int)
        self.rejected = np.zeros(self.n, int)

    def step(self, inputs: RoundInputs, round_: int) -> None:
        raise NotImplementedError

    def paid_share(self, slots) -> float | None:
        total = float(self.pay.sum())
        return float(self.pay[sorted(slots)].sum()) / total if total else None

    def flag_rate(self, slots, rounds: int) -> float:
        return float(self.flagged[sorted(slots)].sum()) / (len(slots) * rounds) if slots else 0.0


@dataclass
class ReferenceArm(Arm):
    """The root-of-trust rule from the protocol core (:func:`~benchmarks.reference_arm.reference_step`)."""

    needs_reference: bool = True
    needs_sketches: bool = True

    def step(self, inputs: RoundInputs, round_: int) -> None:
        out, self.state = reference_step(self.task, self.state, inputs.submissions, inputs.sketches)
        self.pay += np.array(out.scores, float)
        self.flagged += np.array(out.flags, int)
        self.rejected += np.array(inputs.rejected, int)
        for reason in out.reasons:
            if reason is not FlagReason.NONE:
                self.reasons[reason.name] = self.reasons.get(reason.name, 0) + 1


@dataclass
class PipelineArm(Arm):
    """The aggregator's pipeline with one detector (``provable``, ``multi_krum``, ``mud_hog``):
    :func:`~aggregator.round_pipeline.assess_round` → FedAvg of the accepted updates."""

    history: MudHogDetector | None = None
    needs_sketches: bool = True

    def step(self, inputs: RoundInputs, round_: int) -> None:
        outcome = assess_round(inputs.intakes, global_state=self.state, scoring=self.task.scoring(self.name, ()),
                               history=self.history, dtype=self.task.spec.training.dtype)
        self.pay += np.array(outcome.scores, float)
        self.flagged += np.array(outcome.flags, int)
        self.rejected += np.array(outcome.rejections, int)
        self.state = outcome.new_global


@dataclass
class FlowerArm(Arm):
    """One of Flower's strategies' ``aggregate_fit`` on the clients' full weights."""

    strategy: Any = None

    def step(self, inputs: RoundInputs, round_: int) -> None:
        self.state, _ = flower_round(self.strategy, round_ + 1, self.state, inputs.submissions)


@dataclass
class HonestOnlyArm(Arm):
    """An oracle, not a defence: the sample-weighted FedAvg of the submissions of the slots that
    do not attack (what the model reaches on the honest data alone)."""

    attackers: frozenset[int] = frozenset()

    def step(self, inputs: RoundInputs, round_: int) -> None:
        chosen = [(float(s), u) for i, (u, s) in enumerate(inputs.submissions) if i not in self.attackers]
        self.state = apply_to(self.state, fedavg(chosen, dtype=self.task.spec.training.dtype))


def make_arm(name: str, task: DigitsTask, n: int, *, num_malicious: int, attackers: frozenset[int] = frozenset()) -> Arm:
    state = {k: v.copy() for k, v in task.initial.items()}
    if name == "reference":
        return ReferenceArm(name, task, state, n)
    if name == HONEST_ONLY:
        return HonestOnlyArm(name, task, state, n, attackers=attackers)
    if name in ("provable", "multi_krum", "mud_hog"):
        return PipelineArm(name, task, state, n, history=MudHogDetector() if name == "mud_hog" else None)
    return FlowerArm(name, task, state, n,
                     strategy=flower_strategy(name, num_malicious=num_malicious, num_clients=n))


def run_scenario(pool: Pool, cast: Cast, arms: Sequence[str], rounds: int, *, num_malicious: int) -> dict[str, Arm]:
    """Every arm through ``rounds`` rounds from the task's initial model; the submissions to a
    global model are computed once per round, whichever arms hold it."""
    out = {name: make_arm(name, pool.task, cast.n, num_malicious=num_malicious, attackers=cast.attackers)
           for name in arms}
    for r in range(rounds):
        groups: dict[str, list[Arm]] = {}
        for arm in out.values():
            groups.setdefault(fingerprint(arm.state), []).append(arm)
        for fp, members in groups.items():
            inputs = pool.inputs(members[0].state, fp, cast, r, reference=any(a.needs_reference for a in members),
                                 sketches=any(a.needs_sketches for a in members))
            for arm in members:
                arm.step(inputs, r)
    return out

"""The steps of a market round, measured through the spans the library code carries.

Every function a round's work goes through is a :mod:`market.tracing` span with a stable name
(``training.train_local``, ``storage.put``, ``marketplace.submit_update``…); :data:`SPAN_STEPS`
maps each name to the step of the overhead table it belongs to. :class:`StepRecorder` records a
demo run (:func:`measure_demo`): each span's *exclusive* time (its time minus that of the
recorded spans inside it) goes to its step and to the phase the run is in (``setup``,
``round r``, ``settlement``), which :func:`sequential_runner` sets while it steps the nodes one
after another in one thread (every trainer's ``step()``, then the aggregator's), so that each
step's wall time is its own.

Transparency keeps each step what it has always been: a span no step names leaves its time with
the span around it; the trainer-side package load, sketch and commitment count as their own
steps only in a trainer's step (the aggregator's run inside its intake, the prover's inside
proving); the evaluator inside the validation Shapley estimates is part of them.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from market.gas import GasReport
from market.tracing import Recorder, recording, span, suspended

__all__ = ["AGGREGATOR_STEP", "AUDIT_ONLY", "OTHER", "SETTLEMENT", "SETUP", "SHAPLEY", "SPAN_STEPS", "STEPS",
           "TRAINER_STEP", "ZK_DEPLOY", "ZK_KEY_LOAD", "StepRecorder", "measure_demo", "sequential_runner"]

PACK, STORE, SUBMIT = "packaging (safetensors, model parse)", "storage (embedded IPFS)", "submit transactions"
SCORE, AGG = "scoring (provable rule)", "aggregation (streaming FedAvg)"
PUB = "publishing (model, transcript, publishRound)"
SHAPLEY = "validation Shapley GTG+LOO (audit only)"
OTHER = "other (state files, bookkeeping)"

# Steps of a round, in table order: (label, side).
STEPS = [
    ("local training", "trainer"),
    (PACK, "both"),
    ("encryption", "trainer"),
    ("sketch + commitment", "trainer"),
    (STORE, "both"),
    (SUBMIT, "both"),
    ("chain reads (nodes poll views)", "both"),
    ("intake", "aggregator"),
    (SCORE, "aggregator"),
    (AGG, "aggregator"),
    ("proving", "aggregator"),
    (PUB, "aggregator"),
    ("validation accuracy (audit only)", "aggregator"),
    (SHAPLEY, "aggregator"),
    (OTHER, "both"),
]
ZK_KEY_LOAD = "zk proving key load (once)"
ZK_DEPLOY = "zk verifier deployment (once)"
AUDIT_ONLY = {"validation accuracy (audit only)", SHAPLEY}
SETUP, SETTLEMENT = "setup", "settlement"

TRAINER_STEP = "overhead.trainer_step"
AGGREGATOR_STEP = "overhead.aggregator_step"
KEY_LOAD_SPAN = "zk.load_proving_key"

#: span name → step label: the real functions each step calls
SPAN_STEPS: dict[str, str] = {
    "training.train_local": "local training",
    "update_package.build": PACK, "update_package.load": PACK, "model_state.from_bytes": PACK,
    "encryption.encrypt": "encryption",
    "sketch.update": "sketch + commitment", "sketch.commitment": "sketch + commitment",
    "storage.put": STORE, "storage.get": STORE, "storage.pin": STORE,
    "marketplace.submit_update": SUBMIT, "marketplace.commit_sketch": SUBMIT, "marketplace.close_submissions": SUBMIT,
    "marketplace.publish_round": PUB, "marketplace.reveal_evidence_key": PUB,
    "marketplace.call": "chain reads (nodes poll views)",
    "intake.fetch_and_check": "intake",
    "round_pipeline.assess_round": SCORE,
    "round_pipeline.validation_shapley": SHAPLEY,
    "aggregation.add": AGG, "aggregation.result": AGG, "aggregation.apply_to": AGG,
    "prover.prove_round": "proving",
    "model_state.to_bytes": PUB, "transcript.build": PUB,
    "evaluation.evaluate": "validation accuracy (audit only)",
    KEY_LOAD_SPAN: ZK_KEY_LOAD,
    "zk.deploy_verifier": ZK_DEPLOY,
}
TRAINER_SIDE = frozenset({"update_package.load", "sketch.update", "sketch.commitment"})
"""Spans that are a step of their own only when a trainer's step calls them directly."""


def transparent(outer: str | None, inner: str) -> bool:
    """Whether span ``inner`` directly inside ``outer`` leaves its time with ``outer`` (see the module docstring)."""
    if inner in (TRAINER_STEP, AGGREGATOR_STEP):
        return False
    if inner not in SPAN_STEPS:
        return True
    if inner in TRAINER_SIDE:
        return outer != TRAINER_STEP
    return outer == "round_pipeline.validation_shapley" and inner == "evaluation.evaluate"


class StepRecorder(Recorder):
    """Exclusive seconds per (phase, step) of one run in one thread, and the wall time of the
    nodes' steps per phase (set by :func:`sequential_runner`)."""

    def __init__(self) -> None:
        super().__init__(transparent=transparent)
        self.phase = SETUP
        self.steps: dict[tuple[str, str], float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)

    def add(self, name: str, seconds: float) -> None:
        super().add(name, seconds)
        label = SPAN_STEPS.get(name)
        if label is not None:
            self.steps[(self.phase, label)] += seconds

    def step(self, phase: str, label: str) -> float:
        """Seconds of ``label`` in ``phase``."""
        return self.steps.get((phase, label), 0.0)

    def phase_total(self, phase: str) -> float:
        """Seconds of every step in ``phase`` but the one-off zk ones (key load, verifier deployment)."""
        return sum(v for (p, label), v in self.steps.items() if p == phase and label not in (ZK_KEY_LOAD, ZK_DEPLOY))

    def per_round(self, rounds: int) -> dict[str, float]:
        """Mean seconds per round of each step of :data:`STEPS`; ``other`` is the wall time of the
        nodes' steps that no step accounts for."""
        phases = [f"round {r}" for r in range(rounds)]
        out = {label: sum(self.step(p, label) for p in phases) / rounds for label, _ in STEPS}
        wall = sum(self.wall[p] for p in phases) / rounds
        out[OTHER] = max(0.0, wall - sum(out.values()))
        return out


def sequential_runner(recorder: StepRecorder) -> Callable[[list, Any, float], None]:
    """A ``run_demo`` runner: every trainer's ``step()`` then the aggregator's, in turn, in this
    thread, each inside its node span; sets ``recorder``'s phase and adds up its wall time."""

    def run(nodes: list, aggregator: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with suspended():  # the runner's own look at the round is not the nodes' work
                task = aggregator.market.get_task(aggregator.task_id)
            r = task.current_round
            recorder.phase = f"round {r}" if r < task.config.rounds else SETTLEMENT
            started = time.perf_counter()
            for n in nodes:
                with span(TRAINER_STEP):
                    n.step()
            with span(AGGREGATOR_STEP):
                action = aggregator.step()
            recorder.wall[recorder.phase] += time.perf_counter() - started
            if action.kind.final:
                recorder.phase = SETTLEMENT
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the instrumented demo did not finish within {timeout:.0f}s")

    return run


def prover_with_key_loaded(**kwargs: Any) -> Any:
    """The demo's prover, its proving key loaded now (in setup, once), not in round 0's proof."""
    from zk.prover import make_reference_prover, make_round_prover

    prover = make_reference_prover(**kwargs) if "shape" in kwargs else make_round_prover(**kwargs)
    with span(KEY_LOAD_SPAN):
        prover.keys.proving_key  # noqa: B018 - loads it
    return prover


def measure_demo(options: Any, *, gas: GasReport | None = None) -> tuple[Any, StepRecorder]:
    """One recorded :func:`~benchmarks.simulation.run_demo` run: its result and the recorder."""
    from benchmarks.simulation import run_demo

    recorder = StepRecorder()
    with recording(recorder):
        result = run_demo(options, log=lambda message: None, runner=sequential_runner(recorder), gas_report=gas,
                          prover_factory=prover_with_key_loaded)
    return result, recorder

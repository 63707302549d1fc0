"""The experiment kit the benchmarks share: the demo's digits task, trainers' shares, one
trainer's local update (training + attack), the market's submission path (package, encrypt,
sketch, commit → intake) and intake's verdict without the envelope (:func:`direct_intake`), and
Flower's side (client parameters, strategies' ``aggregate_fit``, Krum, MultiKrum, Bulyan…).

Every step calls the project's functions; nothing here re-implements training, attacks,
packaging, sketching, intake, detection or aggregation. :func:`digits_task` is the one place the
demo's task is built (:func:`~benchmarks.simulation.run_demo` posts it), and a trainer's round
is :func:`trainers.recipe.local_round`, the step :class:`~trainers.node.TrainerNode` runs, with
the same constants (trainer seed ``seed + slot``, training seed ``seed · 100003 + round``, a 20 %
local hold-out), so a benchmark trainer trains exactly like a demo trainer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from eth_utils import to_checksum_address

from aggregator.evaluation import make_evaluator
from aggregator.intake import IntakeResult, check_submission
from benchmarks.records import DemoOptions
from market.encryption import (
    EnvelopeContext,
    encrypt_for_aggregator,
    envelope_digest,
    generate_private_key,
    public_key_bytes,
)
from market.task_spec import ScoringSection, TaskSpec
from market.update_package import (
    NonFiniteValues,
    UpdateMetadata,
    UpdateNormTooLarge,
    build_update_package,
    model_spec_hash,
)
from trainers import recipe
from trainers.attacks import AttackPlan
from trainers.data import Dataset, digits_train_test, holdout_split
from trainers.models import build_model, param_spec, state_to_numpy
from trainers.partition import partition_dirichlet, partition_iid
from zk.protocol.commitment import random_salt, sketch_commitment
from zk.protocol.sketch import SketchParams, sketch_update

TASK_ID = 1
CHAIN_ID, CONTRACT = 31337, "0x" + "c0" * 20  # the slot an envelope is bound to, without a chain
SEED_STRIDE = recipe.SEED_STRIDE  # a round's training seed: trainer seed · 100003 + round
LOCAL_HOLDOUT = recipe.LOCAL_HOLDOUT  # TrainerNode's default hold-out fraction


@dataclass
class DigitsTask:
    """The demo's task: digits MLP with DemoOptions' hyper-parameters and data splits."""

    spec: TaskSpec
    train: Dataset
    validation: Dataset
    test: Dataset
    initial: dict[str, np.ndarray]
    seed: int

    @property
    def param_spec(self) -> dict:
        return param_spec(self.spec.model, dtype=self.spec.training.dtype)

    @property
    def names(self) -> list[str]:
        return list(self.initial)

    def evaluator(self, on: str = "validation"):
        """``accuracy(state)`` on the validation or test split (the aggregator's evaluator)."""
        return make_evaluator(self.spec, self.validation if on == "validation" else self.test)

    def scoring(self, detector: str = "provable", validation_shapley: Sequence[str] = ("gtg", "loo")) -> ScoringSection:
        return self.spec.scoring.model_copy(update={"detector": detector, "validation_shapley": tuple(validation_shapley)})


def digits_task(seed: int = 0, options: DemoOptions | None = None) -> DigitsTask:
    """The demo's task, the one copy: the spec (:meth:`TaskSpec.example_digits` with the
    options' hyper-parameters), the digits splits (train; test halved into test and validation)
    and the initial model. :func:`~benchmarks.simulation.run_demo` posts exactly this task;
    ``options.seed`` (default ``seed``) draws the splits."""
    options = options or DemoOptions(seed=seed)
    spec = TaskSpec.example_digits(epochs=options.epochs, learning_rate=options.learning_rate,
                                   batch_size=options.batch_size, tau=options.tau)
    train, test = digits_train_test(spec.data.input_shape, seed=options.seed)
    test, validation = holdout_split(test, 0.5, options.seed)
    initial = state_to_numpy(build_model(spec.model, dtype=spec.training.dtype))
    return DigitsTask(spec=spec, train=train, validation=validation, test=test, initial=initial, seed=options.seed)


def shares(task: DigitsTask, n: int, partition: str, *, alpha: float = 0.5) -> list[Dataset]:
    """The n trainers' data: ``iid`` or ``dirichlet`` (α) shares of the training split."""
    if partition == "iid":
        parts = partition_iid(task.train.y, n, task.seed)
    elif partition == "dirichlet":
        parts = partition_dirichlet(task.train.y, n, alpha, seed=task.seed)
    else:
        raise ValueError(f"unknown partition {partition!r}")
    return [task.train.subset(p) for p in parts]


def local_update(task: DigitsTask, global_state: Mapping[str, np.ndarray], data: Dataset, plan: AttackPlan, *,
                 trainer_seed: int, round_: int, previous_delta: Mapping[str, np.ndarray] | None = None,
                 ) -> tuple[dict[str, np.ndarray], int, float]:
    """One trainer's round on the CPU, :func:`trainers.recipe.local_round` as
    :class:`~trainers.node.TrainerNode` runs it: data attacks, local training, update attacks.
    Returns ``(update, num_samples, training seconds)``."""
    step = recipe.local_round(global_state, data, task.spec, plan=plan, seed=recipe.round_seed(trainer_seed, round_),
                              round_=round_, previous_delta=previous_delta, device="cpu", progress=False,
                              holdout=LOCAL_HOLDOUT)
    return step.delta, step.num_samples, step.metrics.seconds


def trainer_address(slot: int) -> str:
    return to_checksum_address(f"0x{slot + 1:040x}")


def slot_context(slot: int, round_: int) -> EnvelopeContext:
    """The envelope context of ``slot``'s submission in ``round_`` of the benchmark task."""
    return EnvelopeContext(chain_id=CHAIN_ID, contract=CONTRACT, task_id=TASK_ID, round=round_,
                           trainer=trainer_address(slot))


def round_seed(*parts: Any) -> int:
    """A round's sketch seed (on chain it comes from prevrandao; here a fixed hash)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest(), "big")


class MarketPath:
    """The market's submission path without the chain: a trainer packages its update with a
    fresh salt, encrypts it to the aggregator, sketches and commits; the aggregator runs
    :func:`~aggregator.intake.check_submission` on the envelope (digest, decryption, package
    checks with the task's size and norm bounds, sketch recomputation, commitment)."""

    def __init__(self, task: DigitsTask) -> None:
        self.task = task
        self.key = generate_private_key()
        self.public = public_key_bytes(self.key)
        self.params = SketchParams(k=task.spec.scoring.sketch_k)
        self.spec_hash = model_spec_hash(task.param_spec)

    def submit(self, slot: int, update: Mapping[str, np.ndarray], num_samples: int, *, round_: int,
               seed: int) -> IntakeResult:
        trainer = trainer_address(slot)
        salt = random_salt()
        metadata = UpdateMetadata(task_id=TASK_ID, round=round_, trainer=trainer, num_samples=num_samples,
                                  salt=salt.to_bytes(32, "big"), model_spec_hash=self.spec_hash)
        envelope = encrypt_for_aggregator(build_update_package(dict(update), metadata), self.public,
                                          slot_context(slot, round_))
        commitment = sketch_commitment(sketch_update(update, seed, self.params), salt)
        limits = self.task.spec.limits
        return check_submission(
            slot=slot, trainer=trainer, envelope=envelope, digest=envelope_digest(envelope), commitment=commitment,
            private_key=self.key, param_spec=self.task.param_spec, chain_id=CHAIN_ID, contract=CONTRACT,
            task_id=TASK_ID, round_=round_, seed=seed,
            sketch_params=self.params, max_bytes=limits.max_update_bytes, max_norm=limits.max_update_norm,
        )


def bound_refusal(task: DigitsTask, update: Mapping[str, np.ndarray]) -> str | None:
    """The reason intake's package checks give for this update's values, or None: NaN or
    infinite values (``non-finite``), an L2 norm above the task's bound (``norm-too-large``).
    Names, shapes and dtypes are the model's by construction, and the size is fixed by them."""
    squares = 0.0
    for array in update.values():
        a = np.asarray(array, np.float64)
        if not np.all(np.isfinite(a)):
            return NonFiniteValues.reason
        squares += float(np.sum(a * a))
    return UpdateNormTooLarge.reason if np.sqrt(squares) > task.spec.limits.max_update_norm else None


def direct_intake(task: DigitsTask, slot: int, update: Mapping[str, np.ndarray], num_samples: int, sketch: list[int],
                  *, round_: int, spec_hash: bytes | None = None) -> IntakeResult:
    """Intake's verdict on an update without the envelope (no encryption, no commitment: those
    cannot fail for an honest path and cost more than the training here): rejected with
    :func:`bound_refusal`'s reason, else accepted with its tensors, sample count and sketch.
    ``spec_hash``: the task's :func:`~market.update_package.model_spec_hash`, if already known."""
    trainer = trainer_address(slot)
    reason = bound_refusal(task, update)
    if reason is not None:
        return IntakeResult(slot=slot, trainer=trainer, reason=reason, detail="the package checks' bounds")
    metadata = UpdateMetadata(task_id=TASK_ID, round=round_, trainer=trainer, num_samples=max(1, int(num_samples)),
                              salt=bytes(32), model_spec_hash=spec_hash or model_spec_hash(task.param_spec))
    return IntakeResult(slot=slot, trainer=trainer, metadata=metadata, tensors=dict(update), sketch=list(sketch))


# --- Flower --------------------------------------------------------------------------------
FLOWER_STRATEGIES = ("FedAvg", "Krum", "MultiKrum", "Bulyan", "FedMedian", "FedTrimmedAvg")


def bulyan_byzantine(n: int) -> int:
    """The largest f Bulyan admits for n clients (it needs n ≥ 4f + 3): ⌊(n − 3)/4⌋, at least 0."""
    return max(0, (n - 3) // 4)


def flower_strategy(name: str, *, num_malicious: int = 0, num_clients: int | None = None, beta: float = 0.2):
    """One of Flower's strategies with its aggregation parameters (metrics aggregation given so
    Flower does not warn). Krum keeps one update (Flower's default ``num_clients_to_keep=0``);
    MultiKrum is Flower's ``Krum(num_clients_to_keep = n − f)`` (El Mhamdi et al.'s m = n − f,
    so ``num_clients`` is needed); Bulyan (El Mhamdi, Guerraoui & Rouhault, ICML 2018) runs
    Krum as its selection rule with f = min(``num_malicious``, :func:`bulyan_byzantine`), the
    largest its n ≥ 4f + 3 assumption admits."""
    from flwr.server.strategy import Bulyan, FedAvg, FedMedian, FedTrimmedAvg, Krum

    quiet: dict[str, Any] = {"fit_metrics_aggregation_fn": lambda metrics: {}}
    if name == "FedAvg":
        return FedAvg(**quiet)
    if name == "Krum":
        return Krum(num_malicious_clients=num_malicious, num_clients_to_keep=0, **quiet)
    if name in ("MultiKrum", "Bulyan"):
        if num_clients is None:
            raise ValueError(f"{name} needs num_clients")
        if name == "MultiKrum":
            return Krum(num_malicious_clients=num_malicious, num_clients_to_keep=num_clients - num_malicious, **quiet)
        return Bulyan(num_malicious_clients=min(num_malicious, bulyan_byzantine(num_clients)), to_keep=0, **quiet)
    if name == "FedMedian":
        return FedMedian(**quiet)
    if name == "FedTrimmedAvg":
        return FedTrimmedAvg(beta=beta, **quiet)
    raise ValueError(f"unknown Flower strategy {name!r}")


def fit_res(weights: Sequence[np.ndarray], num_examples: int):
    """A Flower ``FitRes`` as a client's ``fit`` returns it (parameters serialised)."""
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters

    return FitRes(status=Status(code=Code.OK, message=""), parameters=ndarrays_to_parameters(list(weights)),
                  num_examples=int(num_examples), metrics={})


def client_weights(global_state: Mapping[str, np.ndarray], update: Mapping[str, np.ndarray],
                   names: Sequence[str]) -> list[np.ndarray]:
    """What a Flower client sends back: its full local weights (global + update)."""
    return [(np.asarray(global_state[k], np.float64) + np.asarray(update[k], np.float64)).astype(global_state[k].dtype)
            for k in names]


def flower_round(strategy, server_round: int, global_state: Mapping[str, np.ndarray],
                 submissions: Sequence[tuple[Mapping[str, np.ndarray], int]]) -> tuple[dict[str, np.ndarray], list]:
    """``strategy.aggregate_fit`` over the submissions ``(update, num_samples)``; returns the
    new global state and the clients' weights (to find which one Krum kept)."""
    from flwr.common import parameters_to_ndarrays

    names = list(global_state)
    weights = [client_weights(global_state, u, names) for u, _ in submissions]
    results = [(None, fit_res(w, n)) for w, (_, n) in zip(weights, submissions)]
    parameters, _metrics = strategy.aggregate_fit(server_round, results, [])
    arrays = parameters_to_ndarrays(parameters)
    new = {k: np.asarray(a).astype(global_state[k].dtype) for k, a in zip(names, arrays)}
    return new, weights


def kept_index(new_state: Mapping[str, np.ndarray], weights: Sequence[Sequence[np.ndarray]]) -> int | None:
    """The client whose weights a selection rule (Krum) returned unchanged, if any."""
    arrays = list(new_state.values())
    for i, w in enumerate(weights):
        if all(np.array_equal(a, b) for a, b in zip(arrays, w)):
            return i
    return None


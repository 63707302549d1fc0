"""The demo market: a whole task, in one process, on the real trainer and aggregator code paths.

An owner posts the digits task (:func:`~benchmarks.kit.digits_task`) with a reward; N trainers
(default 8) join on Dirichlet(0.5) non-IID shares, some of them attackers or unreliable; each
trainer runs a :class:`~trainers.node.TrainerNode` in its own thread and the aggregator an
:class:`~aggregator.service.AggregatorNode` in another, all through the Marketplace contract on
the embedded chain (or an RPC URL) and the embedded store (or a kubo API); the task finalizes and
everyone withdraws. :func:`run_demo` returns a :class:`~benchmarks.records.DemoResult` with
every number the CLI prints, plots and writes as JSON.

What a harness changes is a parameter, never a patch: ``runner`` steps the nodes (default
:func:`run_threads`), ``gas_report`` records every transaction's gas, ``prover_factory`` makes
the zk prover. The nodes' work carries :mod:`market.tracing` spans (the evaluator's is
``evaluation.evaluate``, the verifier deployment ``zk.deploy_verifier``), which a benchmark
records (see :mod:`benchmarks.overhead`).
"""

from __future__ import annotations

import contextvars
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aggregator.evaluation import make_evaluator, make_reference_trainer
from aggregator.service import AggregatorNode, Prover
from benchmarks.kit import DigitsTask, digits_task, shares
from benchmarks.records import (
    DEFAULT_ATTACKS,
    DEFAULT_UNRELIABLE,
    AuditRow,
    DemoOptions,
    DemoResult,
    RoundRow,
    TrainerRow,
)
from market.chain import ChainBackend, EmbeddedChain, RpcChain, dev_accounts
from market.encryption import generate_private_key, public_key_bytes
from market.exceptions import MarketValueError
from market.gas import GasReport
from market.marketplace import Marketplace
from market.root_set import RootSet, seal_root_set
from market.storage import EmbeddedStorage, KuboStorage, Storage
from market.task_spec import ReferenceSection, ScoringSection, TaskSpec
from market.tracing import span, traced
from market.types import SLASH_SINK, CreditKind, TaskConfig, TaskInfo
from trainers.attacks import AttackPlan
from trainers.models import model_to_bytes
from trainers.node import TrainerNode
from trainers.training import evaluate as evaluate_model

__all__ = ["DEFAULT_ATTACKS", "DEFAULT_UNRELIABLE", "DemoOptions", "DemoResult", "ProverFactory", "Runner",
           "run_demo", "run_threads", "trainer_kinds"]

NO_VERIFIER = "0x0000000000000000000000000000000000000000"

Runner = Callable[[list[TrainerNode], AggregatorNode, float], None]
"""``runner(trainer_nodes, aggregator_node, timeout)``: steps the nodes until the task ends."""

ProverFactory = Callable[..., Prover]
"""``factory(n=slots, k=sketch_k, log=log)`` (median rule) or ``factory(shape=ReferenceShape,
log=log)`` (reference rule): the aggregator's prover (default :func:`zk.prover.make_round_prover`
or :func:`zk.prover.make_reference_prover`)."""


@dataclass(frozen=True)
class _Parties:
    """Who takes part: the chain, the store, the contract and the accounts."""

    chain: ChainBackend
    storage: Storage
    market: Marketplace
    owner: Any
    aggregator: Any
    trainers: list


def trainer_kinds(options: DemoOptions) -> list[str]:
    """Per slot: ``honest`` or the attack plan; attackers and unreliable trainers come last."""
    special = [*options.attacks, *options.unreliable]
    if len(special) >= options.trainers:
        raise MarketValueError(f"{len(special)} attackers/unreliable trainers leave no honest one among {options.trainers}")
    for plan in special:
        AttackPlan.parse(plan)  # a clear error for a bad name before anything starts
    return ["honest"] * (options.trainers - len(special)) + list(special)


def _chain(options: DemoOptions) -> tuple[ChainBackend, list]:
    if options.rpc_url:
        chain = RpcChain(options.rpc_url, accounts=dev_accounts(options.trainers + 2))
    else:
        chain = EmbeddedChain(accounts=options.trainers + 2)
    accounts = chain.dev_accounts()
    if len(accounts) < options.trainers + 2:
        raise MarketValueError(f"the chain has {len(accounts)} funded accounts; {options.trainers + 2} are needed")
    return chain, accounts


def _parties(options: DemoOptions, work: Path, gas_report: GasReport | None) -> _Parties:
    """The chain and its accounts, the store, and a freshly deployed Marketplace."""
    chain, accounts = _chain(options)
    storage = KuboStorage(options.ipfs_api) if options.ipfs_api else EmbeddedStorage(work / "blocks")
    market = Marketplace.deploy(chain, accounts[0], gas_report=gas_report)
    return _Parties(chain=chain, storage=storage, market=market, owner=accounts[0], aggregator=accounts[1],
                    trainers=accounts[2: 2 + options.trainers])


def run_demo(options: DemoOptions, *, log: Callable[[str], None] = print, prover: Prover | None = None,
             verifier: str | None = None, runner: Runner | None = None, gas_report: GasReport | None = None,
             prover_factory: ProverFactory | None = None) -> DemoResult:
    """Run the whole market once. ``verifier`` (an IRoundVerifier address) with ``prover``
    makes it a zk-verified task with that verifier; without, ``options.zk`` deploys the
    development verifier and proves with ``prover_factory``'s prover, and ``zk=False`` runs in
    trusted-aggregator mode. ``runner`` steps the nodes (default :func:`run_threads`);
    ``gas_report`` is given to the Marketplace, so it records every transaction's gas."""
    started = time.perf_counter()
    kinds = trainer_kinds(options)
    if options.rule not in ("reference", "median"):
        raise MarketValueError(f"unknown paid rule {options.rule!r}: reference or median")
    if options.zk and options.trainers > slots_of(options):
        raise MarketValueError(f"the round circuit has {slots_of(options)} slots; run {options.trainers} trainers "
                               "with --trusted, or fewer trainers")
    work = options.work_dir or Path(tempfile.mkdtemp(prefix="market-demo-"))
    parties = _parties(options, work, gas_report)
    log(f"Marketplace deployed at {parties.market.address} on {parties.chain.describe()}")

    key = generate_private_key()  # the aggregator's: the owner seals the root set to it
    task = digits_task(options.seed, options)  # the owner: spec, initial model, validation set
    spec, spec_cid, root = _store_spec(parties.storage, task, options, public_key_bytes(key))
    if options.zk and verifier is None:
        verifier, prover = _zk_setup(parties, options, spec, prover, prover_factory, log)
    task_id = _post_task(parties, options, spec_cid, public_key_bytes(key), verifier, log)
    nodes = _join_trainers(parties, options, task_id, kinds, task, work)
    parties.market.start(parties.owner, task_id)
    log(f"{options.trainers} trainers joined ({', '.join(kinds)}); training started")

    aggregator = AggregatorNode(
        market=parties.market, storage=parties.storage, account=parties.aggregator, encryption_key=key,
        task_id=task_id, state_dir=work, prover=prover, log=log,
        evaluate_factory=lambda s: traced("evaluation.evaluate")(make_evaluator(s, task.validation)),
        reference_factory=make_reference_trainer,
    )
    (runner or run_threads)(nodes, aggregator, options.timeout)

    for account in [parties.owner, *parties.trainers]:  # everyone withdraws
        if parties.market.credit_of(account.address):
            parties.market.withdraw(account)
    result = _collect(parties, task_id, spec, task, kinds, aggregator)
    if options.audit:  # the owner revealed its root set after finalize: the audit recomputes each reference
        trainer = make_reference_trainer(spec, root) if root is not None else None
        _audit(result, parties, task_id, log, proofs=bool(options.zk or verifier), reference_trainer=trainer)
    result.seconds = time.perf_counter() - started
    return result


def slots_of(options: DemoOptions) -> int:
    """The round circuit's trainer slots: ``options.zk_slots``, else the number of trainers."""
    return options.zk_slots or options.trainers


def reference_epochs(spec: TaskSpec, root_size: int, train_size: int, trainers: int) -> int:
    """The owner's choice of the reference's epochs: as many SGD steps as a trainer with a typical
    share (the training split over the trainers, less the 20 % local hold-out) takes in the spec's
    local epochs, and never fewer epochs than that."""
    typical = 0.8 * train_size / trainers
    return max(spec.training.local_epochs, round(spec.training.local_epochs * typical / root_size))


def _store_spec(storage: Storage, task: DigitsTask, options: DemoOptions,
                aggregator_key: bytes) -> tuple[TaskSpec, str, RootSet | None]:
    """Store the initial model, the root set (reference rule: a class-balanced sample of the
    owner's validation split, sealed to the aggregator) and the spec that names them; returns
    the spec, its CID and the root set (the owner reveals it after finalize)."""
    spec = task.spec.with_initial_model(storage.put(model_to_bytes(task.initial)))
    root = None
    if options.rule == "reference":
        root = RootSet.balanced_sample(task.validation.X, task.validation.y, per_class=options.root_per_class,
                                       num_classes=spec.model.num_classes, seed=options.seed)
        envelope, _key, digest = seal_root_set(root, aggregator_key)
        section = ReferenceSection(root_set_cid=storage.put(envelope), root_set_digest=digest,
                                   per_class=options.root_per_class,
                                   epochs=reference_epochs(spec, len(root.y), len(task.train.y), options.trainers))
        scoring = ScoringSection(**{**spec.scoring.model_dump(), "detector": "reference", "reference": section})
        spec = spec.model_copy(update={"scoring": scoring})
    return spec, storage.put(spec.to_json()), root


def _zk_setup(parties: _Parties, options: DemoOptions, spec: TaskSpec, prover: Prover | None,
              prover_factory: ProverFactory | None, log: Callable[[str], None]) -> tuple[str, Prover]:
    """Deploy the development verifier of the task's circuit (the reference rule's or the median
    rule's); the prover that proves for it."""
    n, k = slots_of(options), spec.scoring.sketch_k
    log("zk: loading (or making, once) the DEVELOPMENT key of the round circuit; deploying its verifier")
    if spec.scoring.reference is not None:
        from aggregator.reference import reference_params
        from zk.deploy import deploy_reference_verifier
        from zk.prover import make_reference_prover
        from zk.reference_circuit import ReferenceShape

        params = reference_params(spec.scoring.reference)
        shape = ReferenceShape(n, k, params.h_num, params.h_den)
        with span("zk.deploy_verifier"):
            verifier = deploy_reference_verifier(parties.chain, parties.owner, shape=shape, params=params,
                                                 log=log).address
        return verifier, prover or (prover_factory or make_reference_prover)(shape=shape, log=log)
    from zk.deploy import deploy_round_verifier
    from zk.protocol.rule import tau_fraction
    from zk.prover import make_round_prover

    num, den = tau_fraction(options.tau)
    with span("zk.deploy_verifier"):
        verifier = deploy_round_verifier(parties.chain, parties.owner, n=n, k=k, tau_num=num, tau_den=den, log=log)
    return verifier, prover or (prover_factory or make_round_prover)(n=n, k=k, log=log)


def _post_task(parties: _Parties, options: DemoOptions, spec_cid: str, aggregator_key: bytes, verifier: str | None,
               log: Callable[[str], None]) -> int:
    """The aggregator registers its key, the deployer (the registrar, here also the owner)
    approves the verifier, and the owner posts the task with its reward; returns the task id."""
    parties.market.register_aggregator_key(parties.aggregator, aggregator_key)
    if verifier and not parties.market.verifier_info(verifier).approved:
        parties.market.approve_verifier(parties.owner, verifier)
    config = TaskConfig(
        spec_cid=spec_cid, aggregator=parties.aggregator.address, aggregator_key=aggregator_key,
        verifier=verifier or NO_VERIFIER, stake_wei=options.stake_wei,
        join_deadline=parties.chain.timestamp() + 3600, submission_window=600, sketch_window=300, publish_grace=900,
        rounds=options.rounds, min_trainers=options.trainers, max_trainers=options.trainers,
        strikes_to_slash=options.strikes_to_slash,
    )
    task_id, _ = parties.market.create_task(parties.owner, config, options.reward_wei)
    log(f"task {task_id} posted: {options.rounds} rounds, reward {options.reward_wei} wei, spec {spec_cid}")
    return task_id


def _join_trainers(parties: _Parties, options: DemoOptions, task_id: int, kinds: list[str], task: DigitsTask,
                   work: Path) -> list[TrainerNode]:
    """Each trainer joins with its Dirichlet share and its plan; returns their nodes."""
    datasets = shares(task, options.trainers, "dirichlet", alpha=options.alpha)
    nodes = []
    for slot, (account, kind) in enumerate(zip(parties.trainers, kinds)):
        parties.market.join(account, task_id)
        plan = AttackPlan.parse(None if kind == "honest" else kind, seed=options.seed + slot)
        nodes.append(TrainerNode(
            market=parties.market, storage=parties.storage, account=account, task_id=task_id, dataset=datasets[slot],
            state_dir=work / "trainers", device=options.device, attack=plan, seed=options.seed + slot,
            progress=False, log=lambda m, s=slot: None,
        ))
    return nodes


def run_threads(nodes: list[TrainerNode], aggregator: AggregatorNode, timeout: float) -> None:
    """The demo's runner: every node in its own thread (each in a copy of the caller's context,
    so a :mod:`market.tracing` recording reaches them), until the task ends or ``timeout``."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def guard(fn: Callable[[], Any]) -> Callable[[], None]:
        def target() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported to the main thread below
                errors.append(exc)
                stop.set()
        return target

    bodies = [lambda n=n: n.run(poll_seconds=0.05, stop=stop) for n in nodes]
    bodies.append(lambda: aggregator.run(poll_seconds=0.05, stop=stop))
    threads = [threading.Thread(target=contextvars.copy_context().run, args=(guard(body),), daemon=True)
               for body in bodies]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stop.set()
    if errors:
        raise errors[0]
    if any(t.is_alive() for t in threads):
        raise TimeoutError(f"the demo did not finish within {timeout:.0f}s")


def _audit(result: DemoResult, parties: _Parties, task_id: int, log: Callable[[str], None], *, proofs: bool,
           reference_trainer: Any = None) -> None:
    """The closing audit of every round (``market audit``, with the revealed root set), into
    each round's row."""
    from aggregator.audit import audit_task

    for audit in audit_task(parties.market, parties.storage, task_id, reference_trainer=reference_trainer):
        result.rounds[audit.round].audit = AuditRow(
            ok=audit.ok, checks=len(audit.checks), failed=[c.what for c in audit.checks if not c.ok],
            proof_verified_in_python=audit.proof_verified)
    audited = [r.audit.ok for r in result.rounds if r.audit is not None]
    log(f"audit: {sum(audited)} of {len(audited)} rounds reproduce from chain + storage"
        + (" (proofs verified again in Python)" if proofs else ""))


def _credits(market: Marketplace, task_id: int) -> dict[tuple[str, int], int]:
    """Wei credited per (account, credit kind) by the task's PaymentCredited events."""
    credits: dict[tuple[str, int], int] = {}
    for ev in market.events("PaymentCredited", taskId=task_id):
        key = (ev["args"]["account"], int(ev["args"]["kind"]))
        credits[key] = credits.get(key, 0) + int(ev["args"]["amount"])
    return credits


def _collect(parties: _Parties, task_id: int, spec: TaskSpec, task: DigitsTask, kinds: list[str],
             aggregator: AggregatorNode) -> DemoResult:
    """The result: final test accuracy, a row per round and per trainer, the money."""
    from trainers.models import model_from_bytes

    market, info = parties.market, parties.market.get_task(task_id)
    last = market.get_round(task_id, info.config.rounds - 1)
    final_model = model_from_bytes(parties.storage.get(last.global_model_cid), spec.model, dtype=spec.training.dtype)
    _loss, final_accuracy = evaluate_model(final_model, task.test)
    credits = _credits(market, task_id)
    finalized = market.events("TaskFinalized", taskId=task_id)[0]["args"]
    rounds = [_round_row(aggregator, r) for r in range(info.config.rounds)]
    trainers = [_trainer_row(market, info, slot, account, kind, rounds, credits)
                for slot, (account, kind) in enumerate(zip(parties.trainers, kinds))]
    reward_paid = sum(t.payout_wei for t in trainers)
    slash_paid = sum(t.slash_share_wei for t in trainers)
    slashed = sum(t.stake_slashed_wei for t in trainers)
    assert reward_paid == int(finalized["rewardPaid"]), "reward credits disagree with TaskFinalized"
    withheld = credits.get((SLASH_SINK, CreditKind.WITHHELD), 0)
    refunded = credits.get((parties.owner.address, CreditKind.REFUND), 0)
    return DemoResult(
        task_id=task_id, chain=market.chain.describe(), reward_wei=info.reward_wei,
        dust_wei=info.reward_wei - reward_paid - withheld - refunded, slash_dust_wei=slashed - slash_paid,
        withheld_wei=withheld,
        final_accuracy=float(final_accuracy), rounds=rounds, trainers=trainers,
        owner_refund_wei=credits.get((parties.owner.address, CreditKind.DUST), 0),
        contract_balance_after=market.balance(), seconds=0.0,
    )


def _round_row(aggregator: AggregatorNode, r: int) -> RoundRow:
    """Round ``r`` as the aggregator recorded it."""
    entry = aggregator.rounds[r]
    o = entry.outcome
    median = o.provable.median_distance
    return RoundRow(
        round=r, accuracy=o.accuracy, accuracy_before=o.accuracy_before, flags=o.flags, rejections=o.rejections,
        scores=o.scores, labels=o.labels, publish_gas=entry.publish_gas, proof_seconds=entry.proof_seconds,
        verified_on_chain=entry.verified_on_chain, validation_shapley=o.shapley,
        model_cid=entry.publication.global_model_cid,
        distance_ratios=[d / median if median else 0.0 for d in o.provable.distances],
        transcript_cid=entry.publication.transcript_cid,
    )


def _trainer_row(market: Marketplace, task: TaskInfo, slot: int, account: Any, kind: str, rounds: list[RoundRow],
                 credits: dict[tuple[str, int], int]) -> TrainerRow:
    """One trainer's record on chain and what it was credited."""
    info = market.get_trainer(task.task_id, account.address)
    returned = credits.get((account.address, CreditKind.STAKE_RETURNED), 0)
    return TrainerRow(
        slot=slot, address=account.address, kind=kind,
        flagged_rounds=[r.round for r in rounds if r.flags[slot]],
        rejected_rounds=[r.round for r in rounds if r.rejections[slot]],
        score_total=int(info.points), strikes=int(info.strikes),
        shapley=sum(r.validation_shapley.get("gtg", [0.0] * len(r.flags))[slot] for r in rounds),
        payout_wei=credits.get((account.address, CreditKind.REWARD), 0),
        slash_share_wei=credits.get((account.address, CreditKind.SLASH_SHARE), 0),
        stake_returned_wei=returned, stake_slashed_wei=task.config.stake_wei - returned,
    )

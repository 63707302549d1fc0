"""The demo market: a whole task, in one process, on the real trainer and aggregator code paths.

An owner posts a digits task with a reward; N trainers (default 8) join on Dirichlet(0.5)
non-IID shares, some of them attackers or unreliable; each trainer runs a
:class:`~trainers.node.TrainerNode` in its own thread and the aggregator an
:class:`~aggregator.service.AggregatorNode` in another, all through the Marketplace contract on
the embedded chain (or an RPC URL) and the embedded store (or a kubo API); the task finalizes and
everyone withdraws. :func:`run_demo` returns a :class:`DemoResult` with every number the CLI
prints, plots and writes as JSON.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aggregator.evaluation import make_evaluator
from aggregator.service import AggregatorNode, Prover
from market.chain import ChainBackend, EmbeddedChain, RpcChain, dev_accounts
from market.encryption import generate_private_key, public_key_bytes
from market.exceptions import MarketValueError
from market.marketplace import Marketplace
from market.storage import EmbeddedStorage, KuboStorage, Storage
from market.task_spec import TaskSpec
from market.types import CreditKind, TaskConfig
from trainers.attacks import AttackPlan
from trainers.data import Dataset, digits_train_test, holdout_split
from trainers.models import build_model, model_to_bytes
from trainers.node import TrainerNode
from trainers.partition import partition_dirichlet
from trainers.training import evaluate as evaluate_model

DEFAULT_ATTACKS = ("sign_flip:scale=3", "gaussian_noise:sigma=0.5")
DEFAULT_UNRELIABLE = ("unreliable:noisy_labels=0.8",)


@dataclass
class DemoOptions:
    """What a demo run does (the CLI's flags)."""

    trainers: int = 8
    rounds: int = 5
    epochs: int = 5
    learning_rate: float = 0.3
    batch_size: int = 16
    reward_wei: int = 10**18
    stake_wei: int = 10**16
    attacks: Sequence[str] = DEFAULT_ATTACKS
    unreliable: Sequence[str] = DEFAULT_UNRELIABLE
    alpha: float = 0.5
    tau: float = 4.0
    seed: int = 0
    strikes_to_slash: int = 2
    rpc_url: str | None = None
    ipfs_api: str | None = None
    work_dir: Path | None = None
    device: str | None = None
    timeout: float = 900.0
    zk: bool = True
    """Prove every round (Groth16, development key) and let the contract verify; False runs the
    task in trusted-aggregator mode."""
    zk_slots: int = 16
    """Trainer slots of the round circuit (one verifier serves 1 to this many trainers)."""
    audit: bool = True
    """Audit every round at the end as an outsider would (``market audit``: every posted number
    recomputed from chain + storage, each proof verified again in Python)."""


@dataclass
class DemoResult:
    """Everything the demo measured."""

    task_id: int
    chain: str
    reward_wei: int
    dust_wei: int
    slash_dust_wei: int
    final_accuracy: float
    rounds: list[dict[str, Any]]
    trainers: list[dict[str, Any]]
    owner_refund_wei: int
    contract_balance_after: int
    seconds: float
    gas: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id, "chain": self.chain, "reward_wei": self.reward_wei, "dust_wei": self.dust_wei,
            "slash_dust_wei": self.slash_dust_wei, "final_accuracy": self.final_accuracy, "rounds": self.rounds,
            "trainers": self.trainers, "owner_refund_wei": self.owner_refund_wei,
            "contract_balance_after": self.contract_balance_after, "seconds": self.seconds,
        }


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


def _storage(options: DemoOptions, work: Path) -> Storage:
    return KuboStorage(options.ipfs_api) if options.ipfs_api else EmbeddedStorage(work / "blocks")


def run_demo(options: DemoOptions, *, log: Callable[[str], None] = print, prover: Prover | None = None,
             verifier: str | None = None) -> DemoResult:
    """Run the whole market once. ``verifier`` (an IRoundVerifier address) with ``prover``
    makes it a zk-verified task; without, it runs in trusted-aggregator mode."""
    started = time.perf_counter()
    kinds = trainer_kinds(options)
    if options.zk and options.trainers > options.zk_slots:
        raise MarketValueError(f"the round circuit has {options.zk_slots} slots; run {options.trainers} trainers "
                               "with --trusted, or fewer trainers")
    work = options.work_dir or Path(tempfile.mkdtemp(prefix="market-demo-"))
    chain, accounts = _chain(options)
    storage = _storage(options, work)
    owner, aggregator_account, trainer_accounts = accounts[0], accounts[1], accounts[2 : 2 + options.trainers]
    market = Marketplace.deploy(chain, owner)
    log(f"Marketplace deployed at {market.address} on {chain.describe()}")

    # The owner: a spec with its initial model, a validation set, the task.
    spec = TaskSpec.example_digits(epochs=options.epochs)
    training = spec.training.model_copy(update={"learning_rate": options.learning_rate,
                                                "batch_size": options.batch_size})
    spec = spec.model_copy(update={"training": training,
                                   "scoring": spec.scoring.model_copy(update={"tau": options.tau})})
    initial_cid = storage.put(model_to_bytes(build_model(spec.model)))
    spec = spec.with_initial_model(initial_cid)
    spec_cid = storage.put(spec.to_json())
    if options.zk and verifier is None:
        from zk.protocol.rule import tau_fraction
        from zk.deploy import deploy_round_verifier
        from zk.prover import make_round_prover

        num, den = tau_fraction(options.tau)
        log("zk: loading (or making, once) the DEVELOPMENT key of the round circuit; deploying its verifier")
        verifier = deploy_round_verifier(chain, owner, n=options.zk_slots, k=spec.scoring.sketch_k, tau_num=num,
                                         tau_den=den, log=log)
        prover = prover or make_round_prover(n=options.zk_slots, k=spec.scoring.sketch_k, log=log)
    train, test = digits_train_test(spec.data.input_shape, seed=options.seed)
    test, validation = holdout_split(test, 0.5, options.seed)
    key = generate_private_key()
    config = TaskConfig(
        spec_cid=spec_cid, aggregator=aggregator_account.address, aggregator_key=public_key_bytes(key),
        verifier=verifier or "0x0000000000000000000000000000000000000000", stake_wei=options.stake_wei,
        join_deadline=chain.timestamp() + 3600, submission_window=600, sketch_window=300, publish_grace=900,
        rounds=options.rounds, min_trainers=options.trainers, max_trainers=options.trainers,
        strikes_to_slash=options.strikes_to_slash,
    )
    task_id, _ = market.create_task(owner, config, options.reward_wei)
    log(f"task {task_id} posted: {options.rounds} rounds, reward {options.reward_wei} wei, spec {spec_cid}")

    # The trainers: Dirichlet shares, join, one thread each.
    shares = partition_dirichlet(train.y, options.trainers, options.alpha, seed=options.seed)
    nodes = []
    for slot, (account, kind) in enumerate(zip(trainer_accounts, kinds)):
        market.join(account, task_id)
        plan = AttackPlan.parse(None if kind == "honest" else kind, seed=options.seed + slot)
        nodes.append(TrainerNode(
            market=market, storage=storage, account=account, task_id=task_id,
            dataset=train.subset(shares[slot]), state_dir=work / "trainers", device=options.device, attack=plan,
            seed=options.seed + slot, progress=False, log=lambda m, s=slot: None,
        ))
    market.start(owner, task_id)
    log(f"{options.trainers} trainers joined ({', '.join(kinds)}); training started")

    aggregator = AggregatorNode(
        market=market, storage=storage, account=aggregator_account, encryption_key=key, task_id=task_id,
        state_dir=work, evaluate_factory=lambda s: make_evaluator(s, validation), prover=prover, log=log,
    )
    _run_threads(nodes, aggregator, options.timeout)

    # Everyone withdraws; collect the numbers.
    for account in [owner, *trainer_accounts]:
        if market.credit_of(account.address):
            market.withdraw(account)
    result = _collect(market, storage, task_id, spec, test, kinds, trainer_accounts, owner, aggregator, options)
    if options.audit:
        from aggregator.audit import audit_task

        for audit in audit_task(market, storage, task_id):
            result.rounds[audit.round]["audit"] = {"ok": audit.ok, "checks": len(audit.checks),
                                                   "failed": [c.what for c in audit.checks if not c.ok],
                                                   "proof_verified_in_python": audit.proof_verified}
        audited = [r["audit"]["ok"] for r in result.rounds]
        log(f"audit: {sum(audited)} of {len(audited)} rounds reproduce from chain + storage"
            + (" (proofs verified again in Python)" if options.zk or verifier else ""))
    result.seconds = time.perf_counter() - started
    return result


def _run_threads(nodes: list[TrainerNode], aggregator: AggregatorNode, timeout: float) -> None:
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

    threads = [threading.Thread(target=guard(lambda n=n: n.run(poll_seconds=0.05, stop=stop)), daemon=True)
               for n in nodes]
    threads.append(threading.Thread(target=guard(lambda: aggregator.run(poll_seconds=0.05, stop=stop)), daemon=True))
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


def _collect(market: Marketplace, storage: Storage, task_id: int, spec: TaskSpec, test: Dataset, kinds: list[str],
             trainer_accounts: list, owner, aggregator: AggregatorNode, options: DemoOptions) -> DemoResult:
    from trainers.models import model_from_bytes

    task = market.get_task(task_id)
    last = market.get_round(task_id, task.config.rounds - 1)
    final_model = model_from_bytes(storage.get(last.global_model_cid), spec.model, dtype=spec.training.dtype)
    _loss, final_accuracy = evaluate_model(final_model, test)

    credits: dict[tuple[str, int], int] = {}
    for ev in market.events("PaymentCredited", taskId=task_id):
        key = (ev["args"]["account"], int(ev["args"]["kind"]))
        credits[key] = credits.get(key, 0) + int(ev["args"]["amount"])
    finalized = market.events("TaskFinalized", taskId=task_id)[0]["args"]

    rounds = []
    for r in range(task.config.rounds):
        entry = aggregator.rounds[r]
        o = entry.outcome
        rounds.append({
            "round": r, "accuracy": o.accuracy, "accuracy_before": o.accuracy_before, "flags": o.flags,
            "rejections": o.rejections, "scores": o.scores, "labels": o.labels, "publish_gas": entry.publish_gas,
            "proof_seconds": entry.proof_seconds, "verified_on_chain": entry.verified_on_chain,
            "validation_shapley": o.shapley, "model_cid": entry.publication.global_model_cid,
            "distance_ratios": [d / o.provable.median_distance if o.provable.median_distance else 0.0
                                for d in o.provable.distances],
            "transcript_cid": entry.publication.transcript_cid,
        })
    trainers = []
    for slot, (account, kind) in enumerate(zip(trainer_accounts, kinds)):
        info = market.get_trainer(task_id, account.address)
        returned = credits.get((account.address, CreditKind.STAKE_RETURNED), 0)
        shapley = sum(rounds[r]["validation_shapley"].get("gtg", [0.0] * len(kinds))[slot] for r in range(len(rounds)))
        trainers.append({
            "slot": slot, "address": account.address, "kind": kind,
            "flagged_rounds": [r for r in range(len(rounds)) if rounds[r]["flags"][slot]],
            "rejected_rounds": [r for r in range(len(rounds)) if rounds[r]["rejections"][slot]],
            "score_total": int(info.points), "strikes": int(info.strikes), "shapley": shapley,
            "payout_wei": credits.get((account.address, CreditKind.REWARD), 0),
            "slash_share_wei": credits.get((account.address, CreditKind.SLASH_SHARE), 0),
            "stake_returned_wei": returned, "stake_slashed_wei": task.config.stake_wei - returned,
        })
    reward_paid = sum(t["payout_wei"] for t in trainers)
    slash_paid = sum(t["slash_share_wei"] for t in trainers)
    slashed = sum(t["stake_slashed_wei"] for t in trainers)
    assert reward_paid == int(finalized["rewardPaid"]), "reward credits disagree with TaskFinalized"
    return DemoResult(
        task_id=task_id, chain=market.chain.describe(), reward_wei=task.reward_wei,
        dust_wei=task.reward_wei - reward_paid, slash_dust_wei=slashed - slash_paid,
        final_accuracy=float(final_accuracy), rounds=rounds, trainers=trainers,
        owner_refund_wei=credits.get((owner.address, CreditKind.DUST), 0), contract_balance_after=market.balance(),
        seconds=0.0,
    )

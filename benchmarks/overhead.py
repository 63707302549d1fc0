"""Overhead: what a round of the market costs on top of plain federated learning, step by
step, beside the same training run by Flower's FedAvg; and the gas of every contract call.

How it is measured. :func:`~benchmarks.simulation.run_demo` runs the whole market (embedded chain and
store, honest trainers on the demo's Dirichlet(0.5) shares, the real :class:`TrainerNode` and
:class:`AggregatorNode`), with three things monkeypatched for the run and restored after:

* its thread runner is replaced by a sequential one that calls every trainer's ``step()`` then
  the aggregator's ``step()`` in turn (same code paths, one thread), so that each step's wall
  time is its own and not shared with nine other threads;
* the real functions each step calls (``train_local``, ``build_update_package``,
  ``encrypt_for_aggregator``, the sketch and commitment, storage ``put``/``get``/``pin``, every
  contract transaction and view, ``fetch_and_check``, ``assess_round`` and the functions inside
  it, the evaluator, the Groth16 prover of the demo's default zk-verified task) are wrapped by a timer that charges each call's *exclusive* time (its
  time minus that of the timed calls inside it) to a step, per round;
* the Marketplace is deployed with a :class:`~market.gas.GasReport`, which records every
  transaction's gas.

Flower: a ``flwr`` ``NumPyClient`` per trainer whose ``fit`` calls the same ``train_local`` on
the same share with the same seeds, parameters serialised both ways as Flower does, and
``FedAvg.aggregate_fit`` on the results, in a plain loop (no simulation engine, no network).
A second Flower run with other trainer seeds shows what run-to-run noise looks like.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import ACCURACY_NOISE, Section, StopWatch, Table, fmt_s, protocol_text, set_torch_threads
from benchmarks.kit import DigitsTask, client_weights, digits_task, fit_res, flower_strategy, local_update, shares
from benchmarks.zk_table import gas_per_call
from trainers.attacks import AttackPlan

COMMAND = "python scripts/bench_overhead.py"

# Steps of a round, in table order: (label, side).
STEPS = [
    ("local training", "trainer"),
    ("packaging (safetensors, model parse)", "both"),
    ("encryption", "trainer"),
    ("sketch + commitment", "trainer"),
    ("storage (embedded IPFS)", "both"),
    ("submit transactions", "both"),
    ("chain reads (nodes poll views)", "both"),
    ("intake", "aggregator"),
    ("scoring (provable rule)", "aggregator"),
    ("aggregation (streaming FedAvg)", "aggregator"),
    ("proving", "aggregator"),
    ("publishing (model, transcript, publishRound)", "aggregator"),
    ("validation accuracy (audit only)", "aggregator"),
    ("validation Shapley GTG+LOO (audit only)", "aggregator"),
    ("other (state files, bookkeeping)", "both"),
]
ZK_KEY_LOAD = "zk proving key load (once)"
ZK_DEPLOY = "zk verifier deployment (once)"
AUDIT_ONLY = {"validation accuracy (audit only)", "validation Shapley GTG+LOO (audit only)"}
SHAPLEY = "validation Shapley GTG+LOO (audit only)"


class StepTimer:
    """Exclusive wall time per (phase, step) of wrapped calls; one thread."""

    def __init__(self) -> None:
        self.phase = "setup"
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self._stack: list[list[Any]] = []
        self.paused = False

    def wrap(self, fn: Callable[..., Any], label: str, *, transparent_inside: frozenset[str] = frozenset()):
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self.paused or (self._stack and self._stack[-1][0] in transparent_inside):
                return fn(*args, **kwargs)
            frame = [label, time.perf_counter(), 0.0]
            self._stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                self._stack.pop()
                elapsed = time.perf_counter() - frame[1]
                self.seconds[(self.phase, label)] += elapsed - frame[2]
                if self._stack:
                    self._stack[-1][2] += elapsed
        return timed


@contextlib.contextmanager
def patched(targets: list[tuple[Any, str, Any]]) -> Iterator[None]:
    """Set ``obj.name = value`` for each target; restore everything on exit."""
    saved = [(obj, name, obj.__dict__[name] if isinstance(obj, type) else getattr(obj, name)) for obj, name, _ in targets]
    try:
        for obj, name, value in targets:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)


def _instrumented_demo(options, timer: StepTimer, gas):
    """Run :func:`run_demo` with the timers, the sequential runner and the gas report."""
    import benchmarks.simulation as demo
    import aggregator.intake as intake
    import aggregator.round_pipeline as pipeline
    import aggregator.service as service
    import trainers.models as models
    import trainers.node as node
    import zk.deploy as zk_deploy
    import zk.prover as zk_prover
    from aggregator.aggregation import FedAvgAccumulator
    from market.marketplace import Marketplace
    from market.storage import EmbeddedStorage, Storage

    def sequential(nodes, aggregator, timeout):
        deadline = time.monotonic() + timeout
        while True:
            timer.paused = True  # the runner's own look at the round is not the nodes' work
            task = aggregator.market.get_task(aggregator.task_id)
            timer.paused = False
            r = task.current_round
            timer.phase = f"round {r}" if r < task.config.rounds else "settlement"
            started = time.perf_counter()
            for n in nodes:
                n.step()
            action = aggregator.step()
            timer.wall[timer.phase] += time.perf_counter() - started
            if action in ("finished", "finalized"):
                timer.phase = "settlement"
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the instrumented demo did not finish within {timeout:.0f}s")

    class RecordedMarketplace(Marketplace):
        @classmethod
        def deploy(cls, chain, deployer, *, gas_report=None):
            return super().deploy(chain, deployer, gas_report=gas)

    def evaluator_factory(spec, validation):
        return timer.wrap(service_make_evaluator(spec, validation), "validation accuracy (audit only)",
                          transparent_inside=frozenset({SHAPLEY}))

    service_make_evaluator = demo.make_evaluator

    def make_prover(**kwargs):  # the demo's prover, timed; its key loaded now (once, in setup), not in round 0
        prover = real_make_prover(**kwargs)
        timer.wrap(lambda: prover.keys.proving_key, ZK_KEY_LOAD)()
        return timer.wrap(prover, "proving")

    real_make_prover = zk_prover.make_round_prover
    pack, store, submit = "packaging (safetensors, model parse)", "storage (embedded IPFS)", "submit transactions"
    score, agg = "scoring (provable rule)", "aggregation (streaming FedAvg)"
    pub = "publishing (model, transcript, publishRound)"
    timed = [  # (owner, attribute, step): the real functions each step calls
        (node, "train_local", "local training"), (node, "build_update_package", pack),
        (node, "load_update_package", pack), (models, "state_from_bytes", pack),
        (node, "encrypt_for_aggregator", "encryption"), (node, "sketch_update", "sketch + commitment"),
        (node, "sketch_commitment", "sketch + commitment"),
        (Storage, "put", store), (Storage, "get", store), (EmbeddedStorage, "pin", store),
        (Marketplace, "submit_update", submit), (Marketplace, "commit_sketch", submit),
        (Marketplace, "close_submissions", submit), (Marketplace, "publish_round", pub),
        (Marketplace, "reveal_evidence_key", pub), (Marketplace, "_call", "chain reads (nodes poll views)"),
        (intake, "fetch_and_check", "intake"), (service, "assess_round", score), (pipeline, "provable_round", score),
        (pipeline, "validation_shapley", SHAPLEY), (pipeline, "apply_to", agg), (FedAvgAccumulator, "add", agg),
        (FedAvgAccumulator, "result", agg), (service, "model_to_bytes", pub), (service, "build_transcript", pub),
    ]
    targets = [
        (demo, "_run_threads", sequential),
        (demo, "Marketplace", RecordedMarketplace),
        (demo, "make_evaluator", evaluator_factory),
        (zk_prover, "make_round_prover", make_prover),
        (zk_deploy, "deploy_round_verifier", timer.wrap(zk_deploy.deploy_round_verifier, ZK_DEPLOY)),
        *((owner, name, timer.wrap(getattr(owner, name), step)) for owner, name, step in timed),
    ]
    with patched(targets):
        return demo.run_demo(options, log=lambda message: None)


def flower_fedavg(task: DigitsTask, datasets, rounds: int, *, seed_offset: int = 0) -> dict[str, Any]:
    """Plain federated training with Flower: NumPyClients calling ``train_local``, FedAvg's
    ``aggregate_fit``; validation accuracy per round, test accuracy at the end, step times."""
    from flwr.client import NumPyClient
    from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays

    names = task.names
    watch = StopWatch()

    class DigitsClient(NumPyClient):
        def __init__(self, slot: int) -> None:
            self.slot = slot

        def fit(self, parameters, config):
            state = dict(zip(names, parameters))
            with watch("local training"):
                update, samples, _ = local_update(task, state, datasets[self.slot], AttackPlan(),
                                                  trainer_seed=task.seed + self.slot + seed_offset,
                                                  round_=int(config["round"]))
            return client_weights(state, update, names), samples, {}

    strategy = flower_strategy("FedAvg")
    validation, test = task.evaluator("validation"), task.evaluator("test")
    clients = [DigitsClient(i) for i in range(len(datasets))]
    state = {k: v.copy() for k, v in task.initial.items()}
    accuracy = []
    for r in range(rounds):
        with watch("serialisation"):
            parameters = ndarrays_to_parameters([state[k] for k in names])
        results = []
        for c in clients:
            with watch("serialisation"):
                received = parameters_to_ndarrays(parameters)
            weights, samples, _ = c.fit(received, {"round": r})
            with watch("serialisation"):
                results.append((None, fit_res(weights, samples)))
        with watch("aggregation"):
            aggregated, _ = strategy.aggregate_fit(r + 1, results, [])
        with watch("serialisation"):
            state = {k: a.astype(task.initial[k].dtype) for k, a in zip(names, parameters_to_ndarrays(aggregated))}
        with watch("evaluation"):
            accuracy.append(validation(state))
    return {"accuracy": accuracy, "final_accuracy": test(state), "seconds": dict(watch.seconds)}


def _default_thread_training(task: DigitsTask, datasets) -> tuple[float, int]:
    """One round of local training of every trainer with one torch thread per core (torch's
    default here), for comparison with the benchmark's setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        started = time.perf_counter()
        for slot, data in enumerate(datasets):
            local_update(task, task.initial, data, AttackPlan(), trainer_seed=task.seed + slot, round_=0)
        return time.perf_counter() - started, torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def _warm_up(task: DigitsTask, data) -> None:
    """First calls pay one-off costs (torch's autograd and kernels, Poseidon's constants);
    make them before anything is timed, for the market and Flower alike."""
    from benchmarks.kit import MarketPath, round_seed

    update, samples, _ = local_update(task, task.initial, data, AttackPlan(), trainer_seed=task.seed, round_=0)
    MarketPath(task).submit(0, update, samples, round_=0, seed=round_seed("warm-up"))
    task.evaluator("validation")(task.initial)


def measure_market(options, *, gas=None) -> tuple[dict[str, float], Any, StepTimer]:
    """One instrumented demo run: mean exclusive seconds per step and round, the demo's
    result, and the timer (for setup and settlement)."""
    timer = StepTimer()
    result = _instrumented_demo(options, timer, gas)
    rounds = options.rounds
    phases = [f"round {r}" for r in range(rounds)]
    per_round = {label: sum(timer.seconds.get((p, label), 0.0) for p in phases) / rounds for label, _ in STEPS}
    wall = sum(timer.wall[p] for p in phases) / rounds
    per_round["other (state files, bookkeeping)"] = max(0.0, wall - sum(per_round.values()))
    return per_round, result, timer


def _on_anvil(options) -> tuple[dict[str, float] | None, str]:
    """The same instrumented run against an anvil node this process starts (and stops)."""
    from dataclasses import replace

    from web3 import Web3

    from market.chain.base import DEV_ACCOUNT_COUNT, dev_accounts
    from market.chain.nodes import anvil_binary, start_anvil
    from market.exceptions import MarketError

    try:
        node = start_anvil()
    except (MarketError, OSError) as exc:
        return None, f"n/a ({exc.__class__.__name__})"
    with node:
        # anvil funds its first 10 development accounts; the demo needs trainers + 2 of them
        web3 = Web3(Web3.HTTPProvider(node.url))
        for account in dev_accounts(options.trainers + 2)[DEV_ACCOUNT_COUNT:]:
            web3.provider.make_request("anvil_setBalance", [account.address, hex(10**22)])
        per_round, _result, _timer = measure_market(replace(options, rpc_url=node.url))
    version = subprocess.run([str(anvil_binary()), "--version"], capture_output=True, text=True, timeout=30)
    name = version.stdout.strip().splitlines()[0].replace("Version: ", "") if version.returncode == 0 else "anvil"
    return per_round, f"{name} over HTTP on 127.0.0.1, auto-mining"


def run(*, quick: bool = False, out: Path, seed: int = 0, trainers: int | None = None, rounds: int | None = None,
        anvil: bool | None = None, trusted: bool = False, **_: Any) -> Section:
    """The overhead table (py-evm, and anvil unless quick), accuracy beside Flower, and the gas table."""
    from benchmarks.simulation import DemoOptions
    from market.gas import GasReport

    started = time.perf_counter()
    n = trainers or (3 if quick else 10)
    rounds = rounds or (1 if quick else 5)
    anvil = (not quick) if anvil is None else anvil
    # audit=False: the closing audit is an outsider's work, not part of a round's cost
    options = DemoOptions(trainers=n, rounds=rounds, attacks=(), unreliable=(), seed=seed, zk=not trusted,
                          audit=False)
    if quick and not trusted:
        options.zk_slots = 4  # the smallest circuit that holds the quick run's trainers: a cheap proof for CI
    task = digits_task(seed, options)
    datasets = shares(task, n, "dirichlet", alpha=options.alpha)
    _warm_up(task, datasets[0])
    gas = GasReport()
    per_round, result, timer = measure_market(options, gas=gas)
    per_round_anvil, anvil_label = _on_anvil(options) if anvil else (None, "not run (--no-anvil or --quick)")

    flower = flower_fedavg(task, datasets, rounds)
    flower_noise = flower_fedavg(task, datasets, rounds, seed_offset=1000)
    default_threads_s, default_threads = _default_thread_training(task, datasets)

    proofs = [r["proof_seconds"] for r in result.rounds if r["proof_seconds"] is not None]
    total = sum(per_round.values())
    training = per_round["local training"]
    audit = sum(per_round[k] for k in AUDIT_ONLY)

    fl = {k: v / rounds for k, v in flower["seconds"].items()}
    fl_total = sum(fl.values())
    flower_equivalent = {
        "local training": fl.get("local training", 0.0),
        "packaging (safetensors, model parse)": fl.get("serialisation", 0.0),
        "aggregation (streaming FedAvg)": fl.get("aggregation", 0.0),
        "validation accuracy (audit only)": fl.get("evaluation", 0.0),
    }
    steps = Table(f"Overhead: time of one round ({n} trainers, digits MLP, mean of {rounds} round(s))",
                  ["step", "side", "market s/round", "per trainer", "share of round", "market on anvil s/round",
                   "Flower FedAvg s/round"])

    def anvil_cell(label: str) -> str:
        return "n/a" if per_round_anvil is None else fmt_s(per_round_anvil[label])

    for label, side in STEPS:
        seconds = per_round[label]
        trusted = label == "proving" and not proofs
        market_cell = "n/a (trusted mode)" if trusted else fmt_s(seconds)
        per_trainer = fmt_s(seconds / n) if side == "trainer" else "—"
        fl_cell = fmt_s(flower_equivalent[label]) if label in flower_equivalent else "—"
        steps.add(label, side, market_cell, per_trainer, f"{seconds / total:.1%}" if total else "n/a",
                  "n/a (trusted mode)" if trusted else anvil_cell(label), fl_cell)
    anvil_total = None if per_round_anvil is None else sum(per_round_anvil.values())
    steps.add("total", "", fmt_s(total), "—", "100%", fmt_s(anvil_total), fmt_s(fl_total))
    ratio = (total - training) / training if training else float("nan")
    ratio_paid = (total - training - audit) / training if training else float("nan")
    fl_ratio = (fl_total - fl.get("local training", 0.0)) / fl.get("local training", 1.0)

    def anvil_ratio(without_audit: bool) -> str:
        if per_round_anvil is None:
            return "n/a"
        t = per_round_anvil["local training"]
        rest = anvil_total - t - (sum(per_round_anvil[k] for k in AUDIT_ONLY) if without_audit else 0.0)
        return f"{rest / t:.1f}×"

    steps.add("not-training / training", "", f"{ratio:.1f}×", "—", "—", anvil_ratio(False), f"{fl_ratio:.2f}×")
    steps.add("… without the audit-only rows", "", f"{ratio_paid:.1f}×", "—", "—", anvil_ratio(True), "—")
    steps.notes += [
        f"Measured by timing the real functions inside `run_demo` (exclusive time per call; see the module "
        f"docstring of `benchmarks/overhead.py`); trainers and aggregator stepped in one thread. torch threads: "
        f"{set_torch_threads(None)}. Setup (deploy, post, {n} joins, start) took {fmt_s(_phase(timer, 'setup'))} "
        f"and settlement (finalize, withdrawals) {fmt_s(_phase(timer, 'settlement'))}, once per task.",
        f"\"market s/round\" is the embedded chain (eth-tester on py-evm, in process), the demo's default; "
        f"\"market on anvil\" is the same run against {anvil_label}.",
        (f"Proving: the demo's default zk-verified task, Groth16 with the DEVELOPMENT key of the Round("
         f"{options.zk_slots}, {task.spec.scoring.sketch_k}) circuit (one circuit serves up to {options.zk_slots} "
         f"trainers), proved by groth16py in process and verified by the contract in publishRound. Once per task: "
         f"loading the proving key took {fmt_s(_phase_step(timer, 'setup', ZK_KEY_LOAD))} and deploying the verifier "
         f"{fmt_s(_phase_step(timer, 'setup', ZK_DEPLOY))}; `--trusted` measures trusted-aggregator mode (no proof)."
         if proofs else "Proving: trusted-aggregator mode (`--trusted`), so no proof is made; the proving cost per "
         "round is the zk table's (section 4)."),
        f"With torch's default of {default_threads} intra-op threads (what a trainer gets unless told otherwise) the "
        f"same local training took {fmt_s(default_threads_s)} per round, {default_threads_s / training:.1f}× the "
        "one-thread time of the table; the market and Flower both train with one thread here, so the comparison "
        "does not depend on it.",
        f"LOSES to Flower: the market's round costs {total / fl_total:.1f}× Flower's on this model; local training "
        f"is only {training / total:.1%} of it." if fl_total and total > fl_total else "",
    ]
    steps.notes = [x for x in steps.notes if x]

    acc = Table("Overhead: validation accuracy per round, market vs Flower FedAvg on the same partitions",
                ["round", "market (provable rule + FedAvg)", "Flower FedAvg (same seeds)", "|Δ|",
                 "Flower FedAvg (other seeds)", "|noise|"])
    diffs, noises = [], []
    for r in range(rounds):
        m, f, g = result.rounds[r]["accuracy"], flower["accuracy"][r], flower_noise["accuracy"][r]
        diffs.append(abs(m - f))
        noises.append(abs(f - g))
        acc.add(r, f"{m:.3f}", f"{f:.3f}", f"{abs(m - f):.3f}", f"{g:.3f}", f"{abs(f - g):.3f}")
    acc.add("final (test split)", f"{result.final_accuracy:.3f}", f"{flower['final_accuracy']:.3f}",
            f"{abs(result.final_accuracy - flower['final_accuracy']):.3f}", f"{flower_noise['final_accuracy']:.3f}",
            f"{abs(flower['final_accuracy'] - flower_noise['final_accuracy']):.3f}")
    band = max([ACCURACY_NOISE, *noises])
    flagged = sum(sum(r["flags"]) for r in result.rounds)
    verdict = "match within noise" if max(diffs) <= band else "DIFFER by more than noise"
    acc.notes += [f"Verdict: {verdict} (largest |Δ| {max(diffs):.3f}, noise band {band:.3f} = max of the other-seed "
                  f"difference and {ACCURACY_NOISE}). The provable rule flagged {flagged} honest submission(s) over "
                  f"{rounds} round(s); each flag drops that trainer's update from the average."]

    gas_table = gas_per_call(gas, n, rounds, verified=bool(proofs))
    plots = _plots(out, per_round, per_round_anvil, flower_equivalent, result, flower, flower_noise, rounds)
    return Section(
        key="overhead", title="1. Overhead of the market over plain federated learning", command=COMMAND,
        notes=[protocol_text(__doc__)],
        tables=[steps, acc, gas_table], plots=plots, seconds=time.perf_counter() - started,
        data={"trainers": n, "rounds": rounds, "per_round": per_round, "per_round_anvil": per_round_anvil,
              "flower_per_round": fl,
              "ratio": ratio, "ratio_without_audit": ratio_paid, "flower_ratio": fl_ratio,
              "market_accuracy": [r["accuracy"] for r in result.rounds], "flower_accuracy": flower["accuracy"],
              "flower_other_seeds_accuracy": flower_noise["accuracy"], "final_accuracy": result.final_accuracy,
              "flower_final_accuracy": flower["final_accuracy"], "gas": {k: list(v) for k, v in gas.samples.items()},
              "verdict": verdict},
    )


def _phase(timer: StepTimer, phase: str) -> float:
    return sum(v for (p, step), v in timer.seconds.items() if p == phase and step not in (ZK_KEY_LOAD, ZK_DEPLOY))


def _phase_step(timer: StepTimer, phase: str, step: str) -> float:
    return timer.seconds.get((phase, step), 0.0)


def _plots(out: Path, per_round, per_round_anvil, flower_equivalent, result, flower, flower_noise,
           rounds) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bars = [("Flower FedAvg", flower_equivalent), ("market (py-evm)", per_round)]
    if per_round_anvil is not None:
        bars.append(("market (anvil)", per_round_anvil))
    colours = plt.get_cmap("tab20").colors
    for y, (_name, values) in enumerate(bars):
        left = 0.0
        for i, (label, _side) in enumerate(STEPS):
            v = values.get(label, 0.0)
            if v > 0:
                ax.barh(y, v, left=left, color=colours[i % 20], label=label if y == 1 else None)
                left += v
    ax.set_yticks(range(len(bars)), [name for name, _ in bars])
    ax.set_xlabel("seconds per round")
    ax.set_title("Time of one round, by step")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    a = out / "overhead_steps.png"
    fig.savefig(a, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = list(range(rounds))
    ax.plot(xs, [r["accuracy"] for r in result.rounds], marker="o", label="market")
    ax.plot(xs, flower["accuracy"], marker="x", linestyle="--", label="Flower FedAvg (same seeds)")
    ax.plot(xs, flower_noise["accuracy"], marker=".", linestyle=":", label="Flower FedAvg (other seeds)")
    ax.set_xlabel("round")
    ax.set_ylabel("validation accuracy")
    ax.set_xticks(xs)
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    ax.set_title("Accuracy per round")
    fig.tight_layout()
    b = out / "overhead_accuracy.png"
    fig.savefig(b, dpi=120)
    plt.close(fig)
    return [a, b]

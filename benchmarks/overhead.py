"""Overhead: what a round of the market costs on top of plain federated learning, step by
step, beside the same training run by Flower's FedAvg; and the gas of every contract call.

How it is measured. :func:`~benchmarks.simulation.run_demo` runs the whole market (embedded chain and
store, honest trainers on the demo's Dirichlet(0.5) shares, the real :class:`TrainerNode` and
:class:`AggregatorNode`), with three things given to it for the run (parameters, nothing patched):

* a sequential runner that calls every trainer's ``step()`` then the aggregator's ``step()`` in
  turn (same code paths, one thread), so that each step's wall time is its own and not shared
  with nine other threads;
* a recording of the spans the real functions each step calls carry (``train_local``,
  ``build_update_package``, ``encrypt_for_aggregator``, the sketch and commitment, storage
  ``put``/``get``/``pin``, every contract transaction and view, ``fetch_and_check``,
  ``assess_round`` and the functions inside it, the evaluator, the Groth16 prover of the demo's
  default zk-verified task): the recorder charges each span's *exclusive* time (its time minus that of the recorded spans
  inside it) to a step, per round (:mod:`benchmarks.round_steps` maps span names to steps);
* a :class:`~market.gas.GasReport` for the Marketplace, which records every transaction's gas.

Flower: a ``flwr`` ``NumPyClient`` per trainer whose ``fit`` calls the same ``train_local`` on
the same share with the same seeds, parameters serialised both ways as Flower does, and
``FedAvg.aggregate_fit`` on the results, in a plain loop (no simulation engine, no network).
A second Flower run with other trainer seeds shows what run-to-run noise looks like.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.common import ACCURACY_NOISE, Section, StopWatch, Table, fmt_s, protocol_text, set_torch_threads
from benchmarks.kit import DigitsTask, client_weights, digits_task, fit_res, flower_strategy, local_update, shares
from benchmarks.records import DemoOptions, DemoResult
from benchmarks.round_steps import (
    AUDIT_ONLY,
    SETTLEMENT,
    SETUP,
    SHAPLEY,
    STEPS,
    ZK_DEPLOY,
    ZK_KEY_LOAD,
    StepRecorder,
    measure_demo,
)
from benchmarks.simulation import slots_of
from benchmarks.zk_table import gas_per_call
from market.gas import GasReport
from trainers.attacks import AttackPlan

__all__ = ["AUDIT_ONLY", "COMMAND", "SHAPLEY", "STEPS", "ZK_DEPLOY", "ZK_KEY_LOAD", "flower_fedavg", "measure_market",
           "run"]

COMMAND = "python scripts/bench_overhead.py"


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
    before = set_torch_threads(None)
    set_torch_threads(os.cpu_count() or 1)
    try:
        started = time.perf_counter()
        for slot, data in enumerate(datasets):
            local_update(task, task.initial, data, AttackPlan(), trainer_seed=task.seed + slot, round_=0)
        return time.perf_counter() - started, set_torch_threads(None)
    finally:
        set_torch_threads(before)


def _warm_up(task: DigitsTask, data) -> None:
    """First calls pay one-off costs (torch's autograd and kernels, Poseidon's constants);
    make them before anything is timed, for the market and Flower alike."""
    from benchmarks.kit import MarketPath, round_seed

    update, samples, _ = local_update(task, task.initial, data, AttackPlan(), trainer_seed=task.seed, round_=0)
    MarketPath(task).submit(0, update, samples, round_=0, seed=round_seed("warm-up"))
    task.evaluator("validation")(task.initial)


def measure_market(options: DemoOptions, *, gas: GasReport | None = None) -> tuple[dict[str, float], DemoResult,
                                                                                     StepRecorder]:
    """One recorded demo run: mean exclusive seconds per step and round, the demo's result, and
    the recorder (for setup and settlement)."""
    result, recorder = measure_demo(options, gas=gas)
    return recorder.per_round(options.rounds), result, recorder


def _on_anvil(options: DemoOptions) -> tuple[dict[str, float] | None, str]:
    """The same recorded run against an anvil node this process starts (and stops)."""
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
        per_round, _result, _recorder = measure_market(replace(options, rpc_url=node.url))
    version = subprocess.run([str(anvil_binary()), "--version"], capture_output=True, text=True, timeout=30)
    name = version.stdout.strip().splitlines()[0].replace("Version: ", "") if version.returncode == 0 else "anvil"
    return per_round, f"{name} over HTTP on 127.0.0.1, auto-mining"


@dataclass
class _Measured:
    """Everything one overhead run measured, for the tables, the plots and the data."""

    options: DemoOptions
    task: DigitsTask
    per_round: dict[str, float]
    result: DemoResult
    recorder: StepRecorder
    gas: GasReport
    per_round_anvil: dict[str, float] | None
    anvil_label: str
    flower: dict[str, Any]
    flower_noise: dict[str, Any]
    default_threads_s: float
    default_threads: int

    @property
    def n(self) -> int:
        return self.options.trainers

    @property
    def rounds(self) -> int:
        return self.options.rounds

    @property
    def proofs(self) -> list[float]:
        return [r.proof_seconds for r in self.result.rounds if r.proof_seconds is not None]

    @property
    def flower_per_round(self) -> dict[str, float]:
        return {k: v / self.rounds for k, v in self.flower["seconds"].items()}

    @property
    def flower_equivalent(self) -> dict[str, float]:
        """Flower's timings under the market's step labels."""
        fl = self.flower_per_round
        return {
            "local training": fl.get("local training", 0.0),
            "packaging (safetensors, model parse)": fl.get("serialisation", 0.0),
            "aggregation (streaming FedAvg)": fl.get("aggregation", 0.0),
            "validation accuracy (audit only)": fl.get("evaluation", 0.0),
        }


def _options(quick: bool, seed: int, trainers: int | None, rounds: int | None, trusted: bool) -> DemoOptions:
    # audit=False: the closing audit is an outsider's work, not part of a round's cost
    options = DemoOptions(trainers=trainers or (3 if quick else 10), rounds=rounds or (1 if quick else 5), attacks=(),
                          unreliable=(), seed=seed, zk=not trusted, audit=False)
    if quick and not trusted:
        options.zk_slots = 4  # the smallest circuit that holds the quick run's trainers: a cheap proof for CI
    return options


def _measure(options: DemoOptions, *, anvil: bool) -> _Measured:
    """The recorded market run (and on anvil), the two Flower runs, the default-thread training."""
    task = digits_task(options.seed, options)
    datasets = shares(task, options.trainers, "dirichlet", alpha=options.alpha)
    _warm_up(task, datasets[0])
    gas = GasReport()
    per_round, result, recorder = measure_market(options, gas=gas)
    per_round_anvil, anvil_label = _on_anvil(options) if anvil else (None, "not run (--no-anvil or --quick)")
    flower = flower_fedavg(task, datasets, options.rounds)
    flower_noise = flower_fedavg(task, datasets, options.rounds, seed_offset=1000)
    default_threads_s, default_threads = _default_thread_training(task, datasets)
    return _Measured(options, task, per_round, result, recorder, gas, per_round_anvil, anvil_label, flower,
                     flower_noise, default_threads_s, default_threads)


def _ratios(per_round: dict[str, float] | None) -> tuple[float, float] | None:
    """(not-training / training, the same without the audit-only rows) of one column."""
    if per_round is None:
        return None
    total, training = sum(per_round.values()), per_round["local training"]
    if not training:
        return float("nan"), float("nan")
    audit = sum(per_round[k] for k in AUDIT_ONLY)
    return (total - training) / training, (total - training - audit) / training


def _steps_table(m: _Measured) -> Table:
    """Seconds per round of each step: market, per trainer, share, on anvil, Flower."""
    n, per_round, anvil = m.n, m.per_round, m.per_round_anvil
    steps = Table(f"Overhead: time of one round ({n} trainers, digits MLP, mean of {m.rounds} round(s))",
                  ["step", "side", "market s/round", "per trainer", "share of round", "market on anvil s/round",
                   "Flower FedAvg s/round"])
    total, flower_equivalent = sum(per_round.values()), m.flower_equivalent
    for label, side in STEPS:
        seconds = per_round[label]
        trusted = label == "proving" and not m.proofs
        market_cell = "n/a (trusted mode)" if trusted else fmt_s(seconds)
        per_trainer = fmt_s(seconds / n) if side == "trainer" else "—"
        fl_cell = fmt_s(flower_equivalent[label]) if label in flower_equivalent else "—"
        anvil_cell = "n/a" if anvil is None else fmt_s(anvil[label])
        steps.add(label, side, market_cell, per_trainer, f"{seconds / total:.1%}" if total else "n/a",
                  "n/a (trusted mode)" if trusted else anvil_cell, fl_cell)
    fl = m.flower_per_round
    steps.add("total", "", fmt_s(total), "—", "100%", fmt_s(None if anvil is None else sum(anvil.values())),
              fmt_s(sum(fl.values())))
    ratio, ratio_paid = _ratios(per_round)
    on_anvil = _ratios(anvil)
    fl_ratio = (sum(fl.values()) - fl.get("local training", 0.0)) / fl.get("local training", 1.0)
    steps.add("not-training / training", "", f"{ratio:.1f}×", "—", "—",
              "n/a" if on_anvil is None else f"{on_anvil[0]:.1f}×", f"{fl_ratio:.2f}×")
    steps.add("… without the audit-only rows", "", f"{ratio_paid:.1f}×", "—", "—",
              "n/a" if on_anvil is None else f"{on_anvil[1]:.1f}×", "—")
    steps.notes = _steps_notes(m)
    return steps


def _steps_notes(m: _Measured) -> list[str]:
    total, training = sum(m.per_round.values()), m.per_round["local training"]
    fl_total, recorder, options = sum(m.flower_per_round.values()), m.recorder, m.options
    notes = [
        f"Measured by recording the spans of the real functions inside `run_demo` (exclusive time per call; see the "
        f"module docstring of `benchmarks/overhead.py`); trainers and aggregator stepped in one thread. torch threads: "
        f"{set_torch_threads(None)}. Setup (deploy, post, {m.n} joins, start) took {fmt_s(recorder.phase_total(SETUP))} "
        f"and settlement (finalize, withdrawals) {fmt_s(recorder.phase_total(SETTLEMENT))}, once per task.",
        f"\"market s/round\" is the embedded chain (eth-tester on py-evm, in process), the demo's default; "
        f"\"market on anvil\" is the same run against {m.anvil_label}.",
        (f"Proving: the demo's default zk-verified task ({options.rule} rule), Groth16 with the DEVELOPMENT key of "
         f"its circuit at {slots_of(options)} slots × k = {m.task.spec.scoring.sketch_k} (one circuit serves up to "
         f"{slots_of(options)} trainers), proved by groth16py in process and verified by the contract in publishRound. Once per task: "
         f"loading the proving key took {fmt_s(recorder.step(SETUP, ZK_KEY_LOAD))} and deploying the verifier "
         f"{fmt_s(recorder.step(SETUP, ZK_DEPLOY))}; `--trusted` measures trusted-aggregator mode (no proof)."
         if m.proofs else "Proving: trusted-aggregator mode (`--trusted`), so no proof is made; the proving cost per "
         "round is the zk table's (section 4)."),
        f"With torch's default of {m.default_threads} intra-op threads (what a trainer gets unless told otherwise) the "
        f"same local training took {fmt_s(m.default_threads_s)} per round, {m.default_threads_s / training:.1f}× the "
        "one-thread time of the table; the market and Flower both train with one thread here, so the comparison "
        "does not depend on it.",
        f"LOSES to Flower: the market's round costs {total / fl_total:.1f}× Flower's on this model; local training "
        f"is only {training / total:.1%} of it." if fl_total and total > fl_total else "",
    ]
    return [x for x in notes if x]


def _accuracy_table(m: _Measured) -> tuple[Table, str]:
    """Validation accuracy per round, market beside Flower (same and other seeds); the verdict."""
    result, flower, noise = m.result, m.flower, m.flower_noise
    acc = Table("Overhead: validation accuracy per round, market vs Flower FedAvg on the same partitions",
                ["round", "market (provable rule + FedAvg)", "Flower FedAvg (same seeds)", "|Δ|",
                 "Flower FedAvg (other seeds)", "|noise|"])
    diffs, noises = [], []
    for r in range(m.rounds):
        a, f, g = result.rounds[r].accuracy, flower["accuracy"][r], noise["accuracy"][r]
        diffs.append(abs(a - f))
        noises.append(abs(f - g))
        acc.add(r, f"{a:.3f}", f"{f:.3f}", f"{abs(a - f):.3f}", f"{g:.3f}", f"{abs(f - g):.3f}")
    acc.add("final (test split)", f"{result.final_accuracy:.3f}", f"{flower['final_accuracy']:.3f}",
            f"{abs(result.final_accuracy - flower['final_accuracy']):.3f}", f"{noise['final_accuracy']:.3f}",
            f"{abs(flower['final_accuracy'] - noise['final_accuracy']):.3f}")
    band = max([ACCURACY_NOISE, *noises])
    flagged = sum(sum(r.flags) for r in result.rounds)
    verdict = "match within noise" if max(diffs) <= band else "DIFFER by more than noise"
    acc.notes += [f"Verdict: {verdict} (largest |Δ| {max(diffs):.3f}, noise band {band:.3f} = max of the other-seed "
                  f"difference and {ACCURACY_NOISE}). The provable rule flagged {flagged} honest submission(s) over "
                  f"{m.rounds} round(s); each flag drops that trainer's update from the average."]
    return acc, verdict


def run(*, quick: bool = False, out: Path, seed: int = 0, trainers: int | None = None, rounds: int | None = None,
        anvil: bool | None = None, trusted: bool = False, **_: Any) -> Section:
    """The overhead table (py-evm, and anvil unless quick), accuracy beside Flower, and the gas table."""
    started = time.perf_counter()
    options = _options(quick, seed, trainers, rounds, trusted)
    m = _measure(options, anvil=(not quick) if anvil is None else anvil)
    steps = _steps_table(m)
    acc, verdict = _accuracy_table(m)
    gas_table = gas_per_call(m.gas, m.n, m.rounds, verified=bool(m.proofs))
    plots = _plots(out, m)
    ratio, ratio_paid = _ratios(m.per_round)
    fl = m.flower_per_round
    return Section(
        key="overhead", title="1. Overhead of the market over plain federated learning", command=COMMAND,
        notes=[protocol_text(__doc__)],
        tables=[steps, acc, gas_table], plots=plots, seconds=time.perf_counter() - started,
        data={"trainers": m.n, "rounds": m.rounds, "per_round": m.per_round, "per_round_anvil": m.per_round_anvil,
              "flower_per_round": fl,
              "ratio": ratio, "ratio_without_audit": ratio_paid,
              "flower_ratio": (sum(fl.values()) - fl.get("local training", 0.0)) / fl.get("local training", 1.0),
              "market_accuracy": [r.accuracy for r in m.result.rounds], "flower_accuracy": m.flower["accuracy"],
              "flower_other_seeds_accuracy": m.flower_noise["accuracy"], "final_accuracy": m.result.final_accuracy,
              "flower_final_accuracy": m.flower["final_accuracy"],
              "gas": {k: list(v) for k, v in m.gas.samples.items()}, "verdict": verdict},
    )


def _plots(out: Path, m: _Measured) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bars = [("Flower FedAvg", m.flower_equivalent), ("market (py-evm)", m.per_round)]
    if m.per_round_anvil is not None:
        bars.append(("market (anvil)", m.per_round_anvil))
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
    xs = list(range(m.rounds))
    ax.plot(xs, [r.accuracy for r in m.result.rounds], marker="o", label="market")
    ax.plot(xs, m.flower["accuracy"], marker="x", linestyle="--", label="Flower FedAvg (same seeds)")
    ax.plot(xs, m.flower_noise["accuracy"], marker=".", linestyle=":", label="Flower FedAvg (other seeds)")
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

"""Fairness: how faithfully the paid scores rank trainers of mixed quality against exact
loss- and accuracy-Shapley, beside the split-half noise floor of that ground truth.

Protocol. Ten trainers on IID or Dirichlet(0.5) shares of the digits training split (the
reference study's mixed scenario): four clean, noisy labels on 50 % and 80 % of the samples, 10 %
and 20 % of a share, a free-rider (zeros) and a label-flipper; no omniscient attacker. 5 rounds
of the demo's task (5 local epochs). Each round every trainer trains from the global model, the
root-of-trust rule scores the sketches (:mod:`benchmarks.reference_arm`: root set 10 per class of
the validation split, the round's reference, the round's seed) and the global model moves to the
FedAvg of its accepted set; the old median rule (:func:`~zk.protocol.rule.provable_round`, τ of
the task) is scored on the same sketches.

Ground truth per round: the exact Shapley value (:func:`~aggregator.scoring.exact_shapley`, all
2¹⁰ coalitions) of ``U(S)`` = − validation loss (loss-Shapley) and validation accuracy
(accuracy-Shapley) of the global model plus the sample-weighted mean of S's updates. Every
coalition's model is evaluated once on each of two class-balanced halves of the validation split:
the whole split's values are their size-weighted means, and the noise floor is Spearman's ρ
between the Shapley totals of the two halves (how well the ground truth agrees with itself).
Against it, on the totals over the rounds (what a payout follows): the reference rule's paid
scores, the median rule's, and the aggregator's estimators of accuracy-Shapley (leave-one-out,
truncated Monte Carlo with 500 permutations, GTG-Shapley with its defaults), each with a fresh
memoised utility so that its wall time and its count of utility evaluations are its own.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aggregator.scoring import exact_shapley, fedavg_subset_utility, gtg_shapley, leave_one_out, tmc_shapley
from benchmarks.common import Section, Table, fmt_s, protocol_text
from benchmarks.kit import DigitsTask, bound_refusal, digits_task, local_update, round_seed, shares
from benchmarks.reference_arm import (
    median_scores,
    reference_step,
    reference_update,
    root_set,
    sketch_round,
    validation_halves,
)
from benchmarks.reference_study import MIXED
from trainers.attacks import AttackPlan
from trainers.attacks.omniscient import flatten, unflatten
from trainers.data import Dataset
from trainers.models import build_model, load_state
from trainers.training import evaluate

COMMAND = "python scripts/bench_fairness.py"
PARTITIONS = ("iid", "dirichlet")
PAID = ("reference (paid)", "median rule (old paid)")
ESTIMATORS: dict[str, Callable] = {
    "leave-one-out": lambda n, u, r: leave_one_out(n, u),
    "TMC-Shapley": lambda n, u, r: tmc_shapley(n, u, seed=r),
    "GTG-Shapley": lambda n, u, r: gtg_shapley(n, u, seed=r),
}
METHODS = (*PAID, *ESTIMATORS)
EXACT = ("loss", "accuracy", "loss a", "loss b", "accuracy a", "accuracy b")
GOAL_RHO = 0.85


def _spearman(a, b) -> float | None:
    from scipy.stats import spearmanr

    return None if np.ptp(a) == 0 or np.ptp(b) == 0 else float(spearmanr(a, b).statistic)


@dataclass
class Totals:
    """One partition's per-trainer totals over the rounds, per method and ground truth, and costs."""

    n: int
    values: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    evaluations: dict[str, int] = field(default_factory=dict)
    flags: dict[str, np.ndarray] = field(default_factory=dict)
    samples: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.values = {m: np.zeros(self.n) for m in (*METHODS, *EXACT)}
        self.seconds = dict.fromkeys(("exact", *METHODS), 0.0)
        self.evaluations = dict.fromkeys(("exact", *METHODS), 0)
        self.flags = {m: np.zeros(self.n, int) for m in PAID}

    def rho(self, method: str, truth: str) -> float | None:
        return _spearman(self.values[method], self.values[truth])

    def floor(self, truth: str) -> float | None:
        return _spearman(self.values[f"{truth} a"], self.values[f"{truth} b"])


def _mixed(task: DigitsTask, partition: str, seed: int) -> tuple[list[Dataset], list[AttackPlan]]:
    base = shares(task, len(MIXED), partition)
    data = [d if keep == 1.0 else d.subset(np.arange(max(8, int(keep * len(d))))) for d, (_, _, keep) in zip(base, MIXED)]
    return data, [AttackPlan.parse(plan, seed=seed + i) for i, (_, plan, _) in enumerate(MIXED)]


class Coalitions:
    """Every coalition's model (global + sample-weighted mean of its updates) evaluated on both
    halves of the validation split: ``table(kind)`` maps a coalition to −loss or accuracy."""

    def __init__(self, task: DigitsTask, halves: tuple[Dataset, Dataset]) -> None:
        self.halves = halves
        self.model = build_model(task.spec.model, dtype=task.spec.training.dtype, init=False)
        for p in self.model.parameters():
            p.requires_grad_(False)

    def sweep(self, state, subs) -> dict[str, dict[frozenset[int], float]]:
        keys = sorted(state)
        base = flatten(state, keys)
        vectors = np.stack([flatten(u, keys) for u, _ in subs])
        w = np.array([s for _, s in subs], float)
        sizes = np.array([len(h) for h in self.halves], float)
        n = len(subs)
        tables: dict[str, dict[frozenset[int], float]] = {kind: {} for kind in EXACT}
        for mask in range(1 << n):
            members = [i for i in range(n) if mask >> i & 1]
            mean = w[members] @ vectors[members] / w[members].sum() if members else np.zeros_like(base)
            load_state(self.model, unflatten(base + mean, state))
            (la, aa), (lb, ab) = (evaluate(self.model, h) for h in self.halves)
            key = frozenset(members)
            for kind, v in (("loss a", -la), ("loss b", -lb), ("accuracy a", aa), ("accuracy b", ab)):
                tables[kind][key] = v
            tables["loss"][key] = -float(np.dot(sizes, (la, lb)) / sizes.sum())
            tables["accuracy"][key] = float(np.dot(sizes, (aa, ab)) / sizes.sum())
        return tables


def _estimators(totals: Totals, state, subs, accuracy, r: int) -> None:
    keys = sorted(state)
    vectors = [flatten(u, keys) for u, _ in subs]
    base = flatten(state, keys)
    for name, scorer in ESTIMATORS.items():
        utility = fedavg_subset_utility(updates=vectors, weights=[s for _, s in subs],
                                        evaluate=lambda mean: accuracy(unflatten(base + mean, state)))
        t0 = time.perf_counter()
        totals.values[name] += np.asarray(scorer(len(subs), utility, r), float)
        totals.seconds[name] += time.perf_counter() - t0
        totals.evaluations[name] += utility.evaluations


def _round(task, state, r: int, data, plans, root, coalitions: Coalitions, totals: Totals, sketch_seed: int):
    """One round: the updates, both paid rules, the exact Shapley values and the estimators;
    returns the next global model (the reference rule's)."""
    subs = [local_update(task, state, data[i], plans[i], trainer_seed=task.seed + i, round_=r)[:2]
            for i in range(len(data))]
    totals.samples = [s for _, s in subs]
    rejected = [bound_refusal(task, u) is not None for u, _ in subs]
    sketches = sketch_round(task, [u for u, _ in subs], reference_update(task, state, root, r), rejected, sketch_seed)
    t0 = time.perf_counter()
    out, new_state = reference_step(task, state, subs, sketches)
    totals.seconds[PAID[0]] += time.perf_counter() - t0
    t0 = time.perf_counter()
    median, median_flags = median_scores(task, sketches)
    totals.seconds[PAID[1]] += time.perf_counter() - t0
    for name, scores, flags in ((PAID[0], out.scores, out.flags), (PAID[1], median, median_flags)):
        totals.values[name] += np.array(scores, float)
        totals.flags[name] += np.array(flags, int)
    t0 = time.perf_counter()
    tables = coalitions.sweep(state, subs)
    for kind, table in tables.items():
        totals.values[kind] += exact_shapley(len(subs), table.__getitem__)
    totals.seconds["exact"] += time.perf_counter() - t0
    totals.evaluations["exact"] += len(tables["loss"])
    _estimators(totals, state, subs, task.evaluator("validation"), r)
    return new_state


def run_partition(task: DigitsTask, partition: str, rounds: int, seed: int) -> tuple[Totals, float]:
    """The mixed scenario on one partition: the totals and the final test accuracy."""
    data, plans = _mixed(task, partition, seed)
    root, coalitions = root_set(task, seed), Coalitions(task, validation_halves(task, seed))
    totals = Totals(n=len(MIXED))
    state = {k: v.copy() for k, v in task.initial.items()}
    for r in range(rounds):
        state = _round(task, state, r, data, plans, root, coalitions, totals, round_seed("fairness", seed, partition, r))
    return totals, float(task.evaluator("test")(state))


def run(*, quick: bool = False, out: Path, seed: int = 0, rounds: int | None = None, **_: Any) -> Section:
    started = time.perf_counter()
    rounds = rounds or (1 if quick else 5)
    task = digits_task(seed)
    results: dict[str, tuple[Totals, float]] = {}
    for partition in ("iid",) if quick else PARTITIONS:
        results[partition] = run_partition(task, partition, rounds, seed)
        print(f"fairness   {partition:9s} mixed quality      (total {time.perf_counter() - started:6.0f} s)",
              file=sys.stderr, flush=True)
    partitions: dict[str, Any] = {}
    data = {"rounds": rounds, "trainers": [kind for kind, _, _ in MIXED], "partitions": partitions}
    for p, (t, accuracy) in results.items():
        partitions[p] = {
            "accuracy": accuracy, "totals": {m: v.tolist() for m, v in t.values.items()}, "samples": t.samples,
            "rho_loss": {m: t.rho(m, "loss") for m in METHODS}, "rho_accuracy": {m: t.rho(m, "accuracy") for m in METHODS},
            "floor_loss": t.floor("loss"), "floor_accuracy": t.floor("accuracy"),
            "flags": {m: v.tolist() for m, v in t.flags.items()}, "seconds": t.seconds, "evaluations": t.evaluations}
    return Section(key="fairness", title="3. Fairness of the contribution scores", command=COMMAND,
                   notes=[protocol_text(__doc__)], tables=[_agreement_table(results, rounds), _trainer_table(results)],
                   plots=_plot(out, results), seconds=time.perf_counter() - started, data=data)


def _f(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _agreement_table(results: dict[str, tuple[Totals, float]], rounds: int) -> Table:
    table = Table(f"Fairness: Spearman ρ of each method's totals against exact Shapley (mixed quality, {len(MIXED)} "
                  f"trainers, {rounds} round(s))",
                  ["partition", "method", "ρ vs loss-Shapley", "noise floor (loss)", "ρ vs accuracy-Shapley",
                   "noise floor (accuracy)", "wall time per round", "utility evaluations per round", "paid / provable"])
    for p, (t, _) in results.items():
        floors = _f(t.floor("loss")), _f(t.floor("accuracy"))
        table.add(p, f"exact Shapley (2^{t.n} coalitions)", "1", floors[0], "1", floors[1],
                  fmt_s(t.seconds["exact"] / rounds), f"{t.evaluations['exact'] / rounds:.0f}", "no / no")
        for m in METHODS:
            paid = m in PAID
            table.add(p, m, _f(t.rho(m, "loss")), floors[0], _f(t.rho(m, "accuracy")), floors[1],
                      fmt_s(t.seconds[m] / rounds), "0 (sketches only)" if paid else f"{t.evaluations[m] / rounds:.0f}",
                      "yes / yes" if paid else "no / no")
    for p, (t, accuracy) in results.items():
        rho = t.rho(PAID[0], "loss")
        verdict = "met" if rho is not None and rho >= GOAL_RHO else "MISSED"
        ceiling = _spearman(np.maximum(t.values["loss"], 0.0), t.values["loss"])
        table.notes.append(f"{p}: goal ρ(paid, loss-Shapley) ≥ {GOAL_RHO}: {_f(rho)}, {verdict} (noise floor "
                           f"{_f(t.floor('loss'))}; the best any pay ≥ 0 can reach, ρ(max(0, φ), φ): {_f(ceiling)}); "
                           f"test accuracy of the reference rule's model {accuracy:.3f}.")
    table.notes.append("The estimators (leave-one-out, TMC, GTG) estimate accuracy-Shapley on the whole validation "
                       "split, as the aggregator's validation Shapley does; the paid rules see only sketches.")
    return table


def _trainer_table(results: dict[str, tuple[Totals, float]]) -> Table:
    table = Table("Fairness: each trainer's total over the rounds (shares of the method's Σ|value|)",
                  ["partition", "slot", "kind", "samples", "loss-Shapley", "accuracy-Shapley", "reference (paid)",
                   "median rule", "GTG", "flagged rounds (reference / median)"])

    def share(v: np.ndarray, i: int) -> str:
        s = np.sum(np.abs(v))
        return f"{v[i] / s:+.1%}" if s else "0"

    for p, (t, _) in results.items():
        for i, (kind, _, _) in enumerate(MIXED):
            table.add(p, i, kind, t.samples[i], share(t.values["loss"], i), share(t.values["accuracy"], i),
                      share(t.values[PAID[0]], i), share(t.values[PAID[1]], i), share(t.values["GTG-Shapley"], i),
                      f"{int(t.flags[PAID[0]][i])} / {int(t.flags[PAID[1]][i])}")
    table.notes.append("Shares are of Σ|value| so that negative Shapley values stay visible; paid scores are never "
                       "negative (clamped at 0, and 0 when flagged). Samples: the last round's FedAvg weights.")
    return table


def _plot(out: Path, results: dict[str, tuple[Totals, float]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(len(results), len(METHODS), figsize=(3.4 * len(METHODS), 3.3 * len(results)),
                             squeeze=False)
    for row, (p, (t, _)) in zip(axes, results.items()):
        exact = t.values["loss"]
        for ax, m in zip(row, METHODS):
            v = t.values[m]
            scale = np.max(np.abs(v)) or 1.0
            ax.scatter(exact, v / scale)
            for i in range(t.n):
                ax.annotate(str(i), (exact[i], v[i] / scale), fontsize=8)
            ax.set_title(f"{m} ({p})", fontsize=9)
            ax.set_xlabel("exact loss-Shapley", fontsize=8)
            ax.axhline(0, color="grey", linewidth=0.5)
            ax.axvline(0, color="grey", linewidth=0.5)
        row[0].set_ylabel("score / max |score|")
    fig.suptitle("Total contribution per trainer against exact loss-Shapley (labels: slot)", fontsize=10)
    fig.tight_layout()
    path = out / "fairness_scatter.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]

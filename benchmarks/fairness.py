"""Fairness: how faithfully each contribution score ranks trainers of mixed quality, and what
it costs.

Eight trainers on IID shares of the digits training split: three clean, two with noisy labels
(50 % and 80 % of their labels replaced by another class), two with fewer samples (20 % and
10 % of a share), one free-rider (zeros). Each round every trainer trains from the global model
and submits through the market path (package, encryption, sketch, commitment, intake); the
round is assessed by :func:`~aggregator.round_pipeline.assess_round` with the provable rule and
the global model moves to the FedAvg of the accepted updates.

Ground truth per round: the exact Shapley value (:func:`~aggregator.scoring.exact_shapley`,
2⁸ coalitions) of the validation utility ``U(S)`` = validation accuracy of the global model plus
the sample-weighted mean of S's updates (:func:`~aggregator.scoring.fedavg_subset_utility`),
over all eight trainers. Against it: the provable score that is paid (``max(0, ⟨s_i, g⟩)`` on
the sketches, 0 when flagged), leave-one-out, truncated Monte Carlo (500 permutations,
truncation 1 %) and GTG-Shapley (defaults), each with a fresh memoised utility so that its wall
time and its count of utility evaluations are its own. Spearman's ρ is taken per round and on
the totals over the rounds (what a payout follows).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aggregator.round_pipeline import assess_round
from aggregator.scoring import exact_shapley, fedavg_subset_utility, gtg_shapley, leave_one_out, tmc_shapley
from benchmarks.common import Section, Table, fmt_s, protocol_text
from benchmarks.kit import MarketPath, digits_task, local_update, round_seed, shares
from trainers.attacks import AttackPlan
from zk.protocol.rule import provable_round, tau_fraction

COMMAND = "python scripts/bench_fairness.py"

#: (kind, attack plan, fraction of the share kept)
TRAINERS = [
    ("clean", None, 1.0),
    ("clean", None, 1.0),
    ("clean", None, 1.0),
    ("noisy labels 50 %", "unreliable:noisy_labels=0.5", 1.0),
    ("noisy labels 80 %", "unreliable:noisy_labels=0.8", 1.0),
    ("fewer samples 20 %", None, 0.2),
    ("fewer samples 10 %", None, 0.1),
    ("free-rider", "free_rider", 1.0),
]
METHODS = ("provable (paid)", "leave-one-out", "TMC-Shapley", "GTG-Shapley")


def _spearman(a, b) -> float | None:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def _unflatten(global_state: dict[str, np.ndarray]) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    names = list(global_state)
    sizes = [global_state[k].size for k in names]
    offsets = np.cumsum([0, *sizes])

    def state(mean: np.ndarray) -> dict[str, np.ndarray]:
        return {k: (global_state[k].astype(np.float64) + mean[offsets[i]:offsets[i + 1]].reshape(global_state[k].shape)
                    ).astype(global_state[k].dtype) for i, k in enumerate(names)}

    return state


@dataclass
class _Scores:
    """What the rounds accumulate per method (``exact`` and :data:`METHODS`)."""

    n: int
    totals: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    evaluations: dict[str, int] = field(default_factory=dict)
    per_round_rho: dict[str, list[float | None]] = field(default_factory=dict)
    flags: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    samples: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.totals = {m: np.zeros(self.n) for m in ("exact", *METHODS)}
        self.seconds = {m: 0.0 for m in ("exact", *METHODS)}
        self.evaluations = {m: 0 for m in ("exact", *METHODS)}
        self.per_round_rho = {m: [] for m in METHODS}
        self.flags = np.zeros(self.n, dtype=int)
        self.samples = [0] * self.n


def _trainers(task, seed: int) -> tuple[list, list[AttackPlan]]:
    """The eight trainers' data (IID shares, some cut down) and attack plans."""
    base = shares(task, len(TRAINERS), "iid")
    rng = np.random.default_rng(seed)
    datasets = [d if keep == 1.0 else d.subset(np.sort(rng.choice(len(d), max(8, int(keep * len(d))), replace=False)))
                for d, (_, _, keep) in zip(base, TRAINERS)]
    plans = [AttackPlan.parse(plan, seed=seed + i) for i, (_, plan, _) in enumerate(TRAINERS)]
    return datasets, plans


def _round(task, state, r: int, seed: int, datasets, plans, path: MarketPath, validation, scores: _Scores):
    """One round: every trainer's update through the market path, every method's values (timed,
    utility evaluations counted), the agreement with exact Shapley; returns the next global state."""
    n, k = scores.n, task.spec.scoring.sketch_k
    tau_num, tau_den = tau_fraction(task.spec.scoring.tau)
    subs = [local_update(task, state, datasets[i], plans[i], trainer_seed=seed + i, round_=r)[:2] for i in range(n)]
    intakes = [path.submit(i, u, s, round_=r, seed=round_seed("fairness", seed, r)) for i, (u, s) in enumerate(subs)]
    scores.samples = [s for _, s in subs]
    sketches = [it.sketch for it in intakes]
    rejected = [not it.accepted for it in intakes]
    values: dict[str, np.ndarray] = {}
    t0 = time.perf_counter()
    provable = provable_round(sketches, rejected, tau_num=tau_num, tau_den=tau_den, k=k)
    scores.seconds["provable (paid)"] += time.perf_counter() - t0
    values["provable (paid)"] = np.array([float(s) for s in provable.scores])
    scores.flags += np.array(provable.flags, dtype=int)

    to_state = _unflatten(state)
    vectors = [np.concatenate([np.asarray(u[key], np.float64).reshape(-1) for key in state]) for u, _ in subs]
    scorers = {"exact": exact_shapley, "leave-one-out": leave_one_out,
               "TMC-Shapley": lambda m, u: tmc_shapley(m, u, seed=r), "GTG-Shapley": lambda m, u: gtg_shapley(m, u, seed=r)}
    for name, scorer in scorers.items():
        utility = fedavg_subset_utility(updates=vectors, weights=scores.samples,
                                        evaluate=lambda mean: validation(to_state(mean)))
        t0 = time.perf_counter()
        values[name] = np.asarray(scorer(n, utility), dtype=np.float64)
        scores.seconds[name] += time.perf_counter() - t0
        scores.evaluations[name] += utility.evaluations
    for m in ("exact", *METHODS):
        scores.totals[m] += values[m]
    for m in METHODS:
        scores.per_round_rho[m].append(_spearman(values[m], values["exact"]))
    return assess_round(intakes, global_state=state, scoring=task.scoring("provable", ()),
                        dtype=task.spec.training.dtype).new_global


def run(*, quick: bool = False, out: Path, seed: int = 0, rounds: int | None = None, **_: Any) -> Section:
    started = time.perf_counter()
    rounds = rounds or (1 if quick else 5)
    task = digits_task(seed)
    path = MarketPath(task)
    datasets, plans = _trainers(task, seed)
    validation = task.evaluator("validation")
    state = {key: v.copy() for key, v in task.initial.items()}
    validation(state)  # warm-up: the first evaluation pays torch's one-off costs
    scores = _Scores(n=len(TRAINERS))
    for r in range(rounds):
        state = _round(task, state, r, seed, datasets, plans, path, validation, scores)
    table, rho_total = _agreement_table(scores, rounds)
    shares_table = _shares_table(scores, rounds)
    plots = _plot(out, scores.totals)
    return Section(
        key="fairness", title="3. Fairness of the contribution scores", command=COMMAND,
        notes=[protocol_text(__doc__)], tables=[table, shares_table], plots=plots,
        seconds=time.perf_counter() - started,
        data={"rounds": rounds, "trainers": [t[0] for t in TRAINERS],
              "totals": {m: v.tolist() for m, v in scores.totals.items()}, "rho_per_round": scores.per_round_rho,
              "rho_totals": rho_total, "seconds": scores.seconds, "evaluations": scores.evaluations},
    )


def _agreement_table(scores: _Scores, rounds: int) -> tuple[Table, dict[str, float | None]]:
    """Spearman's ρ with exact Shapley (per round and on the totals), time and evaluations per method."""
    n, totals, seconds, evaluations = scores.n, scores.totals, scores.seconds, scores.evaluations
    table = Table(f"Fairness: agreement with exact validation-utility Shapley ({n} trainers, {rounds} round(s))",
                  ["method", "Spearman ρ per round (mean)", "Spearman ρ of the totals", "wall time per round",
                   "utility evaluations per round", "paid / provable"])
    table.add("exact Shapley (reference)", "1", "1", fmt_s(seconds["exact"] / rounds),
              f"{evaluations['exact'] / rounds:.0f}", "no / no")
    rho_total: dict[str, float | None] = {}
    for m in METHODS:
        rhos = [x for x in scores.per_round_rho[m] if x is not None]
        rho_total[m] = _spearman(totals[m], totals["exact"])
        table.add(m, f"{np.mean(rhos):.2f}" if rhos else "n/a", "n/a" if rho_total[m] is None else f"{rho_total[m]:.2f}",
                  fmt_s(seconds[m] / rounds), "0 (sketches only)" if m.startswith("provable") else
                  f"{evaluations[m] / rounds:.0f}", "yes / yes" if m.startswith("provable") else "no / no")
    best = max((m for m in METHODS if rho_total[m] is not None), key=lambda m: rho_total[m], default=None)
    if best and not best.startswith("provable") and (rho_total["provable (paid)"] or -1) < rho_total[best]:
        table.notes.append(f"The paid provable score LOSES to {best} in faithfulness "
                           f"(ρ {rho_total['provable (paid)'] or float('nan'):.2f} vs {rho_total[best]:.2f} on the totals); "
                           "it is the only one a circuit checks and it needs no validation set.")
    table.notes.append("With 8 players there are only 256 coalitions and every method memoises them, so TMC's 500 "
                       "permutations evaluate about as many as exact enumeration; its advantage starts past ~12 players.")
    return table, rho_total


def _shares_table(scores: _Scores, rounds: int) -> Table:
    """Each trainer's total per method, as shares of the method's Σ|value|, and its flagged rounds."""
    n, totals, flags = scores.n, scores.totals, scores.flags
    shares_table = Table("Fairness: each trainer's total over the rounds (scores normalised to shares of their sum)",
                         ["slot", "kind", "samples", "exact Shapley", "provable (paid)", "leave-one-out", "TMC",
                          "GTG", "flagged rounds"])

    def share(v: np.ndarray, i: int) -> str:
        s = np.sum(np.abs(v))
        return f"{v[i] / s:+.1%}" if s else "0"

    for i, (kind, _plan, _keep) in enumerate(TRAINERS):
        shares_table.add(i, kind, scores.samples[i], share(totals["exact"], i), share(totals["provable (paid)"], i),
                         share(totals["leave-one-out"], i), share(totals["TMC-Shapley"], i),
                         share(totals["GTG-Shapley"], i), int(flags[i]))
    clean = [i for i, t in enumerate(TRAINERS) if t[0] == "clean"]
    shares_table.notes.append(f"The provable rule flagged clean trainers in {int(flags[clean].sum())} of "
                              f"{len(clean) * rounds} trainer-rounds and the others in "
                              f"{int(flags.sum() - flags[clean].sum())} of {(n - len(clean)) * rounds}: a flagged "
                              "trainer earns nothing that round.")
    shares_table.notes.append("Shares are of Σ|value| so that negative Shapley values stay visible; the provable "
                              "score is never negative (it is clamped at 0 and 0 when flagged).")
    return shares_table


def _plot(out: Path, totals: dict[str, np.ndarray]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    exact = totals["exact"]
    fig, axes = plt.subplots(1, len(METHODS), figsize=(3.6 * len(METHODS), 3.6))
    for ax, m in zip(axes, METHODS):
        v = totals[m]
        scale = np.max(np.abs(v)) or 1.0
        ax.scatter(exact, v / scale)
        for i, (kind, _, _) in enumerate(TRAINERS):
            ax.annotate(str(i), (exact[i], v[i] / scale), fontsize=8)
        ax.set_xlabel("exact Shapley (accuracy points)")
        ax.set_title(m, fontsize=10)
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
    axes[0].set_ylabel("score / max |score|")
    fig.suptitle("Total contribution per trainer against exact Shapley (labels: slot)", fontsize=10)
    fig.tight_layout()
    path = out / "fairness_scatter.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]

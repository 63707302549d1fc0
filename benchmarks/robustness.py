"""Robustness: final accuracy and detection precision/recall under five attacks, our three
detectors against Flower's FedAvg, Krum, FedMedian and FedTrimmedAvg.

Protocol. n trainers (default 10) on IID or Dirichlet(0.5) shares of the digits training split;
the last ⌊f·n⌋ of them run one attack with the simulator's defaults (``trainers/attacks/``),
f ∈ {10 %, 30 %, 45 %}. There are seven *arms*: the market's pipeline with each detector
(``provable``, ``multi_krum``, ``mud_hog``: intake → :func:`~aggregator.round_pipeline.assess_round`
→ FedAvg of the accepted updates), and Flower's four strategies' ``aggregate_fit``. Each arm
follows its own global model from the same initial model: every round, every trainer trains on
its own share from *that arm's* global model, with the same seeds and the same attack, and the
arm aggregates those submissions. In round 0 all arms see bit-identical submissions; after
that they differ only as far as the arms' models differ. Submissions to identical models are
computed once and shared. For the market arms each update goes the whole submission path
(package, encryption, sketch, commitment, then intake with the task's size and norm bounds);
an intake rejection counts as a detection. Flower's clients send full weights (global +
update), as Flower clients do. Krum is Flower's default single-update Krum with
``num_malicious_clients`` = ⌊(n − 3)/2⌋, the same assumption our Multi-Krum makes;
FedTrimmedAvg cuts β = 0.2 at each end (Flower's default).

Detection counts are summed over rounds: precision = flagged attackers / flagged, recall =
flagged attackers / attacker submissions. Final accuracy is on the test split.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aggregator.detectors.mud_hog import MudHogDetector
from aggregator.detectors.multi_krum import default_byzantine
from aggregator.round_pipeline import assess_round
from benchmarks.common import ACCURACY_NOISE, Section, Table, protocol_text
from benchmarks.kit import (
    FLOWER_STRATEGIES,
    MarketPath,
    digits_task,
    flower_round,
    flower_strategy,
    kept_index,
    local_update,
    round_seed,
    shares,
)
from trainers.attacks import AttackPlan

COMMAND = "python scripts/bench_robustness.py"
ATTACKS = ("label_flip", "sign_flip", "gaussian_noise", "scaling", "free_rider")
FRACTIONS = (0.10, 0.30, 0.45)
PARTITIONS = ("iid", "dirichlet")
OURS = ("provable", "multi_krum", "mud_hog")
ARMS = OURS + FLOWER_STRATEGIES


@dataclass
class Arm:
    """One aggregator's trajectory and its detection counts."""

    name: str
    state: dict[str, np.ndarray]
    strategy: Any = None
    history: MudHogDetector | None = None
    tp: int = 0
    fp: int = 0
    fn: int = 0
    points_to_attackers: int = 0
    points: int = 0

    def count(self, flagged: list[bool], attackers: list[bool]) -> None:
        for f, a in zip(flagged, attackers):
            self.tp += f and a
            self.fp += f and not a
            self.fn += a and not f

    def pay(self, scores: list[int], attackers: list[bool]) -> None:
        self.points += sum(scores)
        self.points_to_attackers += sum(s for s, a in zip(scores, attackers) if a)

    @property
    def paid_to_attackers(self) -> float | None:
        """The attackers' share of the points this arm's scores gave (what the payout follows)."""
        return self.points_to_attackers / self.points if self.points else None

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


def _fingerprint(state: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha1()
    for k in sorted(state):
        h.update(np.ascontiguousarray(state[k]).tobytes())
    return h.hexdigest()


def attacker_count(n: int, fraction: float) -> int:
    return int(np.floor(fraction * n + 1e-9))


def run_scenario(task, datasets, attack: str | None, attackers: int, rounds: int, *, path: MarketPath,
                 label: tuple) -> dict[str, Arm]:
    """All seven arms through ``rounds`` rounds of one scenario."""
    n = len(datasets)
    plans = [AttackPlan()] * (n - attackers) + [AttackPlan.parse(attack, seed=task.seed + slot)
                                                 for slot in range(n - attackers, n)]
    is_attacker = [bool(p) for p in plans]
    arms: dict[str, Arm] = {}
    for name in ARMS:
        arm = Arm(name=name, state={k: v.copy() for k, v in task.initial.items()})
        if name == "mud_hog":
            arm.history = MudHogDetector()
        if name in FLOWER_STRATEGIES:
            arm.strategy = flower_strategy(name, num_malicious=default_byzantine(n))
        arms[name] = arm
    for r in range(rounds):
        seed = round_seed(label, r)
        submissions: dict[str, list[tuple[dict, int]]] = {}
        intakes: dict[str, list] = {}
        for arm in arms.values():
            key = _fingerprint(arm.state)
            if key not in submissions:
                submissions[key] = [local_update(task, arm.state, datasets[i], plans[i], trainer_seed=task.seed + i,
                                                 round_=r)[:2] for i in range(n)]
            subs = submissions[key]
            if arm.name in OURS:
                if key not in intakes:
                    intakes[key] = [path.submit(i, u, samples, round_=r, seed=seed) for i, (u, samples) in enumerate(subs)]
                outcome = assess_round(intakes[key], global_state=arm.state, scoring=task.scoring(arm.name, ()),
                                       history=arm.history, dtype=task.spec.training.dtype)
                flagged = [bool(f or rej) for f, rej in zip(outcome.flags, outcome.rejections)]
                arm.pay(outcome.scores, is_attacker)
                new = outcome.new_global
            else:
                new, weights = flower_round(arm.strategy, r + 1, arm.state, subs)
                if arm.name == "Krum":
                    kept = kept_index(new, weights)
                    flagged = [i != kept for i in range(n)]
                else:
                    flagged = [False] * n
            arm.count(flagged, is_attacker)
            arm.state = new
    return arms


def _pr(arm: Arm, attackers: int, honest_submissions: int) -> str:
    if arm.name not in OURS and arm.name != "Krum":
        return "no detection"
    if attackers == 0:
        return f"false flags {arm.fp}/{honest_submissions}"
    p, r = arm.precision, arm.recall
    text = f"P {'—' if p is None else f'{p:.2f}'} · R {r:.2f}"
    if arm.name in OURS and arm.paid_to_attackers is not None:
        text += f" · paid {arm.paid_to_attackers:.0%}"
    return text


def run(*, quick: bool = False, out: Path, seed: int = 0, trainers: int | None = None, rounds: int | None = None,
        **_: Any) -> Section:
    started = time.perf_counter()
    n = trainers or 10
    rounds = rounds or (1 if quick else 3)
    task = digits_task(seed)
    path = MarketPath(task)
    attacks = ("sign_flip",) if quick else ATTACKS
    fractions = (0.30,) if quick else FRACTIONS
    partitions = ("iid",) if quick else PARTITIONS
    evaluate = task.evaluator("test")

    acc = Table(f"Robustness: final test accuracy after {rounds} round(s), {n} trainers",
                ["partition", "attack", "attackers", *ARMS, "verdict"])
    det = Table("Robustness: detection over all rounds (P = precision, R = recall, paid = attackers' share of the "
                "round scores; intake rejections count as flags)",
                ["partition", "attack", "attackers", *OURS, "Krum (keeps 1)"])
    records = []
    for partition in partitions:
        datasets = shares(task, n, partition)
        scenarios = ([] if quick else [(None, 0.0)]) + [(a, f) for a in attacks for f in fractions]
        for attack, fraction in scenarios:
            m = attacker_count(n, fraction)
            arms = run_scenario(task, datasets, attack, m, rounds, path=path, label=(seed, partition, attack, m))
            accuracy = {name: evaluate(arm.state) for name, arm in arms.items()}
            best_peer = max(FLOWER_STRATEGIES, key=lambda k: accuracy[k])
            verdict = _verdict(accuracy, best_peer)
            name = attack or "none"
            acc.add(partition, name, f"{m} ({fraction:.0%})", *(f"{accuracy[a]:.3f}" for a in ARMS), verdict)
            honest = (n - m) * rounds
            det.add(partition, name, f"{m}", *(_pr(arms[a], m, honest) for a in (*OURS, "Krum")))
            records.append({"partition": partition, "attack": name, "attackers": m, "fraction": fraction,
                            "accuracy": accuracy, "verdict": verdict,
                            "detection": {a: {"tp": arms[a].tp, "fp": arms[a].fp, "fn": arms[a].fn,
                                              "paid_to_attackers": arms[a].paid_to_attackers}
                                          for a in (*OURS, "Krum")}})
    acc.notes += [
        f"Verdict compares the provable rule (the paid, provable detector) with the best Flower aggregator of the row; "
        f"differences within {ACCURACY_NOISE} (about one standard error on 180 test digits) are called a tie.",
        "Attacks with the simulator's defaults: label_flip y → 9 − y on all samples; sign_flip Δ → −Δ; "
        "gaussian_noise Δ replaced by N(0, 0.1²); scaling Δ → 10·Δ; free_rider sends zeros.",
    ]
    losses = sum(r["verdict"].startswith("LOSES") for r in records)
    acc.notes.append(f"The provable rule loses to a Flower aggregator in {losses} of {len(records)} rows.")
    det.notes.append("paid: the attackers' share of the points the arm's scores gave over the rounds "
                     "(max(0, ⟨s_i, g⟩) over the accepted sketches, what the contract pays in proportion to); an "
                     "undetected free-rider sending zeros scores 0, so it is not paid even where it is not flagged.")
    plots = _plot(out, records)
    return Section(
        key="robustness", title="2. Robustness to poisoning and free-riding", command=COMMAND,
        notes=[protocol_text(__doc__)], tables=[acc, det], plots=plots, seconds=time.perf_counter() - started,
        data={"trainers": n, "rounds": rounds, "records": records},
    )


def _verdict(accuracy: dict[str, float], best_peer: str) -> str:
    ours = accuracy["provable"]
    peer = accuracy[best_peer]
    best_ours = max(OURS, key=lambda k: accuracy[k])
    if ours < peer - ACCURACY_NOISE:
        text = f"LOSES to {best_peer} by {peer - ours:.3f}"
        if accuracy[best_ours] >= peer - ACCURACY_NOISE:
            text += f" ({best_ours} ties or wins)"
        return text
    if ours > peer + ACCURACY_NOISE:
        return f"beats {best_peer} by {ours - peer:.3f}"
    return f"tie with {best_peer}"


def _plot(out: Path, records: list[dict]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    partitions = sorted({r["partition"] for r in records}, key=lambda p: PARTITIONS.index(p))
    fig, axes = plt.subplots(1, len(partitions), figsize=(7 * len(partitions), 0.35 * len(records) + 2.5),
                             squeeze=False)
    for ax, partition in zip(axes[0], partitions):
        rows = [r for r in records if r["partition"] == partition]
        grid = np.array([[r["accuracy"][a] for a in ARMS] for r in rows])
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(ARMS)), ARMS, rotation=45, ha="right")
        ax.set_yticks(range(len(rows)), [f"{r['attack']} ×{r['attackers']}" for r in rows])
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if grid[i, j] < 0.6 else "black")
        ax.set_title(f"final test accuracy ({partition})")
        fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    path = out / "robustness_accuracy.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]

"""Plots of a demo run: accuracy per round, and contribution against payout per trainer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchmarks.records import RoundRow, TrainerRow  # noqa: E402

COLOURS = {"honest": "tab:blue"}


def _colour(kind: str) -> str:
    return COLOURS.get(kind, "tab:red" if not kind.startswith("unreliable") else "tab:orange")


def plot_accuracy(rounds: Sequence[RoundRow], final_accuracy: float, path: Path) -> Path:
    """Validation accuracy of the global model after each round."""
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [r.round for r in rounds]
    ax.plot(xs, [r.accuracy for r in rounds], marker="o", label="validation accuracy after the round")
    ax.axhline(final_accuracy, color="grey", linestyle="--", label=f"final test accuracy {final_accuracy:.3f}")
    ax.set_xlabel("round")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_xticks(xs)
    ax.legend(loc="lower right")
    ax.set_title("Global model accuracy per round")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_contribution_vs_payout(trainers: Sequence[TrainerRow], reward_wei: int, path: Path) -> Path:
    """Per trainer: share of proven points, share of the reward paid, and the validation
    Shapley estimate (GTG, summed over rounds)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    total_points = sum(t.score_total for t in trainers) or 1
    labels = [f"{t.slot}:{t.kind.split(':')[0]}" for t in trainers]
    xs = range(len(trainers))
    left.bar([x - 0.2 for x in xs], [t.score_total / total_points for t in trainers], width=0.4, label="points share")
    left.bar([x + 0.2 for x in xs], [t.payout_wei / reward_wei for t in trainers], width=0.4, label="reward share paid")
    left.set_xticks(list(xs), labels, rotation=45, ha="right")
    left.set_title("Proven contribution and payout")
    left.legend()
    for t in trainers:
        right.scatter(t.shapley, t.payout_wei / reward_wei, color=_colour(t.kind))
        right.annotate(str(t.slot), (t.shapley, t.payout_wei / reward_wei), textcoords="offset points",
                       xytext=(4, 4))
    right.set_xlabel("validation Shapley (GTG, summed over rounds)")
    right.set_ylabel("reward share paid")
    right.set_title("Payout against validation-utility Shapley")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

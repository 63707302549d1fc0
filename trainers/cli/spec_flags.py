"""The flags that build a digits task spec, shared by ``market task post`` (which stores the spec
and posts it) and ``market task spec`` (which prints it to edit): one set of defaults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from market.task_spec import DEFAULT_BATCH_SIZE, DEFAULT_LEARNING_RATE, DEFAULT_LOCAL_EPOCHS
from zk.protocol.params import DEFAULT_TAU

__all__ = ["SPEC_FLAGS", "spec_flag_options"]

SPEC_FLAGS = ("model", "epochs", "learning_rate", "batch_size", "detector", "tau")
"""The keyword names the options give the command."""


def spec_flag_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the spec-building options (model, epochs, learning rate, batch size, detector, tau)."""
    options = [
        click.option("--model", type=click.Choice(["mlp", "cnn", "logreg"]), default="mlp", show_default=True,
                     help="The digits model of a spec built from flags."),
        click.option("--epochs", type=click.IntRange(min=1), default=DEFAULT_LOCAL_EPOCHS, show_default=True,
                     help="Local epochs (spec built from flags)."),
        click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_LEARNING_RATE,
                     show_default=True),
        click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE, show_default=True),
        click.option("--detector", type=click.Choice(["provable", "multi_krum", "mud_hog"]), default="provable",
                     show_default=True, help="Outlier detector of the scoring policy."),
        click.option("--tau", type=float, default=DEFAULT_TAU, show_default=True,
                     help="Threshold of the provable rule (spec built from flags; a verifier's tau must match)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command

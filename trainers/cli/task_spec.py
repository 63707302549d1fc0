"""``market task spec``: print the digits task spec the flags build, to edit and post with
``market task post --spec FILE`` (nothing is stored, no chain is needed)."""

from __future__ import annotations

import json

import click

from trainers.cli.spec_flags import spec_flag_options


@click.command("spec")
@spec_flag_options
def spec(model: str, epochs: int, learning_rate: float, batch_size: int, detector: str, tau: float) -> None:
    """Print a task spec (JSON) built from flags: `market task spec --model mlp > spec.json`.

    Its model starts from the spec's seed (no initial model CID): `task post --spec` keeps it so,
    and every node builds the same round-0 model from the seed."""
    from trainers.task_builder import digits_task_spec

    built = digits_task_spec(arch=model, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                             detector=detector, tau=tau)
    click.echo(json.dumps(json.loads(built.to_json()), indent=2))

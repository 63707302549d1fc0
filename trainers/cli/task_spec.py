"""``market task spec``: print the task spec the flags build, to edit and post with
``market task post --spec FILE`` (nothing is stored, no chain is needed): the digits spec, or
with ``--data FILE`` a spec for the owner's own data (its shape and classes, standardized per
feature by the file's statistics). The format is docs/task_spec.md."""

from __future__ import annotations

import json
from pathlib import Path

import click

from trainers.cli.spec_flags import spec_flag_options


def _data_spec(path: Path, label_column: str, name: str | None, standardize: bool, **settings):
    from trainers.data import load_csv, load_npz
    from trainers.task_builder import data_task_spec

    if path.suffix.lower() == ".csv":
        dataset = load_csv(path, label_column)
    elif path.suffix.lower() == ".npz":
        dataset = load_npz(path)
    else:
        raise click.BadParameter(f"{path.name}: give a .csv (header row, label column) or an .npz (arrays X and y)",
                                 param_hint="--data")
    return data_task_spec(dataset, name=name or path.stem, label_column=label_column, standardize=standardize,
                          **settings)


@click.command("spec")
@spec_flag_options
@click.option("--data", "data_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Build the spec for this data (.csv with a header row, or .npz of X and y) instead of digits.")
@click.option("--label-column", default="label", show_default=True, help="The label column of --data CSV.")
@click.option("--name", default=None, help="The task's name (default: digits-<model>, or the --data file's stem).")
@click.option("--standardize/--no-standardize", default=True, show_default=True,
              help="With --data: the model standardizes each feature by the file's mean and std.")
def spec(model: str, epochs: int, learning_rate: float, batch_size: int, detector: str, tau: float,
         data_path: Path | None, label_column: str, name: str | None, standardize: bool) -> None:
    """Print a task spec (JSON) built from flags: `market task spec --model mlp > spec.json`,
    or for your data: `market task spec --data train.csv > spec.json`.

    Its model starts from the spec's seed (no initial model CID): `task post --spec` keeps it so,
    and every node builds the same round-0 model from the seed."""
    from trainers.task_builder import digits_task_spec

    settings = dict(arch=model, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, detector=detector,
                    tau=tau)
    if data_path is not None:
        built = _data_spec(data_path, label_column, name, standardize, **settings)
    else:
        built = digits_task_spec(**settings)  # type: ignore[arg-type]
        if name:
            built = built.model_copy(update={"name": name})
    click.echo(json.dumps(json.loads(built.to_json()), indent=2))

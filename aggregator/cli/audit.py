"""``market audit TASK [ROUND]``: re-run published rounds and check every posted number."""

from __future__ import annotations

import click
from rich.table import Table

from market.cli.context import CliContext, console, pass_ctx
from market.exceptions import MarketValueError


@click.command("audit")
@click.argument("task_id", type=int)
@click.argument("round_", metavar="[ROUND]", type=int, required=False)
@click.option("--vk", "vks", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A verification-key document (zk/keys/*.vk.json shape) to try against the task's on-chain "
                   "verifier, besides the transcript's, the committed and the locally cached keys. Repeatable.")
@click.option("--root-set", "root_set", type=click.Path(exists=True, dir_okay=False),
              help="The owner's revealed root set (the .npz whose SHA-256 the task spec commits to): each round's "
                   "reference is trained again from it and checked against the chain (needs torch).")
@pass_ctx
def cli(ctx: CliContext, task_id: int, round_: int | None, vks: tuple[str, ...], root_set: str | None) -> None:
    """Re-run a task's rounds from chain + storage; exit 1 if any number does not reproduce.

    For a zk-verified task each round's proof (read from the publishRound calldata) is also
    verified again in pure Python (py_ecc), under the key the on-chain verifier was generated from.
    For the root-of-trust rule, ``--root-set`` recomputes every round's reference as well."""
    from aggregator.audit import audit_task
    from market.storage import open_storage

    storage = open_storage(ctx.config)
    trainer = _reference_trainer(ctx, storage, task_id, root_set) if root_set else None
    audits = audit_task(ctx.marketplace, storage, task_id, None if round_ is None else [round_],
                        keys=vks, reference_trainer=trainer)
    if not audits:
        raise MarketValueError(f"task {task_id} has no published round yet: nothing to audit")
    failed = 0
    for audit in audits:
        verdict = "reproduces" if audit.ok else "DOES NOT REPRODUCE"
        table = Table(title=f"task {task_id} round {audit.round} [{audit.mode}]: {verdict}")
        table.add_column("check")
        table.add_column("result")
        table.add_column("detail")
        for check in audit.checks:
            table.add_row(check.what, "[green]ok[/]" if check.ok else "[red]FAILED[/]", check.detail)
            failed += not check.ok
        console.print(table)
    if not audits:
        console.print(f"task {task_id} has no published round to audit")
    if failed:
        raise SystemExit(1)
    console.print(f"all {sum(len(a.checks) for a in audits)} checks reproduce")


def _reference_trainer(ctx: CliContext, storage, task_id: int, path: str):
    """The spec's recipe on the revealed root set, checked against the spec's digest and balance."""
    from pathlib import Path

    from aggregator.evaluation import make_reference_trainer
    from market.exceptions import MarketValueError
    from market.root_set import RootSet
    from market.task_spec import MAX_SPEC_BYTES, TaskSpec

    spec_cid = ctx.marketplace.get_task(task_id).config.spec_cid
    spec = TaskSpec.from_json(storage.get(spec_cid, max_bytes=MAX_SPEC_BYTES))
    section = spec.scoring.reference
    if section is None:
        raise MarketValueError(f"task {task_id} does not use the reference rule: it has no root set to recompute")
    root = RootSet.from_bytes(Path(path).read_bytes(), input_shape=spec.data.input_shape,
                              num_classes=spec.model.num_classes, per_class=section.per_class,
                              digest=section.root_set_digest)
    return make_reference_trainer(spec, root)

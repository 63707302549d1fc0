"""``market audit TASK [ROUND]``: re-run published rounds and check every posted number."""

from __future__ import annotations

import click
from rich.table import Table

from market.cli.context import CliContext, console, pass_ctx


@click.command("audit")
@click.argument("task_id", type=int)
@click.argument("round_", metavar="[ROUND]", type=int, required=False)
@click.option("--vk", "vks", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A verification-key document (zk/keys/*.vk.json shape) to try against the task's on-chain "
                   "verifier, besides the transcript's, the committed and the locally cached keys. Repeatable.")
@pass_ctx
def cli(ctx: CliContext, task_id: int, round_: int | None, vks: tuple[str, ...]) -> None:
    """Re-run a task's rounds from chain + storage; exit 1 if any number does not reproduce.

    For a zk-verified task each round's proof (read from the publishRound calldata) is also
    verified again in pure Python (py_ecc), under the key the on-chain verifier was generated from."""
    from aggregator.audit import audit_task
    from market.storage import open_storage

    audits = audit_task(ctx.marketplace, open_storage(ctx.config), task_id, None if round_ is None else [round_],
                        keys=vks)
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

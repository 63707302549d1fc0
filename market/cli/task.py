"""``market task list|show|start|cancel|finalize|abort``: the owner's side (``task post`` is
:mod:`trainers.cli.task_post`: it builds the spec with the trainers' model registry)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from market.cli.context import CliContext, console, pass_ctx, report
from market.cli.options import from_option, password_file_option
from market.types import mask_to_bits
from market.units import ether, when


@click.group("task")
def cli() -> None:
    """Post and manage training tasks."""


@cli.command("list")
@pass_ctx
def list_(ctx: CliContext) -> None:
    """List every task on the Marketplace."""
    market = ctx.marketplace
    table = Table()
    for col in ("id", "state", "round", "trainers", "reward", "stake", "mode", "spec"):
        table.add_column(col)
    for task_id in range(1, market.task_count() + 1):
        t = market.get_task(task_id)
        table.add_row(
            str(task_id), t.state.label(), f"{t.published_rounds}/{t.config.rounds}",
            f"{t.trainer_count}/{t.config.max_trainers}", ether(t.reward_wei), ether(t.config.stake_wei),
            "trusted" if t.trusted_aggregator else "zk", t.config.spec_cid,
        )
    console.print(table)


@cli.command("show")
@click.argument("task_id", type=int)
@pass_ctx
def show(ctx: CliContext, task_id: int) -> None:
    """Show a task, its trainers and its rounds."""
    from market.admission import verifier_standing

    market = ctx.marketplace
    t = market.get_task(task_id)
    c = t.config
    console.print(f"[bold]task {task_id}[/]: {t.state.label()}, round {t.current_round} "
                  f"({t.published_rounds}/{c.rounds} published)")
    console.print(f"  owner {t.owner}; aggregator {c.aggregator}")
    console.print(f"  mode: {t.mode}")
    console.print(f"  {verifier_standing(market, t)}")
    console.print(f"  admission: {'allowlist only' if c.allowlist_only else 'anyone with the stake'}")
    console.print(f"  reward {ether(t.reward_wei)}; stake {ether(c.stake_wei)}; held now {ether(t.held_wei)}")
    console.print(f"  spec {c.spec_cid}; join until {when(c.join_deadline)}; trainers {c.min_trainers}-{c.max_trainers}")
    console.print(f"  windows: submit {c.submission_window}s, sketch {c.sketch_window}s, publish grace {c.publish_grace}s;"
                  f" contest window {c.contest_window}s; slash after {c.strikes_to_slash} strike(s)")
    trainers = market.get_trainers(task_id)
    if trainers:
        table = Table(title="trainers")
        for col in ("slot", "address", "strikes", "points", "earned", "credit"):
            table.add_column(col)
        for address in trainers:
            info = market.get_trainer(task_id, address)
            table.add_row(str(info.slot), address, str(info.strikes), str(info.points), ether(info.earned),
                          ether(market.credit_of(address)))
        console.print(table)
    if t.state.name in {"TRAINING", "FINISHED", "ABORTED"}:
        table = Table(title="rounds")
        for col in ("round", "submitted", "sketches", "seed", "flags", "rejections", "model", "proof"):
            table.add_column(col)
        for r in range(min(t.current_round + 1, c.rounds)):
            ri = market.get_round(task_id, r)
            marks = lambda m: "".join("x" if b else "." for b in mask_to_bits(m, len(trainers)))  # noqa: E731
            table.add_row(
                str(r), str(ri.submissions), str(ri.sketches), f"{ri.seed:#x}"[:12] if ri.closed else "-",
                marks(ri.flags) if ri.published else "-", marks(ri.rejections) if ri.published else "-",
                ri.global_model_cid or "-",
                ("verified" if ri.proof_verified else "trusted") if ri.published else "-",
            )
        console.print(table)


def _simple(name: str, method: str, doc: str):
    @cli.command(name, help=doc)
    @click.argument("task_id", type=int)
    @from_option()
    @password_file_option()
    @pass_ctx
    def command(ctx: CliContext, task_id: int, sender: str, password_file: Path | None) -> None:
        signer = ctx.signer(sender, password_file)
        result = getattr(ctx.marketplace, method)(signer, task_id)
        report(result, f"task {task_id}: {name}")

    return command


_simple("start", "start", "Start training (owner or aggregator; anyone after the join deadline).")
_simple("cancel", "cancel", "Cancel an open task (owner; anyone after the deadline if under-subscribed).")
_simple("finalize", "finalize", "Settle a task whose rounds are all published (anyone).")
_simple("abort", "abort", "Abort a task whose aggregator missed a publish deadline (anyone).")

"""``market aggregator close|publish``: publishing a round by hand (trusted mode)."""

from __future__ import annotations

from pathlib import Path

import click

from market.cli.context import CliContext, console, pass_ctx, report
from market.cli.options import from_option, parse_int_list, password_file_option, round_option
from market.exceptions import MarketValueError
from market.types import RoundPublication


@click.group("aggregator")
def cli() -> None:
    """Close rounds and publish their results."""


@cli.command("close")
@click.argument("task_id", type=int)
@round_option()
@from_option()
@password_file_option()
@pass_ctx
def close(ctx: CliContext, task_id: int, round_: int | None, sender: str, password_file: Path | None) -> None:
    """Close the round's submissions and fix its sketch seed (anyone, after the deadline)."""
    market = ctx.marketplace
    round_ = market.get_task(task_id).current_round if round_ is None else round_
    result = market.close_submissions(ctx.signer(sender, password_file), task_id, round_)
    seed = result.event("SubmissionsClosed")["seed"]
    report(result, f"task {task_id} round {round_} closed; seed {seed:#x}")


def _marks(text: str | None, n: int, name: str) -> list[bool]:
    values = parse_int_list(text, name) or [0] * n
    if len(values) != n or any(v not in (0, 1) for v in values):
        raise MarketValueError(f"--{name} needs {n} comma-separated 0/1 values, one per trainer slot")
    return [bool(v) for v in values]


@cli.command("publish")
@click.argument("task_id", type=int)
@round_option()
@click.option("--model-cid", required=True, help="CID of the new global model.")
@click.option("--flags", default=None, help="0/1 per trainer slot, e.g. 0,1,0 (default all 0).")
@click.option("--rejections", default=None, help="0/1 per trainer slot (default all 0).")
@click.option("--scores", required=True, help="One integer score per trainer slot, e.g. 10,0,7.")
@click.option("--aggregate-commitment", default="0", help="Commitment to the aggregate sketch.")
@click.option("--proof-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Proof bytes for a zk-verified task.")
@from_option()
@password_file_option()
@pass_ctx
def publish(ctx: CliContext, task_id: int, round_: int | None, model_cid: str, flags: str | None,
            rejections: str | None, scores: str, aggregate_commitment: str, proof_file: Path | None, sender: str,
            password_file: Path | None) -> None:
    """Publish a round: model CID, flags, rejections, scores (aggregator only)."""
    market = ctx.marketplace
    task = market.get_task(task_id)
    round_ = task.current_round if round_ is None else round_
    n = task.trainer_count
    score_list = parse_int_list(scores, "scores")
    if len(score_list) != n:
        raise MarketValueError(f"--scores needs {n} values, one per trainer slot")
    publication = RoundPublication(
        global_model_cid=model_cid, flags=_marks(flags, n, "flags"), rejections=_marks(rejections, n, "rejections"),
        scores=score_list, aggregate_commitment=int(aggregate_commitment, 0),
        proof=proof_file.read_bytes() if proof_file else b"",
    )
    result = market.publish_round(ctx.signer(sender, password_file), task_id, round_, publication)
    report(result, f"task {task_id} round {round_} published")
    if task.trusted_aggregator:
        console.print("[yellow]trusted-aggregator mode: no proof was checked[/]")

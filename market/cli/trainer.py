"""``market trainer join|submit|commit-sketch``: the trainer's side, by hand."""

from __future__ import annotations

from pathlib import Path

import click
from eth_utils import keccak

from market.cli.context import CliContext, console, pass_ctx, report
from market.cli.options import AMOUNT, from_option, password_file_option, round_option
from market.exceptions import MarketValueError


@click.group("trainer")
def cli() -> None:
    """Join tasks and submit updates."""


@cli.command("join")
@click.argument("task_id", type=int)
@click.option("--stake", type=AMOUNT, default=None, help="Stake to deposit (default: the task's).")
@from_option()
@password_file_option()
@pass_ctx
def join(ctx: CliContext, task_id: int, stake: int | None, sender: str, password_file: Path | None) -> None:
    """Join a task, depositing its stake."""
    signer = ctx.signer(sender, password_file)
    result = ctx.marketplace.join(signer, task_id, stake)
    report(result, f"{signer.address} joined task {task_id}")


@cli.command("submit")
@click.argument("task_id", type=int)
@round_option()
@click.option("--cid", default=None, help="CID of the (encrypted) update already stored.")
@click.option("--digest", default=None, help="keccak256 of the stored bytes, hex.")
@click.option("--file", "update_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="An update file to store; its CID and keccak256 digest are submitted.")
@from_option()
@password_file_option()
@pass_ctx
def submit(ctx: CliContext, task_id: int, round_: int | None, cid: str | None, digest: str | None,
           update_file: Path | None, sender: str, password_file: Path | None) -> None:
    """Commit an update for the current round (CID + digest)."""
    if update_file is not None:
        if cid or digest:
            raise MarketValueError("give --file, or --cid with --digest, not both")
        from market.storage import open_storage

        data = update_file.read_bytes()
        cid = open_storage(ctx.config).put(data)
        digest_bytes = keccak(data)
        console.print(f"stored {len(data)} bytes as {cid}")
    else:
        if not cid or not digest:
            raise MarketValueError("give --file FILE, or both --cid and --digest")
        try:
            digest_bytes = bytes.fromhex(digest.removeprefix("0x"))
        except ValueError:
            digest_bytes = b""
        if len(digest_bytes) != 32:
            raise MarketValueError("--digest must be 32 bytes in hex (the keccak256 of the stored bytes)")
    market = ctx.marketplace
    round_ = market.get_task(task_id).current_round if round_ is None else round_
    signer = ctx.signer(sender, password_file)
    result = market.submit_update(signer, task_id, round_, cid, digest_bytes)
    report(result, f"update for task {task_id} round {round_} submitted: {cid}")


@cli.command("commit-sketch")
@click.argument("task_id", type=int)
@round_option()
@click.option("--commitment", required=True, help="Sketch commitment (a BN254 field element, decimal or 0x hex).")
@from_option()
@password_file_option()
@pass_ctx
def commit_sketch(ctx: CliContext, task_id: int, round_: int | None, commitment: str, sender: str,
                  password_file: Path | None) -> None:
    """Commit the sketch of the submitted update once the round's seed is fixed."""
    try:
        value = int(commitment, 0)
    except ValueError:
        raise MarketValueError("--commitment must be an integer (decimal or 0x hex)") from None
    market = ctx.marketplace
    round_ = market.get_task(task_id).current_round if round_ is None else round_
    signer = ctx.signer(sender, password_file)
    result = market.commit_sketch(signer, task_id, round_, value)
    report(result, f"sketch committed for task {task_id} round {round_}")

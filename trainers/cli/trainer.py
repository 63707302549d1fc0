"""``market trainer join|submit|commit-sketch``: the trainer's side, by hand."""

from __future__ import annotations

from pathlib import Path

import click
from eth_utils import keccak

from market.cli.context import CliContext, console, pass_ctx, report, service_log, until_reachable
from market.cli.options import AMOUNT, from_option, parse_hex32, password_file_option, round_option
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
    """Join a task, depositing its stake (after checking its verifier, key and admission)."""
    from market.admission import check_before_join

    signer = ctx.signer(sender, password_file)
    for line in check_before_join(ctx.marketplace, ctx.marketplace.get_task(task_id), signer.address):
        console.print(f"[yellow]{line}[/]")
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
        digest_bytes = parse_hex32(digest, "--digest must be 32 bytes in hex (the keccak256 of the stored bytes)")
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


@cli.command("run")
@click.option("--task", "task_id", type=int, required=True, help="Task id to take part in.")
@click.option("--data", "data_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Your data: .npz (X, y), .csv (label column per the spec) or an image folder.")
@click.option("--dataset", type=click.Choice(["digits"]), default=None,
              help="Use a built-in data set instead of --data (for trying the market).")
@click.option("--share", default=None, metavar="I/N",
              help="With --dataset: take share I of N (Dirichlet non-IID, alpha 0.5), e.g. 2/8.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--attack", default=None, help="Attack simulator for experiments (e.g. sign_flip); never on by default.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--poll", type=float, default=2.0, show_default=True, help="Seconds between chain polls.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where round state and envelopes are kept (default MARKET_HOME/trainer).")
@click.option("--withdraw/--no-withdraw", default=False, help="Withdraw the credit when the task ends.")
@from_option()
@password_file_option()
@pass_ctx
def run(ctx: CliContext, task_id: int, data_path: Path | None, dataset: str | None, share: str | None, device: str,
        attack: str | None, seed: int, poll: float, state_dir: Path | None, withdraw: bool, sender: str,
        password_file: Path | None) -> None:
    """Follow a task: train, submit and commit every round until it ends (resumes after a restart)."""
    from market.storage import open_storage
    from market.task_spec import MAX_SPEC_BYTES, TaskSpec
    from market.units import ether
    from trainers.attacks import AttackPlan
    from trainers.data import digits_train_test, load_dataset
    from trainers.node import TrainerNode
    from trainers.partition import partition_dirichlet

    if (data_path is None) == (dataset is None):
        raise MarketValueError("give exactly one of --data PATH or --dataset digits")
    if share and data_path is not None:
        raise MarketValueError("--share splits a built-in data set (--dataset): your --data is used whole")
    account = ctx.signer(sender, password_file)
    storage = open_storage(ctx.config)

    def joined_spec():  # the chain and the storage node may still be starting: waited for
        market = ctx.marketplace
        if not market.get_trainer(task_id, account.address).joined:  # before any waiting or training
            raise MarketValueError(f"{account.address} has not joined task {task_id}: "
                                   f"`market trainer join {task_id} --from {sender}` first (while the task is open)")
        return market, TaskSpec.from_json(storage.get(market.get_task(task_id).config.spec_cid,
                                                      max_bytes=MAX_SPEC_BYTES))

    market, spec = until_reachable(joined_spec, poll=poll)
    if data_path is not None:
        data = load_dataset(data_path, spec.data)
    else:
        data, _test = digits_train_test(spec.data.input_shape)
        if share:
            try:
                index, count = (int(x) for x in share.split("/"))
                parts = partition_dirichlet(data.y, count, 0.5, seed=0)
                data = data.subset(parts[index - 1])
            except (ValueError, IndexError):
                raise MarketValueError(f"--share {share!r} must be I/N with 1 <= I <= N") from None
    node = TrainerNode(
        market=market, storage=storage, account=account, task_id=task_id, dataset=data,
        state_dir=state_dir or ctx.config.home / "trainer", device=None if device == "auto" else device,
        attack=AttackPlan.parse(attack, seed=seed), seed=seed, progress=True, log=service_log,
    )
    summary = node.run(poll_seconds=poll)
    console.print(f"task {task_id} {summary.state}: submitted rounds {summary.submitted_rounds}, "
                  f"points {summary.points}, strikes {summary.strikes}, credit {ether(summary.credit_wei)}")
    if withdraw and summary.credit_wei:
        result = market.withdraw(account)
        report(result, f"withdrew {ether(summary.credit_wei)}")


from trainers.cli.train_local import train_local  # noqa: E402 - registered last; imports no torch

cli.add_command(train_local)

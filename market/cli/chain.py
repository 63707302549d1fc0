"""``market chain up|down|status``: the local anvil, kept across restarts by its state file."""

from __future__ import annotations

import click
from rich.table import Table

from market.chain import dev_accounts
from market.chain.nodes import chain_down, chain_up, pid_alive, read_record, rpc_ready
from market.cli.context import CliContext, console, pass_ctx


@click.group("chain")
def cli() -> None:
    """Start and stop the local development chain (anvil from node_modules)."""


@cli.command("up")
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default 8545, or a free one).")
@pass_ctx
def up(ctx: CliContext, port: int | None) -> None:
    """Start anvil on 127.0.0.1 in the background (state kept in MARKET_HOME/anvil/state.json)."""
    record, started = chain_up(ctx.config.node_dir, port=port)
    verb = "started" if started else "already running"
    console.print(f"anvil {verb}: [bold]{record.url}[/]  (pid {record.pid}, chain id 31337)")
    if not started and port is not None and port != record.port:
        console.print(f"[yellow]--port {port} ignored: this home's anvil already runs on port {record.port} "
                      "(`market chain down` first to move it)[/]")
    table = Table(title="funded development accounts (10000 ETH each; use --from dev:N)")
    table.add_column("dev:N")
    table.add_column("address")
    table.add_column("private key")
    for i, acct in enumerate(dev_accounts()):
        table.add_row(f"dev:{i}", acct.address, "0x" + acct.key.hex().removeprefix("0x"))
    console.print(table)
    console.print("[yellow]These keys are public knowledge: never send real funds to them.[/]")


@cli.command("down")
@pass_ctx
def down(ctx: CliContext) -> None:
    """Stop the anvil started by `market chain up` (its state is saved first)."""
    record = chain_down(ctx.config.node_dir)
    if record is None:
        console.print("no chain was started by `market chain up`")
    else:
        console.print(f"anvil stopped (pid {record.pid}); state kept in {record.state_file}")


@cli.command("status")
@pass_ctx
def status(ctx: CliContext) -> None:
    """Say whether the local anvil runs."""
    record = read_record(ctx.config.node_dir)
    if record is None or not pid_alive(record.pid):
        console.print("no local chain running: `market chain up`")
        raise SystemExit(1)
    state = "answering" if rpc_ready(record.url) else "not answering"
    console.print(f"anvil pid {record.pid} at {record.url}: {state}")

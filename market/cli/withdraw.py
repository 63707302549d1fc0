"""``market withdraw``: pull everything the market credited to a wallet."""

from __future__ import annotations

from pathlib import Path

import click

from market.cli.context import CliContext, pass_ctx, report
from market.cli.options import from_option, password_file_option
from market.units import ether


@click.command("withdraw")
@from_option()
@password_file_option()
@pass_ctx
def withdraw(ctx: CliContext, sender: str, password_file: Path | None) -> None:
    """Withdraw everything the market credited to the wallet."""
    signer = ctx.signer(sender, password_file)
    result = ctx.marketplace.withdraw(signer)
    amount = result.event("Withdrawn")["amount"]
    report(result, f"withdrew {ether(amount)} ({amount} wei) to {signer.address}")

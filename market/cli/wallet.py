"""``market wallet new|import|list|balance|fund``."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click
from eth_typing import ChecksumAddress
from rich.table import Table

from market.cli.context import CliContext, console, pass_ctx, prompt_password, report
from market.cli.options import AMOUNT, from_option, password_file_option
from market.exceptions import MarketValueError
from market.keystore import read_password
from market.marketplace import send_transaction
from market.units import ether


@click.group("wallet")
def cli() -> None:
    """Encrypted keystore wallets (scrypt); passwords from a prompt, MARKET_PASSWORD or a file."""


def _new_password(password_file: Path | None) -> str:
    password = read_password(password_file=password_file)
    return password if password is not None else prompt_password("New wallet password", confirm=True)


@cli.command("new")
@click.argument("name")
@password_file_option()
@pass_ctx
def new(ctx: CliContext, name: str, password_file: Path | None) -> None:
    """Create a wallet with a fresh random key."""
    wallet = ctx.keystore.create(name, _new_password(password_file))
    console.print(f"wallet [bold]{wallet.name}[/] {wallet.address}  ({wallet.path})")


@cli.command("import")
@click.argument("name")
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="File holding the private key in hex (else you are asked for it).")
@password_file_option()
@pass_ctx
def import_(ctx: CliContext, name: str, key_file: Path | None, password_file: Path | None) -> None:
    """Import an existing private key (never passed on the command line)."""
    key = key_file.read_text().strip() if key_file else prompt_password("Private key (hex)")
    wallet = ctx.keystore.import_key(name, key, _new_password(password_file))
    console.print(f"wallet [bold]{wallet.name}[/] {wallet.address}  ({wallet.path})")


@cli.command("list")
@pass_ctx
def list_(ctx: CliContext) -> None:
    """List the wallets in the keystore folder."""
    wallets = ctx.keystore.list()
    if not wallets:
        console.print(f"no wallets in {ctx.keystore.directory}: `market wallet new NAME`")
        return
    table = Table()
    table.add_column("name")
    table.add_column("address")
    for w in wallets:
        table.add_row(w.name, w.address)
    console.print(table)


def _address(ctx: CliContext, who: str) -> str:
    if who.startswith("0x") and len(who) == 42:
        return who
    if who.startswith("dev:"):
        return ctx.signer(who).address
    return ctx.keystore.find(who).address


@cli.command("balance")
@click.argument("who")
@pass_ctx
def balance(ctx: CliContext, who: str) -> None:
    """Ether balance of a wallet (name, address or dev:N), and its withdrawable market credit."""
    address = _address(ctx, who)
    wei = ctx.chain.web3.eth.get_balance(cast(ChecksumAddress, address))  # web3 checks it
    line = f"{address}: {ether(wei)} ({wei} wei)"
    try:
        credit = ctx.marketplace.credit_of(address)
        line += f"; withdrawable from the market: {ether(credit)} ({credit} wei)"
    except Exception:  # no deployment on this chain yet: the balance alone is still useful
        pass
    console.print(line)


@cli.command("fund")
@click.argument("who")
@click.option("--amount", type=AMOUNT, required=True, help="How much to send, e.g. 10ether.")
@from_option()
@password_file_option()
@pass_ctx
def fund(ctx: CliContext, who: str, amount: int, sender: str, password_file: Path | None) -> None:
    """Send ether to a wallet (e.g. from a local chain's dev:0)."""
    if amount <= 0:
        raise MarketValueError("--amount must be positive")
    signer = ctx.signer(sender, password_file)
    to = _address(ctx, who)

    class _Transfer:  # a plain value transfer through the same signing path as contract calls
        def estimate_gas(self, params, block_identifier=None):
            return ctx.chain.web3.eth.estimate_gas({**params, "to": to}, block_identifier)

        def build_transaction(self, params):
            tx = {**params, "to": to}
            fees = ctx.chain.web3.eth.fee_history(1, "latest")
            base = int(fees["baseFeePerGas"][-1])
            tx.update(maxPriorityFeePerGas=10**9, maxFeePerGas=2 * base + 10**9)
            return tx

        def call(self, *a, **k):
            return None

    result = send_transaction(ctx.chain, signer, _Transfer(), "transfer", value=amount)
    report(result, f"sent {ether(amount)} to {to}")

"""The ``market`` command: one group, one module per sub-command group."""

from __future__ import annotations

from pathlib import Path

import click

from market.cli import aggregator, audit, chain, demo, storage, task, trainer, wallet
from market.cli.context import CliContext, console, pass_ctx, report
from market.cli.options import from_option, password_file_option
from market.config import MarketConfig
from market.exceptions import MarketError
from market.marketplace import Marketplace
from market.reverts import ether


class MarketGroup(click.Group):
    """Turns every :class:`MarketError` into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MarketError as exc:
            err = click.ClickException(str(exc))
            err.exit_code = exc.exit_code
            raise err from None


@click.group(cls=MarketGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="MARKET_HOME", default=None,
              help="Folder for wallets, deployments and the local chain (default ~/.market).")
@click.option("--rpc-url", envvar="MARKET_RPC_URL", default=None,
              help="JSON-RPC URL of the chain (default: the anvil of `market chain up`).")
@click.option("--market", "market_address", envvar="MARKET_ADDRESS", default=None,
              help="Marketplace address (default: the one `market deploy` recorded for this chain).")
@click.version_option(package_name="proof-of-contribution-market")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, rpc_url: str | None, market_address: str | None) -> None:
    """Proof-of-Contribution Market: escrowed rewards for federated training."""
    config = MarketConfig() if home is None else MarketConfig().with_home(home)
    if rpc_url:
        config = MarketConfig(home=config.home, rpc_url=rpc_url, storage=config.storage, ipfs_api=config.ipfs_api)
    ctx.obj = CliContext(config, market_address)


@cli.command("deploy")
@click.option("--zk/--no-zk", default=True, show_default=True,
              help="Also deploy the round verifier (Groth16, development key), the default verifier of new tasks.")
@from_option(default="dev:0", show_default=True)
@password_file_option()
@pass_ctx
def deploy(ctx: CliContext, zk: bool, sender: str, password_file: Path | None) -> None:
    """Deploy the Marketplace (and the round verifier) and record the addresses for this chain."""
    deployer = ctx.signer(sender, password_file)
    market = Marketplace.deploy(ctx.chain, deployer)
    block = ctx.chain.block_number()
    ctx.deployments.record(ctx.chain.chain_id, "Marketplace", market.address, block=block, deployer=deployer.address)
    console.print(f"Marketplace deployed at [bold]{market.address}[/] on {ctx.chain.describe()}")
    if zk:
        from zk.deploy import deploy_round_verifier  # groth16py only when asked

        with console.status("loading (or making, once) the round circuit's DEVELOPMENT key…"):
            verifier = deploy_round_verifier(ctx.chain, deployer, n=16, k=32)
        ctx.deployments.record(ctx.chain.chain_id, "RoundVerifier", verifier, block=block, deployer=deployer.address)
        console.print(f"RoundVerifier (16 trainers, k=32, tau 4, DEVELOPMENT key) deployed at [bold]{verifier}[/]")
    console.print(f"recorded in {ctx.deployments.path}")


@cli.command("withdraw")
@from_option()
@password_file_option()
@pass_ctx
def withdraw(ctx: CliContext, sender: str, password_file: Path | None) -> None:
    """Withdraw everything the market credited to the wallet."""
    signer = ctx.signer(sender, password_file)
    result = ctx.marketplace.withdraw(signer)
    amount = result.event("Withdrawn")["amount"]
    report(result, f"withdrew {ether(amount)} ({amount} wei) to {signer.address}")


for _module in (chain, wallet, task, trainer, aggregator, storage, demo, audit):
    cli.add_command(_module.cli)


def main() -> None:
    cli(prog_name="market")


if __name__ == "__main__":
    main()

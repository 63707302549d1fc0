"""The ``market`` command, assembled from the commands each package owns.

The core (this package) owns ``chain``, ``wallet``, ``storage``, ``task`` (list, show, start,
cancel, finalize, abort) and ``withdraw``; ``zk`` owns ``deploy``; ``trainers`` owns ``trainer``
and ``task post``; ``aggregator`` owns ``aggregator`` and ``audit``; the simulation harness
(``benchmarks``) owns ``demo``. Each is declared as an entry point of the group
:data:`COMMAND_GROUP` in ``pyproject.toml`` (ape's way): the name is where the command goes,
``task.post`` attaching ``post`` under ``task``. Nothing here imports a layer above the core.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import click

from market.cli.context import CliContext
from market.cli.hints import cli_message
from market.config import MarketConfig
from market.exceptions import MarketError

__all__ = ["COMMAND_GROUP", "cli", "main"]

#: The entry-point group whose members are the ``market`` sub-commands.
COMMAND_GROUP = "market.commands"


class MarketGroup(click.Group):
    """Turns every :class:`MarketError` into one line on stderr (a revert with the CLI's hint,
    :func:`~market.cli.hints.cli_message`) and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MarketError as exc:
            err = click.ClickException(cli_message(exc))
            err.exit_code = exc.exit_code  # type: ignore[misc]  # a ClassVar to mypy; click reads the instance's
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


def add_commands(group: click.Group, group_name: str = COMMAND_GROUP) -> click.Group:
    """Attach every command of the entry-point group: top-level names first, then the dotted
    ones (``parent.child``) under their parent group."""
    found = sorted(entry_points(group=group_name), key=lambda ep: (ep.name.count("."), ep.name))
    for ep in found:
        command = ep.load()
        parent_name, _, name = ep.name.rpartition(".")
        parent = group
        for part in filter(None, parent_name.split(".")):
            parent = parent.commands[part]  # type: ignore[assignment]
        parent.add_command(command, name)  # type: ignore[union-attr]
    return group


add_commands(cli)


def main() -> None:
    cli(prog_name="market")


if __name__ == "__main__":
    main()

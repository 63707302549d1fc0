"""What every CLI command needs: configuration, the chain, the Marketplace, signers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

import click
from eth_account.signers.local import LocalAccount
from rich.console import Console

from market.chain import ChainBackend, RpcChain, dev_accounts
from market.chain.nodes import read_record
from market.config import MarketConfig
from market.deployments import Deployments
from market.exceptions import ChainConnectionError, MarketValueError, PasswordMissing, WrongPassword
from market.keystore import PASSWORD_ENV, Keystore, read_password
from market.marketplace import Marketplace
from market.types import TxResult

T = TypeVar("T")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class CliContext:
    """Lazily connects to what a command uses, so ``market wallet new`` needs no chain."""

    def __init__(self, config: MarketConfig, market_address: str | None = None) -> None:
        self.config = config
        self.market_address = market_address

    @cached_property
    def rpc_url(self) -> str:
        if self.config.rpc_url:
            if self.config.rpc_url == "embedded":
                raise MarketValueError(
                    "the embedded chain lives inside one process: use it through `market demo` or the library, "
                    "and give the CLI an RPC URL (`market chain up`)"
                )
            if "://" not in self.config.rpc_url:
                raise MarketValueError(f"--rpc-url {self.config.rpc_url!r} names no scheme: did you mean "
                                       f"http://{self.config.rpc_url}?")
            return self.config.rpc_url
        record = read_record(self.config.node_dir)
        if record is None:
            raise ChainConnectionError("no chain configured: start one with `market chain up`, or pass --rpc-url URL")
        return record.url

    @cached_property
    def chain(self) -> ChainBackend:
        host = urlparse(self.rpc_url).hostname
        local = host in {"127.0.0.1", "localhost"}
        return RpcChain(self.rpc_url, accounts=dev_accounts() if local else None)

    @cached_property
    def deployments(self) -> Deployments:
        return Deployments(self.config.deployments_file)

    @cached_property
    def marketplace(self) -> Marketplace:
        address = self.market_address or self.deployments.address(self.chain.chain_id)
        return Marketplace(self.chain, address)

    @cached_property
    def keystore(self) -> Keystore:
        return Keystore(self.config.keystore_dir)

    def signer(self, spec: str, password_file: Path | None = None) -> LocalAccount:
        """``dev:N`` → development account N of a local chain; anything else → a wallet by name
        or address, unlocked with the password from the file, ``MARKET_PASSWORD`` or a prompt."""
        if spec.startswith("dev:"):
            accounts = self.chain.dev_accounts()
            try:
                return accounts[int(spec[4:])]
            except (ValueError, IndexError):
                raise MarketValueError(
                    f"{spec!r}: development accounts are dev:0 to dev:{len(accounts) - 1} and exist only on a local chain"
                ) from None
        wallet = self.keystore.find(spec)
        password = read_password(password_file=password_file)
        if password is not None:  # from a file or the environment: say which one was wrong
            source = f"--password-file {password_file}" if password_file is not None else f"${PASSWORD_ENV}"
            try:
                return self.keystore.unlock(wallet.name, password)
            except WrongPassword:
                raise WrongPassword(f"wrong password for wallet {wallet.name!r} (from {source})") from None
        for attempt in range(1, PROMPT_TRIES + 1):
            password = prompt_password(f"Password for wallet {wallet.name} ({wallet.address})")
            try:
                return self.keystore.unlock(wallet.name, password)
            except WrongPassword:
                if attempt == PROMPT_TRIES:
                    raise WrongPassword(f"wrong password for wallet {wallet.name!r}, {PROMPT_TRIES} times") from None
                console.print("[yellow]wrong password; try again[/]")
        raise AssertionError("unreachable")


PROMPT_TRIES = 3
"""Tries a prompted password gets (a password from a file or the environment gets one)."""


def secret_password(what: str, password_file: Path | None, *, confirm: bool = False) -> str:
    """A password for ``what`` from ``--password-file``, ``MARKET_PASSWORD`` or a prompt (the
    wallets' sources); an empty one is refused (nothing is ever written unencrypted)."""
    password = read_password(password_file=password_file)
    if password is None:
        password = prompt_password(f"Password for {what}", confirm=confirm)
    if not password:
        raise MarketValueError(f"an empty password for {what}: give one (MARKET_PASSWORD, --password-file or the prompt)")
    return password


def prompt_password(text: str, *, confirm: bool = False) -> str:
    """Ask on the terminal (hidden input); fail clearly when there is no terminal."""
    import sys

    if not sys.stdin.isatty():
        raise PasswordMissing(
            "no password given: set MARKET_PASSWORD, pass --password-file FILE, or run in a terminal to be asked"
        )
    return click.prompt(text, hide_input=True, confirmation_prompt=confirm)


def service_log(message: str) -> None:
    """One line of a long-running service (``trainer run``, ``aggregator run``), with the time."""
    console.print(f"{time.strftime('%H:%M:%S')} {message}", highlight=False)


def until_reachable(fn: Callable[[], T], *, poll: float = 2.0, max_backoff: float = 30.0) -> T:
    """``fn()``, retried while the chain or the storage node does not answer: a service started
    before its nodes, or during an outage, waits for them as its run loop would (each failure
    logged with the wait, the wait doubling up to ``max_backoff``). Anything else propagates."""
    from market.retry import TRANSPORT_ERRORS, Backoff

    backoff = Backoff(poll, max_backoff)
    while True:
        try:
            return fn()
        except TRANSPORT_ERRORS as exc:
            time.sleep(backoff.failed(exc, service_log))


@contextmanager
def progress(what: str, *, every: float = 15.0) -> Iterator[None]:
    """Show that ``what`` is still running: on a terminal a spinner with the seconds elapsed, else
    (a log, a pipe) a line at the start, one every ``every`` seconds and one at the end, so a long
    native call (a key setup, a proof) never looks like a hang."""
    started, done = time.monotonic(), threading.Event()
    if console.is_terminal:
        status = console.status(what)
        show: Callable[[float], None] = lambda s: status.update(f"{what} ({s:.0f} s)")  # noqa: E731
        status.start()
    else:
        console.print(f"{what} …")
        show = lambda s: console.print(f"  … still {what} ({s:.0f} s)")  # noqa: E731
    ticker = threading.Thread(target=_tick, args=(done, show, 1.0 if console.is_terminal else every), daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        if console.is_terminal:
            status.stop()
    if not console.is_terminal:
        console.print(f"  done in {time.monotonic() - started:.1f} s")


def _tick(done: threading.Event, show: Callable[[float], None], every: float) -> None:
    started = time.monotonic()
    while not done.wait(every):
        show(time.monotonic() - started)


def report(result: TxResult, what: str) -> None:
    """One line per mined transaction: what, gas, hash."""
    console.print(f"[green]✓[/] {what}  [dim]gas {result.gas_used:,}  tx {result.tx_hash}[/]")


pass_ctx = click.make_pass_decorator(CliContext)

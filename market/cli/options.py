"""Reusable click options (ape's habit: option factories, not copies)."""

from __future__ import annotations

from pathlib import Path

import click

from market.exceptions import MarketValueError
from market.units import parse_amount, parse_duration


def from_option(help_text: str = "Wallet name or address that signs (dev:N for a local chain's development account).", **kw):
    return click.option("--from", "sender", required=True, metavar="WALLET", help=help_text, **kw)


def password_file_option():
    return click.option(
        "--password-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help="File whose first line is the wallet password (else MARKET_PASSWORD, else a prompt).",
    )


def round_option():
    return click.option("--round", "round_", type=int, default=None, help="Round number (default: the current round).")


class AmountType(click.ParamType):
    """'0.5ether', '100gwei', '12wei'; a bare number is ether."""

    name = "amount"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        try:
            return parse_amount(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class DurationType(click.ParamType):
    """'90s', '5m', '2h', '1d' or seconds."""

    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


AMOUNT = AmountType()
DURATION = DurationType()


def parse_int_list(text: str | None, name: str) -> list[int]:
    """'1,0,5' → [1, 0, 5]; '' or None → []."""
    if not text:
        return []
    try:
        return [int(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        raise click.BadParameter(f"{name} must be comma-separated integers, e.g. 1,0,3") from None


def parse_hex32(text: str, message: str) -> bytes:
    """``0x``-prefixed or bare hex of exactly 32 bytes; else a :class:`MarketValueError` with ``message``."""
    try:
        value = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        value = b""
    if len(value) != 32:
        raise MarketValueError(message)
    return value

"""Amounts and times for people: parsing amounts ("0.5 ether", "100gwei", "12wei") and
durations ("90s", "5m", "2h", "1d"), and writing wei (:func:`ether`) and block times
(:func:`when`)."""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal, InvalidOperation

from market.exceptions import MarketValueError

_UNITS = {"wei": 0, "gwei": 9, "eth": 18, "ether": 18}
_AMOUNT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")
_DURATION = re.compile(r"^\s*([0-9]+)\s*([smhd]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_amount(text: str) -> int:
    """Wei in ``text``; a bare number is ether. Raises :class:`MarketValueError` when unclear."""
    match = _AMOUNT.match(str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS and unit != "":
        raise MarketValueError(f"cannot read amount {text!r}: write e.g. '0.5ether', '100gwei' or '12wei'")
    try:
        wei = Decimal(match.group(1)) * (Decimal(10) ** _UNITS[unit or "ether"])
    except InvalidOperation:
        raise MarketValueError(f"cannot read amount {text!r}") from None
    if wei != wei.to_integral_value():
        raise MarketValueError(f"{text!r} is not a whole number of wei")
    return int(wei)


def parse_duration(text: str) -> int:
    """Seconds in ``text`` ("90", "90s", "5m", "2h", "1d")."""
    match = _DURATION.match(str(text))
    if not match:
        raise MarketValueError(f"cannot read duration {text!r}: write e.g. '90s', '5m', '2h' or '1d'")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def ether(wei: int) -> str:
    """1500000000000000000 → '1.5 ETH' (amounts under 10¹² wei, except 0, stay in wei)."""
    value = f"{wei / 10**18:.6f}".rstrip("0").rstrip(".")
    return f"{value} ETH" if wei >= 10**12 or wei == 0 else f"{wei} wei"


def when(ts: int) -> str:
    """A unix timestamp as ``YYYY-MM-DD HH:MM:SS UTC``; one past year 9999 (or before 1970) as
    ``unix time N`` (a chain value may be any uint64, and the message must still be written)."""
    try:
        return _dt.datetime.fromtimestamp(int(ts), _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"unix time {int(ts)}"

"""Parsing amounts ("0.5 ether", "100gwei", "12wei") and durations ("90s", "5m", "2h", "1d")."""

from __future__ import annotations

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
        wei = Decimal(match.group(1)) * (Decimal(10) ** _UNITS.get(unit or "ether"))
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

"""Amounts and durations as users type them."""

from __future__ import annotations

import pytest

from market.exceptions import MarketValueError
from market.units import parse_amount, parse_duration


@pytest.mark.parametrize(
    ("text", "wei"),
    [("1", 10**18), ("0.5ether", 5 * 10**17), ("0.5 ETH", 5 * 10**17), ("100gwei", 100 * 10**9), ("12wei", 12),
     ("0", 0)],
)
def test_parse_amount(text, wei):
    assert parse_amount(text) == wei


@pytest.mark.parametrize("text", ["lots", "1.5wei", "-1ether", "1 dollar", ""])
def test_parse_amount_rejects(text):
    with pytest.raises(MarketValueError):
        parse_amount(text)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_parse_duration_rejects():
    with pytest.raises(MarketValueError, match="cannot read duration"):
        parse_duration("soon")

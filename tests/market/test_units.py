"""Amounts and durations as users type them, and wei and block times as they read them."""

from __future__ import annotations

import pytest

from market.exceptions import MarketValueError
from market.units import ether, parse_amount, parse_duration, when


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


@pytest.mark.parametrize(("wei", "text"), [(15 * 10**17, "1.5 ETH"), (10**18, "1 ETH"), (0, "0 ETH"),
                                           (10**12, "0.000001 ETH"), (999, "999 wei")])
def test_ether_writes_wei_for_people(wei, text):
    assert ether(wei) == text


def test_when_writes_a_block_time_in_utc():
    assert when(0) == "1970-01-01 00:00:00 UTC"
    assert when(1_700_000_000) == "2023-11-14 22:13:20 UTC"


def test_units_when_survives_a_far_future_timestamp():
    # a chain value is any uint64: the revert decoder must still write its message (finding 7)
    from market.units import when

    assert when(2**63) == f"unix time {2**63}"
    assert when(0) == "1970-01-01 00:00:00 UTC"

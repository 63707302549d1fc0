"""Exceptions of the ``zk`` package.

They hang under the project's one root, :class:`market.exceptions.MarketError`, so the
``market`` CLI turns them into a one-line message like every other error; the value errors
also inherit :class:`ValueError`.
"""

from __future__ import annotations

from market.exceptions import MarketError, MarketValueError

__all__ = ["FieldRangeError", "SketchInputError", "ZkError"]


class ZkError(MarketError):
    """Root of every error the ``zk`` package raises on purpose."""

    exit_code = 7


class FieldRangeError(ZkError, MarketValueError):
    """A value lies outside the range it must have: not a BN254 field element, or a signed
    integer too large to be represented (or range-checked) in the circuit."""


class SketchInputError(ZkError, MarketValueError):
    """An update cannot be sketched: empty, non-numeric, not finite, or too large."""

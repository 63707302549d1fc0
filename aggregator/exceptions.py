"""Exceptions of the ``aggregator`` package.

They hang under the project's one root, :class:`market.exceptions.MarketError`, so the
``market`` CLI turns them into a one-line message like every other error; the value errors
also inherit :class:`ValueError` (through :class:`market.exceptions.MarketValueError`).
"""

from __future__ import annotations

from market.exceptions import MarketError, MarketValueError

__all__ = [
    "AggregatorError",
    "AggregatorValueError",
    "EmptyAggregationError",
    "UpdateReloadError",
    "UnknownDetectorError",
    "UpdateMismatchError",
]


class AggregatorError(MarketError):
    """Root of every error the ``aggregator`` package raises on purpose."""

    exit_code = 8


class AggregatorValueError(AggregatorError, MarketValueError):
    """An input of a detector, scorer or aggregation is not acceptable (wrong length, not an
    integer where exact arithmetic needs one, not finite, out of range)."""


class EmptyAggregationError(AggregatorValueError):
    """There is nothing to aggregate: no update was given (or every weight was refused)."""


class UpdateMismatchError(AggregatorValueError):
    """Updates that must have the same tensors do not: a name, shape or length differs."""


class UnknownDetectorError(AggregatorValueError):
    """A scoring policy names a detector that is not in the registry."""


class UpdateReloadError(AggregatorError):
    """An accepted update whose tensors were released could not be read again (storage lost it,
    or its bytes no longer pass the checks they passed at intake)."""


class ReferenceUnavailableError(AggregatorError):
    """The round's reference cannot be made or does not match the chain: the node has no reference
    trainer or root set, or its recomputed reference is not the one committed on chain."""


class AggregatorKeyMismatch(AggregatorError):
    """The task names an encryption key that is not this node's: the node refuses to serve it
    (every submission would be undecryptable to it, and someone else could read them)."""

"""Waiting out a node that does not answer: which errors are transport failures, and the
doubling wait between tries. The trainer and aggregator loops
(:func:`zk.protocol.step_loop.run_steps`) and the services' start
(:func:`market.cli.context.until_reachable`) share both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from market.exceptions import ChainError
from market.storage.exceptions import StorageUnavailable

__all__ = ["MAX_BACKOFF", "TRANSPORT_ERRORS", "Backoff"]

TRANSPORT_ERRORS: Final = (ChainError, StorageUnavailable)
"""What a service waits out: the chain or the storage node did not answer. A contract's revert (a
refusal, :class:`~market.exceptions.ContractRevert`) is not one and is raised at once."""

MAX_BACKOFF: Final = 30.0
"""The longest wait between two tries, in seconds."""


class Backoff:
    """A wait of ``first`` seconds after a failure, doubling after each further one up to
    ``most``; :meth:`reset` after a success."""

    def __init__(self, first: float, most: float = MAX_BACKOFF) -> None:
        self.first, self.most, self.seconds = first, most, first

    def reset(self) -> None:
        self.seconds = self.first

    def failed(self, exc: BaseException, log: Callable[[str], None]) -> float:
        """Log ``exc`` with the wait about to happen; return that wait (the next one doubles)."""
        wait = self.seconds
        log(f"retrying in {wait:.1f}s after: {exc}")
        self.seconds = min(self.most, wait * 2)
        return wait

"""The shared wait between tries (:mod:`market.retry`): doubling, capped, reset after a success."""

from __future__ import annotations

from market.exceptions import ChainError, ContractRevert
from market.retry import TRANSPORT_ERRORS, Backoff
from market.storage.exceptions import StorageUnavailable


def test_the_wait_doubles_up_to_its_cap_and_resets():
    lines: list[str] = []
    backoff = Backoff(0.5, most=3.0)
    waits = [backoff.failed(ChainError(f"down {i}"), lines.append) for i in range(5)]
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert lines[0] == "retrying in 0.5s after: down 0" and lines[-1] == "retrying in 3.0s after: down 4"
    backoff.reset()
    assert backoff.failed(ChainError("again"), lines.append) == 0.5


def test_transport_errors_are_the_chains_and_the_storage_nodes_not_a_revert():
    assert issubclass(StorageUnavailable, TRANSPORT_ERRORS) and issubclass(ChainError, TRANSPORT_ERRORS)
    assert not issubclass(ContractRevert, TRANSPORT_ERRORS)

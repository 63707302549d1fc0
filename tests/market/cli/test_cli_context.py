"""What every command shares (:mod:`market.cli.context`): the progress of a long step."""

from __future__ import annotations

import time

import pytest

from market.cli.context import progress


def test_progress_off_a_terminal_prints_a_start_a_heartbeat_and_the_end(capsys):
    # Execute: a step longer than the heartbeat, as a log (not a terminal) sees it
    with progress("making the key", every=0.05):
        time.sleep(0.3)
    # Assert
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "making the key …" and lines[-1].startswith("  done in ")
    assert any(line.startswith("  … still making the key (") for line in lines[1:-1]), lines


def test_progress_says_nothing_of_done_when_the_step_fails(capsys):
    with pytest.raises(RuntimeError), progress("proving", every=10):
        raise RuntimeError("the prover failed")
    assert capsys.readouterr().out.splitlines() == ["proving …"]


def test_until_reachable_waits_for_the_chain_and_the_storage_node_and_nothing_else(capsys, monkeypatch):
    from market.cli import context
    from market.exceptions import ChainConnectionError, MarketValueError
    from market.storage.exceptions import StorageUnavailable

    monkeypatch.setattr(context.time, "sleep", lambda seconds: None)
    failures = [ChainConnectionError("connection refused"), StorageUnavailable("IPFS API down")]

    def starting():
        if failures:
            raise failures.pop(0)
        return "spec"

    # Execute: two transport failures, then an answer
    assert context.until_reachable(starting, poll=0.5) == "spec"
    # Assert: each logged with a doubling wait; a refusal (not transport) is raised at once
    out = capsys.readouterr().out
    assert "retrying in 0.5s after: connection refused" in out and "retrying in 1.0s after: IPFS API down" in out
    with pytest.raises(MarketValueError):
        context.until_reachable(lambda: (_ for _ in ()).throw(MarketValueError("not joined")))

"""The loop both nodes run (:meth:`trainers.node.TrainerNode.run`,
:meth:`aggregator.service.AggregatorNode.run`): step until the task ends, sleeping while a step
is idle, waiting out transport failures with a doubling backoff (:mod:`market.retry`; the
state on disk makes every retried step safe) and raising a contract's revert at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from market.retry import MAX_BACKOFF, TRANSPORT_ERRORS, Backoff
from zk.protocol.actions import ActionKind, NodeAction

__all__ = ["run_steps"]


def run_steps(step: Callable[[], NodeAction], *, log: Callable[[str], None], poll_seconds: float,
              timeout: float | None = None, stop: threading.Event | None = None, max_backoff: float = MAX_BACKOFF,
              timed_out: Callable[[NodeAction], Exception]) -> NodeAction:
    """Call ``step`` until it returns a final action (returned), ``stop`` is set
    (:attr:`ActionKind.STOPPED`) or ``timeout`` seconds pass (``timed_out(last action)`` is
    raised). A step that acted logged it with its details; an idle one is logged when it changes."""
    stop = stop or threading.Event()
    started = time.monotonic()
    backoff = Backoff(poll_seconds, max_backoff)
    last = None
    while not stop.is_set():
        try:
            action = step()
            backoff.reset()
        except TRANSPORT_ERRORS as exc:  # a node that stopped answering: wait, retry
            stop.wait(backoff.failed(exc, log))
            continue
        if action != last and action.kind.idle:
            log(str(action))
        last = action
        if action.kind.final:
            return action
        if timeout is not None and time.monotonic() - started > timeout:
            raise timed_out(action)
        if action.kind.idle:
            stop.wait(poll_seconds)
    return NodeAction(ActionKind.STOPPED)

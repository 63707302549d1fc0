"""Named kill points for crash tests: ``failpoint(name)`` ends this process with SIGKILL when the
``MARKET_FAILPOINTS`` environment variable arms ``name``.

In the manner of etcd's gofail and FoundationDB's kill points, the nodes call
:func:`failpoint` at the steps where a crash is worth testing (the aggregator after closing,
in intake, after proving, after ``publishRound`` was sent, after it was mined, after a reveal;
a trainer mid-training, after storing its update, after ``submitUpdate`` was sent). Unarmed, a
failpoint is one dictionary lookup; armed, it writes one line to stderr (``failpoint NAME hit:
killing process PID``) and kills the process with no cleanup at all, exactly like ``kill -9``
from outside, but at a known point. Only the process that reads the variable dies: a user who
never sets it never meets one.

``MARKET_FAILPOINTS`` is a comma-separated list of names, each optionally ``NAME@N``: fire at
the N-th hit of that name in this process (default the first). Names are dotted, e.g.
``aggregator.published`` or ``tx.sent.publishRound``; a name may carry the round,
``aggregator.closed.r1``, and :func:`failpoint` is given both forms (:func:`round_failpoint`).
The tests that use them are in ``tests/test_kill_restart.py``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

__all__ = ["FAILPOINTS_ENV", "armed", "failpoint", "round_failpoint"]

FAILPOINTS_ENV = "MARKET_FAILPOINTS"
"""The environment variable that arms failpoints."""

_hits: dict[str, int] = {}
_lock = threading.Lock()


def armed() -> dict[str, int]:
    """The armed failpoints of this process: name → the hit that fires it (read each call, so a
    test may set the variable after import)."""
    raw = os.environ.get(FAILPOINTS_ENV, "")
    points: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, count = item.partition("@")
        try:
            points[name] = int(count) if count else 1
        except ValueError:
            raise ValueError(f"{FAILPOINTS_ENV}: {item!r} is not NAME or NAME@N") from None
    return points


def failpoint(name: str) -> None:
    """Kill this process (SIGKILL) if ``name`` is armed and this is its firing hit."""
    points = armed()
    if name not in points:
        return
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        fire = _hits[name] == points[name]
    if fire:
        sys.stderr.write(f"failpoint {name} hit: killing process {os.getpid()}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def round_failpoint(name: str, round_: int) -> None:
    """:func:`failpoint` for ``name`` and for ``name.r<round>`` (a kill at one round only)."""
    failpoint(name)
    failpoint(f"{name}.r{round_}")

"""What a node did in one step, as a value: :class:`NodeAction` (an :class:`ActionKind`, the
round, a detail).

The trainer and aggregator nodes return one from every ``step()``; their loops decide whether to
sleep or to end from :attr:`ActionKind.idle` and :attr:`ActionKind.final`, never from the
wording. ``str(action)`` is the log line (``"round 0: submitted"``, ``"waiting for start"``…).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["ActionKind", "NodeAction"]


class ActionKind(Enum):
    """The kinds of step a trainer or aggregator node takes."""

    WAITING = "waiting"
    """Nothing is due yet (the detail says what for)."""
    SUBMITTED = "submitted"
    """The trainer submitted its update (or found it already on chain)."""
    SUBMITTED_ELSEWHERE = "submitted elsewhere"
    """The chain holds a submission this trainer's state does not know (an earlier run's)."""
    MISSED = "missed"
    """The submission window closed before this trainer submitted."""
    SKETCH_MISSED = "sketch window missed"
    """The sketch window closed before this trainer committed."""
    COMMITTED = "committed"
    """The trainer committed its sketch."""
    CONTESTED = "contested"
    """The trainer contested its rejection in a published round (its envelope key on chain)."""
    CLOSED = "closed"
    """The aggregator closed the round's submissions."""
    REFERENCE_COMMITTED = "reference committed"
    """The aggregator fixed the round's reference update (its digest) before any submission."""
    PUBLISHED = "published"
    """The aggregator published the round."""
    REVEALED = "revealed"
    """The aggregator revealed the evidence keys a published round still owed (after a restart)."""
    FINALIZED = "finalized"
    """The aggregator finalized the task."""
    FINISHED = "finished"
    """The task had ended (finished, cancelled or aborted)."""
    STOPPED = "stopped"
    """The node's loop was stopped from outside."""

    @property
    def idle(self) -> bool:
        """Nothing more can be done until time passes or others act: the loop sleeps."""
        return self in (ActionKind.WAITING, ActionKind.SUBMITTED_ELSEWHERE, ActionKind.MISSED,
                        ActionKind.SKETCH_MISSED)

    @property
    def final(self) -> bool:
        """The task is over for the node: the loop ends."""
        return self in (ActionKind.FINISHED, ActionKind.FINALIZED)


_ROUND_TEXT = {
    ActionKind.WAITING: "round {round}: waiting for {detail}",
    ActionKind.SUBMITTED: "round {round}: submitted",
    ActionKind.SUBMITTED_ELSEWHERE: "round {round} submitted elsewhere",
    ActionKind.MISSED: "round {round} missed",
    ActionKind.SKETCH_MISSED: "round {round}: sketch window missed",
    ActionKind.COMMITTED: "round {round}: committed",
    ActionKind.CONTESTED: "round {round}: rejection contested",
    ActionKind.CLOSED: "round {round}: closed",
    ActionKind.REFERENCE_COMMITTED: "round {round}: reference committed",
    ActionKind.PUBLISHED: "round {round}: published",
    ActionKind.REVEALED: "round {round}: evidence keys revealed",
}


@dataclass(frozen=True)
class NodeAction:
    """One step of a node: its kind, the round it concerned (None for the task as a whole) and
    a detail (for ``WAITING``: what it waits for, e.g. ``"sketches (3/4)"``)."""

    kind: ActionKind
    round: int | None = None
    detail: str = ""

    @property
    def text(self) -> str:
        """The log line, e.g. ``"round 0: waiting for the seed"``, ``"finalized"``."""
        if self.round is None:
            return f"waiting for {self.detail}" if self.kind is ActionKind.WAITING else self.kind.value
        return _ROUND_TEXT.get(self.kind, "round {round}: {kind}").format(
            round=self.round, detail=self.detail, kind=self.kind.value)

    def __str__(self) -> str:
        return self.text

"""One view of where a task stands: (task, current round, now) → :class:`RoundPhase`.

In the manner of OpenZeppelin's ``Governor.state()``, a single pure function reads the chain's
records and the chain's time (:meth:`~market.chain.base.ChainBackend.now`: the pending block's
on an RPC node, so a deadline arrives on a chain that mines only on demand) and names the
phase; the trainer and aggregator nodes decide what is due only from it. The phases follow ``contracts/Marketplace.sol``:

=========================  ===========================================================  ====================
phase                      when                                                         what is due
=========================  ===========================================================  ====================
``JOINING``                task ``Open``                                                ``join`` / ``start``
``SUBMISSIONS_OPEN``       round not closed, ``now ≤ submissionDeadline``, not every    ``submitUpdate``
                           trainer submitted
``SUBMISSIONS_COMPLETE``   not closed, before the deadline, every trainer submitted     ``closeSubmissions`` (early)
``SUBMISSIONS_OVER``       not closed, ``now > submissionDeadline``                     ``closeSubmissions``
``SKETCHES_OPEN``          closed (seed fixed), ``now ≤ sketchDeadline``, not every     ``commitSketch``
                           submitter committed
``SKETCHES_COMPLETE``      closed, before the sketch deadline, every submitter          ``publishRound`` (early)
                           committed
``SKETCHES_OVER``          closed, ``now > sketchDeadline``                             ``publishRound``
``FINALIZABLE``            task ``Training``, every round published                     ``finalize``
``ENDED``                  task ``Finished``, ``Cancelled`` or ``Aborted``              nothing
=========================  ===========================================================  ====================

The contract accepts ``submitUpdate`` in both ``SUBMISSIONS_OPEN`` and ``SUBMISSIONS_COMPLETE``
(``closed`` and the deadline decide, not the count) and ``commitSketch`` in both sketch phases
before the deadline: :attr:`RoundPhase.accepts_submissions` and :attr:`RoundPhase.accepts_sketches`
say so. The publish deadline (after which anyone may ``abort``) is the contract's guard and no
phase of its own: a node that is that late gets the contract's revert.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from market.marketplace import Marketplace
from market.types import RoundInfo, TaskInfo, TaskState

__all__ = ["PhaseView", "RoundPhase", "current_round", "observe_phase", "round_phase"]

_ENDED_STATES = (TaskState.FINISHED, TaskState.CANCELLED, TaskState.ABORTED)


class RoundPhase(Enum):
    """Where a task and its current round stand (see the module's table)."""

    JOINING = "joining"
    SUBMISSIONS_OPEN = "submissions open"
    SUBMISSIONS_COMPLETE = "submissions complete"
    SUBMISSIONS_OVER = "submissions over"
    SKETCHES_OPEN = "sketches open"
    SKETCHES_COMPLETE = "sketches complete"
    SKETCHES_OVER = "sketches over"
    FINALIZABLE = "finalizable"
    ENDED = "ended"

    @property
    def accepts_submissions(self) -> bool:
        """``submitUpdate`` passes the round's time checks (not closed, deadline not passed)."""
        return self in (RoundPhase.SUBMISSIONS_OPEN, RoundPhase.SUBMISSIONS_COMPLETE)

    @property
    def closable(self) -> bool:
        """``closeSubmissions`` is due: the deadline passed or every trainer submitted."""
        return self in (RoundPhase.SUBMISSIONS_COMPLETE, RoundPhase.SUBMISSIONS_OVER)

    @property
    def seed_fixed(self) -> bool:
        """Submissions are closed and the round's sketch seed is on chain."""
        return self in (RoundPhase.SKETCHES_OPEN, RoundPhase.SKETCHES_COMPLETE, RoundPhase.SKETCHES_OVER)

    @property
    def accepts_sketches(self) -> bool:
        """``commitSketch`` passes the round's time checks (closed, sketch deadline not passed)."""
        return self in (RoundPhase.SKETCHES_OPEN, RoundPhase.SKETCHES_COMPLETE)

    @property
    def publishable(self) -> bool:
        """``publishRound`` is due: the sketch window is over or every submitter committed."""
        return self in (RoundPhase.SKETCHES_COMPLETE, RoundPhase.SKETCHES_OVER)


def current_round(task: TaskInfo) -> int | None:
    """The round under way, whose :class:`~market.types.RoundInfo` :func:`round_phase` needs:
    ``task.current_round`` while the task trains and rounds remain, else None (the task's
    state alone gives the phase)."""
    if task.state == TaskState.TRAINING and task.current_round < task.config.rounds:
        return task.current_round
    return None


def round_phase(task: TaskInfo, info: RoundInfo | None, now: int) -> RoundPhase:
    """The phase of ``task`` at block time ``now``; ``info`` is the chain's record of
    :func:`current_round` (ignored, and may be None, when that is None).

    Raises ``ValueError`` when a round is under way and ``info`` is missing.
    """
    if task.state in _ENDED_STATES:
        return RoundPhase.ENDED
    if task.state == TaskState.OPEN:
        return RoundPhase.JOINING
    if current_round(task) is None:
        return RoundPhase.FINALIZABLE
    if info is None:
        raise ValueError(f"task {task.task_id} is in round {task.current_round}: its phase needs the round's record")
    if not info.closed:
        if now > info.submission_deadline:
            return RoundPhase.SUBMISSIONS_OVER
        if info.submissions < task.trainer_count:
            return RoundPhase.SUBMISSIONS_OPEN
        return RoundPhase.SUBMISSIONS_COMPLETE
    if now > info.sketch_deadline:
        return RoundPhase.SKETCHES_OVER
    if info.sketches < info.submissions:
        return RoundPhase.SKETCHES_OPEN
    return RoundPhase.SKETCHES_COMPLETE


class PhaseView(NamedTuple):
    """What a node reads before it acts: the task, its current round (None when no round is
    under way), that round's record and the phase they give."""

    task: TaskInfo
    round: int | None
    info: RoundInfo | None
    phase: RoundPhase


def observe_phase(market: Marketplace, task_id: int) -> PhaseView:
    """Read the task, its current round's record and the chain's time, and name the phase (one
    copy for both nodes: the trainer's and the aggregator's ``step``)."""
    task = market.get_task(task_id)
    round_ = current_round(task)
    info = market.get_round(task_id, round_) if round_ is not None else None
    now = market.chain.now() if info is not None else 0  # the pending block's time: deadlines arrive on an idle chain
    return PhaseView(task, round_, info, round_phase(task, info, now))

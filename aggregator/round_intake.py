"""A round's intake: every submission of the round fetched in parallel, checked in slot order
(:func:`aggregator.intake.fetch_and_check`'s stages), its verdict saved as it is made.

* **Parallel fetches with a deadline each.** Up to ``workers`` reads run at once in threads, in a
  sliding window ahead of the checks; each read is bounded in bytes
  (:func:`aggregator.intake.envelope_bound`) and in time by the storage's own fetch deadline
  (:class:`~market.storage.KuboStorage`'s ``fetch_timeout``; it answers ``NotFound`` when it
  runs out), so n missing CIDs cost one deadline per window of ``workers``, not n in a row.
  Results come back in slot order; at most ``workers`` envelopes wait besides the one checked.
* **Progress per submission.** With an :class:`IntakeJournal` (the service's
  :class:`aggregator.state.IntakeProgress`), a check is recorded as begun before it
  runs and its verdict as soon as it is made; a restart takes saved verdicts back unchecked,
  checks again a submission whose check began fewer than :data:`MAX_CHECK_ATTEMPTS` times, and
  rejects one that stopped the aggregator that often (``intake-error``) instead of crashing again.
* **No key for a shared digest.** The evidence key of a submission whose on-chain digest another
  slot also submitted is dropped (:func:`withhold_shared_digests`).

A :class:`~market.storage.StorageUnavailable` from any read stops the round (the service
retries it; the verdicts saved so far stay).
"""

from __future__ import annotations

import contextvars
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from aggregator.intake import INTAKE_ERROR, IntakeResult, check_fetched, read_envelope, reloader
from market.failpoints import failpoint
from market.storage import Storage
from market.tracing import span

__all__ = ["DEFAULT_FETCH_WORKERS", "MAX_CHECK_ATTEMPTS", "IntakeJournal", "intake_round", "withhold_shared_digests"]

DEFAULT_FETCH_WORKERS = 8
"""Submissions :func:`intake_round` fetches at once (each waits at most the storage's deadline)."""
MAX_CHECK_ATTEMPTS = 2
"""Checks of one submission begun without finishing (the aggregator stopped in them) before a
restart rejects it as ``intake-error`` instead of checking it again: a restart after a kill
unrelated to the submission gives the same round; a submission that kills the checker costs one
more restart, never the round's deadline."""


class IntakeJournal(Protocol):
    """Where :func:`intake_round` saves its progress, one submission at a time
    (:class:`aggregator.state.IntakeProgress` keeps it in the node's state folder).
    Each call names the submission by slot, CID and on-chain digest."""

    def restored(self, slot: int, cid: str, digest: bytes) -> IntakeResult | None:
        """The verdict saved for this submission, or None."""

    def attempts(self, slot: int, cid: str, digest: bytes) -> int:
        """How many checks of it began and never finished."""

    def begin(self, slot: int, cid: str, digest: bytes) -> None:
        """A check of it begins (saved before the check runs)."""

    def finish(self, result: IntakeResult, cid: str, digest: bytes) -> None:
        """Its verdict (saved before the next check begins)."""


def intake_round(storage: Storage, submissions: Iterable[tuple[int, str, Any] | None], *, stream: bool,
                 workers: int = DEFAULT_FETCH_WORKERS, journal: IntakeJournal | None = None,
                 **checks: Any) -> list[IntakeResult | None]:
    """:func:`~aggregator.intake.fetch_and_check` on each submitted slot, results in slot order; ``submissions``
    yields, per slot, None (no submission) or ``(slot, trainer, submission)`` with the chain's
    ``update_cid``, ``update_digest`` and ``sketch_commitment``. With ``stream`` each accepted
    result releases its tensors at once (memory O(d) for the round; FedAvg reads them again).

    Up to ``workers`` fetches run at once, in threads, ahead of the checks (which run here, in
    slot order, so at most ``workers`` envelopes are held besides the one being checked). With a
    ``journal`` saved verdicts are taken back unchecked and each new one is saved as it is made.
    A StorageUnavailable stops the round (the service retries it; saved verdicts stay)."""
    entries = list(submissions)
    results: list[IntakeResult | None] = [None] * len(entries)
    pending: list[tuple[int, dict[str, Any]]] = []
    for index, entry in enumerate(entries):
        if entry is None:
            continue
        slot, trainer, sub = entry
        slot_checks = dict(checks, slot=slot, trainer=trainer, digest=sub.update_digest,
                           commitment=sub.sketch_commitment)
        restored = _restore(storage, sub, slot_checks, journal)
        if restored is not None:
            results[index] = restored
        else:
            pending.append((index, slot_checks))
    for index, result in _check_in_order(storage, entries, pending, workers=workers, journal=journal):
        if stream:
            result.release()
        results[index] = result
    return withhold_shared_digests(entries, results)


def _restore(storage: Storage, sub: Any, checks: dict[str, Any], journal: IntakeJournal | None) -> IntakeResult | None:
    """The saved verdict of a submission, or a rejection when its checks kept stopping the node."""
    if journal is None:
        return None
    slot, cid, digest = checks["slot"], sub.update_cid, sub.update_digest
    result = journal.restored(slot, cid, digest)
    if result is None and journal.attempts(slot, cid, digest) >= MAX_CHECK_ATTEMPTS:
        result = IntakeResult(slot=slot, trainer=checks["trainer"], reason=INTAKE_ERROR,
                              detail=f"checking this submission stopped the aggregator {MAX_CHECK_ATTEMPTS} times; "
                                     "not checked again")
        journal.finish(result, cid, digest)
    if result is not None and result.accepted:
        result.tensors, result.reload = None, reloader(storage, cid, checks)
    return result


def _check_in_order(storage: Storage, entries: list, pending: list[tuple[int, dict[str, Any]]], *, workers: int,
                    journal: IntakeJournal | None) -> Iterator[tuple[int, IntakeResult]]:
    """Fetch ``pending`` submissions in a sliding window of ``workers`` threads (each in a copy
    of this context, so tracing follows) and check them here, in order."""
    if not pending:
        return
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(pending))), thread_name_prefix="intake-fetch")
    futures: dict[int, Future] = {}

    def submit(position: int) -> None:
        if position < len(pending):
            index, slot_checks = pending[position]
            cid = entries[index][2].update_cid
            futures[position] = pool.submit(contextvars.copy_context().run, read_envelope, storage, cid,
                                            slot_checks["max_bytes"])

    try:
        for position in range(max(1, workers)):
            submit(position)
        for position, (index, slot_checks) in enumerate(pending):
            fetched = futures.pop(position).result()
            submit(position + max(1, workers))
            cid = entries[index][2].update_cid
            if journal is not None:
                journal.begin(slot_checks["slot"], cid, slot_checks["digest"])
            with span("intake.fetch_and_check"):
                result = check_fetched(storage, cid, fetched, slot_checks)
            if journal is not None:
                journal.finish(result, cid, slot_checks["digest"])
                failpoint("aggregator.intake")  # crash tests: killed between two verdicts
            yield index, result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def withhold_shared_digests(entries: list[tuple[int, str, Any] | None],
                            results: list[IntakeResult | None]) -> list[IntakeResult | None]:
    """Drop the evidence key of every submission whose on-chain digest another slot of the round
    also submitted (the same envelope under two slots: a key revealed for one would be about the
    other's bytes), and say so in its detail. Returns ``results``."""
    digests = Counter(bytes(entry[2].update_digest) for entry in entries if entry is not None)
    for entry, result in zip(entries, results):
        if entry is None or result is None or digests[bytes(entry[2].update_digest)] < 2:
            continue
        if result.evidence_key is not None:
            result.evidence_key = None
            result.detail = f"{result.detail} (evidence withheld: another slot submitted the same digest)".strip()
    return results

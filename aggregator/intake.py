"""Intake: turn one on-chain submission into an accepted update or a rejection with its reason.

DESIGN.md, a round, step 5. For each submission the aggregator fetches the stored bytes, checks
their keccak256 against the digest on chain, decrypts them with its key, validates the package
against the task spec (size, names, dtypes, shapes, finite values, norm bound, and that it names
this task, round and trainer), recomputes the sketch from the full update and the round's seed,
and checks ``Poseidon(sketch, salt)`` against the commitment the trainer stored. The first
failure decides the reason. The envelope's evidence key is kept for every rejection that got
as far as decryption, so anyone can open that one submission and check the rejection.

A pure function (:func:`check_submission`) over bytes and chain values, so the service, the
audit and the benchmarks share it; :func:`fetch_and_check` adds the storage fetch. Its stages
are public so the audit replays them with the evidence key revealed on chain instead of the
aggregator's private key: :func:`check_digest`, :func:`open_envelope` (digest, decryption,
package checks) and :func:`check_sketch`, each raising :class:`Refusal` with a
:class:`RejectionReason` (or the update package's own code).

Memory: an accepted result holds its update's tensors (O(d)). A round of n submissions whose
updates would not fit the aggregator's memory budget is taken in *streaming* mode
(:func:`intake_round` with ``stream=True``): each accepted result drops its tensors right after
its checks (:meth:`IntakeResult.release`) and reads them again, one at a time, when FedAvg needs
them (:meth:`IntakeResult.load_tensors`: fetch, digest, decrypt, package checks again), so the
round holds O(d) instead of O(n·d), for one more fetch and decryption per accepted update.

Intake cannot crash on a submission: every exception a submission causes becomes a rejection
(an unexpected one ``intake-error``, its type in the detail), reads are bounded by the package
limit plus the envelope's overhead (over it: ``too-large``), and only a storage node that does not
answer (:class:`~market.storage.StorageUnavailable`) propagates, for the service to retry.
A round's intake (:func:`intake_round`, in :mod:`aggregator.round_intake`) fetches the
submissions in parallel, checks them in slot order and saves each verdict as it is made.

Envelopes are bound to their slot (:class:`market.encryption.EnvelopeContext`: chain id,
contract, task, round, trainer), so a copy of another slot's envelope is ``undecryptable`` and
no key of it is derived; nor is one for bytes that miss their own on-chain digest
(``wrong-digest`` is decided before any key is derived); and a round keeps no evidence key for
an envelope whose digest another slot also submitted
(:func:`aggregator.round_intake.withhold_shared_digests`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from aggregator.exceptions import UpdateReloadError
from market.encryption import (
    OVERHEAD,
    EncryptionError,
    EnvelopeContext,
    decrypt_with_evidence_key,
    envelope_digest,
    evidence_key,
)
from market.storage import ContentFault, Storage, StorageUnavailable, TooLarge
from market.tracing import traced
from market.update_package import (
    PackageTooLarge,
    UpdateMetadata,
    UpdatePackage,
    UpdatePackageError,
    load_update_package,
)
from zk.protocol.commitment import sketch_commitment
from zk.protocol.sketch import SketchParams, sketch_update

__all__ = [
    "INTAKE_ERROR",
    "NO_COMMITMENT",
    "SKETCH_MISMATCH",
    "TOO_LARGE",
    "UNAVAILABLE",
    "UNDECRYPTABLE",
    "WRONG_DIGEST",
    "IntakeResult",
    "Refusal",
    "RejectionReason",
    "check_digest",
    "check_sketch",
    "check_fetched",
    "check_submission",
    "envelope_bound",
    "fetch_and_check",
    "intake_round",
    "open_envelope",
    "read_envelope",
    "reloader",
    "slot_context",
    "update_bytes",
]


class RejectionReason(StrEnum):
    """Intake's rejection reasons besides the update package's own codes (``too-large``,
    ``wrong-shape``…, :class:`market.update_package.UpdatePackageError`'s ``reason``)."""

    UNAVAILABLE = "unavailable"
    """The stored bytes are missing or do not match their CID."""
    WRONG_DIGEST = "wrong-digest"
    """The stored bytes do not hash to the digest on chain."""
    UNDECRYPTABLE = "undecryptable"
    """The envelope does not open."""
    NO_COMMITMENT = "no-sketch-commitment"
    """The trainer committed no sketch before the sketch deadline."""
    SKETCH_MISMATCH = "sketch-mismatch"
    """The committed sketch is not the sketch of the submitted update."""
    TOO_LARGE = PackageTooLarge.reason
    """The stored content is over the package limit plus the envelope's overhead (the package's
    own ``too-large``: the storage refused to read past the bound)."""
    INTAKE_ERROR = "intake-error"
    """Checking the submission raised an unexpected exception (its type in the detail), or
    stopped the aggregator :data:`aggregator.round_intake.MAX_CHECK_ATTEMPTS` times."""


UNAVAILABLE = RejectionReason.UNAVAILABLE
TOO_LARGE = RejectionReason.TOO_LARGE
INTAKE_ERROR = RejectionReason.INTAKE_ERROR
WRONG_DIGEST = RejectionReason.WRONG_DIGEST
UNDECRYPTABLE = RejectionReason.UNDECRYPTABLE
NO_COMMITMENT = RejectionReason.NO_COMMITMENT
SKETCH_MISMATCH = RejectionReason.SKETCH_MISMATCH


@dataclass
class IntakeResult:
    """The verdict on one submission."""

    slot: int
    trainer: str
    reason: str | None = None
    """``None`` when accepted, else a stable short code."""
    detail: str = ""
    metadata: UpdateMetadata | None = None
    tensors: dict[str, np.ndarray] | None = field(default=None, repr=False)
    sketch: list[int] | None = None
    salt: int | None = None
    evidence_key: bytes | None = None
    reload: Callable[[], dict[str, np.ndarray]] | None = field(default=None, repr=False, compare=False)
    """Reads the tensors again after :meth:`release` (set by :func:`fetch_and_check`)."""

    @property
    def accepted(self) -> bool:
        return self.reason is None

    def load_tensors(self) -> dict[str, np.ndarray]:
        """The update's tensors: the ones kept, or, after :meth:`release`, read again from
        storage (not kept: the caller holds them only as long as it needs them)."""
        if self.tensors is not None:
            return self.tensors
        if self.reload is None:
            raise UpdateReloadError(f"slot {self.slot} ({self.trainer}) holds no tensors and cannot read them again")
        return self.reload()

    def release(self) -> None:
        """Drop the tensors when they can be read again (else keep them)."""
        if self.reload is not None:
            self.tensors = None

    @property
    def num_samples(self) -> int:
        return self.metadata.num_samples if self.metadata else 0


def check_submission(
    *,
    slot: int,
    trainer: str,
    envelope: bytes,
    digest: bytes,
    commitment: int,
    private_key: X25519PrivateKey,
    param_spec: Mapping[str, tuple],
    chain_id: int,
    contract: str,
    task_id: int,
    round_: int,
    seed: int,
    sketch_params: SketchParams,
    max_bytes: int,
    max_norm: float,
    max_num_samples: int | None = None,
) -> IntakeResult:
    """Check one submission's stored bytes against everything the chain and the spec say. Never
    raises for the submission's sake: an unexpected exception is an ``intake-error`` rejection."""
    result = IntakeResult(slot=slot, trainer=trainer)
    try:
        key, package = open_envelope(envelope, digest=digest, private_key=private_key, param_spec=param_spec,
                                     chain_id=chain_id, contract=contract, task_id=task_id, round_=round_,
                                     trainer=trainer, max_bytes=max_bytes, max_norm=max_norm,
                                     max_num_samples=max_num_samples)
        result.evidence_key = key
        result.metadata, result.tensors = package.metadata, package.tensors
        result.salt = int.from_bytes(package.metadata.salt, "big")
        result.sketch = check_sketch(package, commitment=commitment, seed=seed, sketch_params=sketch_params)
    except Refusal as refused:
        result.evidence_key = refused.evidence_key or result.evidence_key
        result.sketch = refused.sketch
        return _reject(result, refused.reason, refused.detail)
    except Exception as exc:  # noqa: BLE001 - no submission may stop the aggregator
        result.evidence_key = None  # the check did not finish: nothing it backs is revealed
        return _reject(result, INTAKE_ERROR, _describe(exc))
    result.evidence_key = None  # accepted: nothing to reveal
    return result


def envelope_bound(max_bytes: int) -> int:
    """The most bytes intake reads for one submission: the package limit plus the envelope's overhead."""
    return max_bytes + OVERHEAD


@traced("intake.fetch_and_check")
def fetch_and_check(storage: Storage, cid: str, **kwargs: Any) -> IntakeResult:
    """:func:`check_submission` on the bytes stored under ``cid``, read with the bound
    :func:`envelope_bound`. Content that is missing, does not match its CID, is no file or is
    over the bound is the trainer's fault (a rejection), and so is any other exception; a storage
    node that does not answer is not: its :class:`~market.storage.StorageUnavailable` propagates
    for a retry."""
    return check_fetched(storage, cid, read_envelope(storage, cid, kwargs["max_bytes"]), kwargs)


def _fetch(storage: Storage, cid: str, max_bytes: int) -> bytes:
    return storage.get(cid, max_bytes=envelope_bound(max_bytes))


def read_envelope(storage: Storage, cid: str, max_bytes: int) -> bytes | Exception:
    """The envelope under ``cid`` read with the bound :func:`envelope_bound` (``max_bytes``: the
    package limit), or the exception the read raised, for :func:`check_fetched` to judge; only
    :class:`~market.storage.StorageUnavailable` (the node does not answer) propagates."""
    try:
        return _fetch(storage, cid, max_bytes)
    except StorageUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - judged by check_fetched, never raised
        return exc


def check_fetched(storage: Storage, cid: str, fetched: bytes | Exception, checks: Mapping[str, Any]) -> IntakeResult:
    """The verdict on one submission from what :func:`read_envelope` gave (its bytes or the read's
    exception); ``checks``: :func:`check_submission`'s keywords but the envelope."""
    if isinstance(fetched, StorageUnavailable):
        raise fetched
    if isinstance(fetched, Exception):
        result = IntakeResult(slot=checks["slot"], trainer=checks["trainer"])
        if isinstance(fetched, TooLarge):
            return _reject(result, TOO_LARGE, str(fetched))
        if isinstance(fetched, ContentFault):  # missing, damaged, not a file, an invalid CID
            return _reject(result, UNAVAILABLE, str(fetched))
        return _reject(result, INTAKE_ERROR, _describe(fetched))
    result = check_submission(envelope=fetched, **checks)
    if result.accepted:
        result.reload = reloader(storage, cid, checks)
    return result


def _describe(exc: BaseException) -> str:
    """``Type: message`` of an unexpected exception, cut to one line of 300 characters."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


class Refusal(Exception):
    """An intake stage failed: the rejection reason, its detail, the evidence key when
    decryption got that far, and the recomputed sketch when it did not open the commitment."""

    def __init__(self, reason: str, detail: str, evidence_key: bytes | None = None,
                 sketch: list[int] | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.evidence_key, self.sketch = reason, detail, evidence_key, sketch


def check_digest(envelope: bytes, digest: bytes) -> None:
    """:class:`Refusal` (``wrong-digest``) unless the stored bytes hash to the digest on chain."""
    if envelope_digest(envelope) != digest:
        raise Refusal(WRONG_DIGEST, "the stored bytes do not hash to the digest on chain")


def slot_context(*, chain_id: int, contract: str, task_id: int, round_: int, trainer: str) -> EnvelopeContext:
    """The :class:`~market.encryption.EnvelopeContext` of one submission slot."""
    return EnvelopeContext(chain_id=chain_id, contract=contract, task_id=task_id, round=round_, trainer=trainer)


def open_envelope(envelope: bytes, *, digest: bytes, param_spec: Mapping[str, tuple], chain_id: int, contract: str,
                  task_id: int, round_: int, trainer: str, max_bytes: int, max_norm: float,
                  private_key: X25519PrivateKey | None = None, key: bytes | None = None,
                  max_num_samples: int | None = None, **_: Any) -> tuple[bytes, UpdatePackage]:
    """The digest, decryption and package checks of intake, in order: ``(evidence key, package)``,
    or :class:`Refusal` naming the first that fails. The envelope opens only under its slot's
    context (chain, contract, task, round, trainer). The aggregator opens with its
    ``private_key``; an auditor with the evidence ``key`` revealed on chain."""
    if (private_key is None) == (key is None):
        raise TypeError("open_envelope needs exactly one of private_key and key")
    check_digest(envelope, digest)
    context = slot_context(chain_id=chain_id, contract=contract, task_id=task_id, round_=round_, trainer=trainer)
    try:
        if key is None:
            key = evidence_key(envelope, private_key, context)
        plaintext = decrypt_with_evidence_key(envelope, key, context)
    except EncryptionError as exc:
        raise Refusal(UNDECRYPTABLE, str(exc)) from None
    try:
        package = load_update_package(
            plaintext, param_spec, max_bytes=max_bytes, max_norm=max_norm, max_num_samples=max_num_samples,
            expect={"task_id": task_id, "round": round_, "trainer": trainer},
        )
    except UpdatePackageError as exc:
        raise Refusal(exc.reason, exc.detail, key) from None
    return key, package


def check_sketch(package: UpdatePackage, *, commitment: int, seed: int, sketch_params: SketchParams) -> list[int]:
    """The update's sketch under the round's seed, checked against the trainer's on-chain
    commitment (Poseidon with the package's salt); :class:`Refusal` when there is no commitment
    or the sketch does not open it (the refusal carries the recomputed sketch)."""
    if commitment == 0:
        raise Refusal(NO_COMMITMENT, "the trainer committed no sketch before the sketch deadline")
    sketch = sketch_update(package.tensors, seed, sketch_params)
    if sketch_commitment(sketch, int.from_bytes(package.metadata.salt, "big")) != commitment:
        raise Refusal(SKETCH_MISMATCH, "the committed sketch is not the sketch of the submitted update",
                      sketch=sketch)
    return sketch


def reloader(storage: Storage, cid: str, checks: Mapping[str, Any]) -> Callable[[], dict[str, np.ndarray]]:
    """What an accepted result calls to read its tensors again (:attr:`IntakeResult.reload`)."""
    return functools.partial(_reload, storage, cid, dict(checks))


def _reload(storage: Storage, cid: str, checks: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """An accepted update's tensors, read again and put through the same checks as at intake."""
    try:
        envelope = _fetch(storage, cid, checks["max_bytes"])
    except ContentFault as exc:
        raise UpdateReloadError(f"slot {checks['slot']}: {cid} can no longer be read: {exc}") from None
    try:
        return open_envelope(envelope, **checks)[1].tensors
    except Refusal as refused:
        raise UpdateReloadError(f"slot {checks['slot']}: {cid} no longer passes intake: {refused}") from None


def update_bytes(param_spec: Mapping[str, tuple]) -> int:
    """Bytes of one update's tensors under ``param_spec`` (name -> (shape, dtype))."""
    total = 0
    for shape, dtype in param_spec.values():
        total += int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    return total


def intake_round(storage: Storage, submissions: Iterable[tuple[int, str, Any] | None], *, stream: bool,
                 **options: Any) -> list[IntakeResult | None]:
    """A round's intake: :func:`aggregator.round_intake.intake_round` (parallel fetches, checks
    in slot order, progress saved per submission), reachable here as before."""
    from aggregator.round_intake import intake_round as run_round

    return run_round(storage, submissions, stream=stream, **options)


def _reject(result: IntakeResult, reason: str, detail: str) -> IntakeResult:
    result.reason, result.detail = reason, detail
    result.tensors = None
    return result

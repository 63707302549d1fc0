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
from market.encryption import EncryptionError, decrypt_with_evidence_key, envelope_digest, evidence_key
from market.storage import BlockCorrupted, DagFormatError, InvalidCid, NotFound, Storage
from market.tracing import traced
from market.update_package import UpdateMetadata, UpdatePackage, UpdatePackageError, load_update_package
from zk.protocol.commitment import sketch_commitment
from zk.protocol.sketch import SketchParams, sketch_update

__all__ = [
    "NO_COMMITMENT",
    "SKETCH_MISMATCH",
    "UNAVAILABLE",
    "UNDECRYPTABLE",
    "WRONG_DIGEST",
    "IntakeResult",
    "Refusal",
    "RejectionReason",
    "check_digest",
    "check_sketch",
    "check_submission",
    "fetch_and_check",
    "intake_round",
    "open_envelope",
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


UNAVAILABLE = RejectionReason.UNAVAILABLE
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
    task_id: int,
    round_: int,
    seed: int,
    sketch_params: SketchParams,
    max_bytes: int,
    max_norm: float,
) -> IntakeResult:
    """Check one submission's stored bytes against everything the chain and the spec say."""
    result = IntakeResult(slot=slot, trainer=trainer)
    try:
        key, package = open_envelope(envelope, digest=digest, private_key=private_key, param_spec=param_spec,
                                     task_id=task_id, round_=round_, trainer=trainer, max_bytes=max_bytes,
                                     max_norm=max_norm)
    except Refusal as refused:
        result.evidence_key = refused.evidence_key
        return _reject(result, refused.reason, refused.detail)
    result.evidence_key = key
    result.metadata, result.tensors = package.metadata, package.tensors
    result.salt = int.from_bytes(package.metadata.salt, "big")
    try:
        result.sketch = check_sketch(package, commitment=commitment, seed=seed, sketch_params=sketch_params)
    except Refusal as refused:
        result.sketch = refused.sketch
        return _reject(result, refused.reason, refused.detail)
    result.evidence_key = None  # accepted: nothing to reveal
    return result


@traced("intake.fetch_and_check")
def fetch_and_check(storage: Storage, cid: str, **kwargs) -> IntakeResult:
    """:func:`check_submission` on the bytes stored under ``cid``. Content that is missing or
    does not match its CID is the trainer's fault (a rejection); a storage node that does not
    answer is not, and its :class:`~market.storage.StorageUnavailable` propagates for a retry."""
    try:
        envelope = storage.get(cid)
    except (NotFound, BlockCorrupted, DagFormatError, InvalidCid) as exc:
        return _reject(IntakeResult(slot=kwargs["slot"], trainer=kwargs["trainer"]), UNAVAILABLE, str(exc))
    result = check_submission(envelope=envelope, **kwargs)
    if result.accepted:
        result.reload = functools.partial(_reload, storage, cid, kwargs)
    return result


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


def open_envelope(envelope: bytes, *, digest: bytes, param_spec: Mapping[str, tuple], task_id: int, round_: int,
                  trainer: str, max_bytes: int, max_norm: float, private_key: X25519PrivateKey | None = None,
                  key: bytes | None = None, **_: Any) -> tuple[bytes, UpdatePackage]:
    """The digest, decryption and package checks of intake, in order: ``(evidence key, package)``,
    or :class:`Refusal` naming the first that fails. The aggregator opens with its
    ``private_key``; an auditor with the evidence ``key`` revealed on chain."""
    if (private_key is None) == (key is None):
        raise TypeError("open_envelope needs exactly one of private_key and key")
    check_digest(envelope, digest)
    try:
        if key is None:
            key = evidence_key(envelope, private_key)
        plaintext = decrypt_with_evidence_key(envelope, key)
    except EncryptionError as exc:
        raise Refusal(UNDECRYPTABLE, str(exc)) from None
    try:
        package = load_update_package(
            plaintext, param_spec, max_bytes=max_bytes, max_norm=max_norm,
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


def _reload(storage: Storage, cid: str, checks: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """An accepted update's tensors, read again and put through the same checks as at intake."""
    try:
        envelope = storage.get(cid)
    except (NotFound, BlockCorrupted, DagFormatError, InvalidCid) as exc:
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
                 **checks: Any) -> list[IntakeResult | None]:
    """:func:`fetch_and_check` on each submitted slot; ``submissions`` yields, per slot, None
    (no submission) or ``(slot, trainer, submission)`` with the chain's ``update_cid``,
    ``update_digest`` and ``sketch_commitment``. With ``stream`` each accepted result releases
    its tensors at once (memory O(d) for the round; FedAvg reads them again)."""
    results: list[IntakeResult | None] = []
    for entry in submissions:
        if entry is None:
            results.append(None)
            continue
        slot, trainer, sub = entry
        result = fetch_and_check(storage, sub.update_cid, slot=slot, trainer=trainer, digest=sub.update_digest,
                                 commitment=sub.sketch_commitment, **checks)
        if stream:
            result.release()
        results.append(result)
    return results


def _reject(result: IntakeResult, reason: str, detail: str) -> IntakeResult:
    result.reason, result.detail = reason, detail
    result.tensors = None
    return result

"""Intake: turn one on-chain submission into an accepted update or a rejection with its reason.

DESIGN.md, a round, step 5. For each submission the aggregator fetches the stored bytes, checks
their keccak256 against the digest on chain, decrypts them with its key, validates the package
against the task spec (size, names, dtypes, shapes, finite values, norm bound, and that it names
this task, round and trainer), recomputes the sketch from the full update and the round's seed,
and checks ``Poseidon(sketch, salt)`` against the commitment the trainer stored. The first
failure decides the reason. The envelope's evidence key is kept for every rejection that got
as far as decryption, so anyone can open that one submission and check the rejection.

A pure function (:func:`check_submission`) over bytes and chain values, so the service, the
audit and the benchmarks share it; :func:`fetch_and_check` adds the storage fetch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from market.encryption import EncryptionError, decrypt_with_evidence_key, envelope_digest, evidence_key
from market.storage import BlockCorrupted, DagFormatError, InvalidCid, NotFound, Storage
from market.update_package import UpdateMetadata, UpdatePackageError, load_update_package
from zk.commitment import sketch_commitment
from zk.sketch import SketchParams, sketch_update

# Rejection reasons besides the update package's own codes (``too-large``, ``wrong-shape``…).
UNAVAILABLE = "unavailable"
WRONG_DIGEST = "wrong-digest"
UNDECRYPTABLE = "undecryptable"
NO_COMMITMENT = "no-sketch-commitment"
SKETCH_MISMATCH = "sketch-mismatch"


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

    @property
    def accepted(self) -> bool:
        return self.reason is None

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
    if envelope_digest(envelope) != digest:
        return _reject(result, WRONG_DIGEST, "the stored bytes do not hash to the digest on chain")
    try:
        key = evidence_key(envelope, private_key)
        plaintext = decrypt_with_evidence_key(envelope, key)
    except EncryptionError as exc:
        return _reject(result, UNDECRYPTABLE, str(exc))
    result.evidence_key = key
    try:
        package = load_update_package(
            plaintext, param_spec, max_bytes=max_bytes, max_norm=max_norm,
            expect={"task_id": task_id, "round": round_, "trainer": trainer},
        )
    except UpdatePackageError as exc:
        return _reject(result, exc.reason, exc.detail)
    result.metadata, result.tensors = package.metadata, package.tensors
    result.salt = int.from_bytes(package.metadata.salt, "big")
    if commitment == 0:
        return _reject(result, NO_COMMITMENT, "the trainer committed no sketch before the sketch deadline")
    result.sketch = sketch_update(package.tensors, seed, sketch_params)
    if sketch_commitment(result.sketch, result.salt) != commitment:
        return _reject(result, SKETCH_MISMATCH, "the committed sketch is not the sketch of the submitted update")
    result.evidence_key = None  # accepted: nothing to reveal
    return result


def fetch_and_check(storage: Storage, cid: str, **kwargs) -> IntakeResult:
    """:func:`check_submission` on the bytes stored under ``cid``. Content that is missing or
    does not match its CID is the trainer's fault (a rejection); a storage node that does not
    answer is not, and its :class:`~market.storage.StorageUnavailable` propagates for a retry."""
    try:
        envelope = storage.get(cid)
    except (NotFound, BlockCorrupted, DagFormatError, InvalidCid) as exc:
        return _reject(IntakeResult(slot=kwargs["slot"], trainer=kwargs["trainer"]), UNAVAILABLE, str(exc))
    return check_submission(envelope=envelope, **kwargs)


def _reject(result: IntakeResult, reason: str, detail: str) -> IntakeResult:
    result.reason, result.detail = reason, detail
    result.tensors = None
    return result

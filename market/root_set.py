"""The owner's root set: the class-balanced sample that anchors the ``reference`` paid rule.

Bytes: an ``.npz`` archive (numpy, ``allow_pickle=False`` on both sides) with exactly two arrays,
``X`` (float32, ``(n, *input_shape)``) and ``y`` (int64, ``(n,)``). The task spec commits to the
bytes by SHA-256 (:attr:`market.task_spec.ReferenceSection.root_set_digest`); the owner stores them
encrypted to the aggregator (:func:`seal_root_set`) and reveals them after finalize, so that anyone
can check the digest and recompute every round's reference.

A root set must be **class-balanced**: exactly ``per_class`` samples of every class. A root set
with the owner's own skew drags every reference (and so every root-anchored score) towards the
owner's classes; the rule refuses it rather than measure a biased contribution.
No torch here: the aggregator trains on it through the trainers' recipe.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from market.encryption import ROOT_SET_CONTEXT, decrypt, encrypt_with_key
from market.exceptions import MarketValueError

__all__ = ["MAX_ROOT_SET_BYTES", "RootSet", "RootSetError", "open_root_set", "seal_root_set"]

MAX_ROOT_SET_BYTES = 64 << 20
"""Largest root set accepted (bytes of the archive), checked before parsing."""


class RootSetError(MarketValueError):
    """A root set is malformed, unbalanced, or not the one the task spec commits to."""


@dataclass(frozen=True)
class RootSet:
    """Inputs ``X`` and labels ``y`` of the owner's root set."""

    X: np.ndarray
    y: np.ndarray

    def to_bytes(self) -> bytes:
        """The canonical archive bytes (what the spec's digest is of)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, array in (("X", np.ascontiguousarray(self.X, dtype=np.float32)),
                                ("y", np.ascontiguousarray(self.y, dtype=np.int64))):
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                member = io.BytesIO()
                np.save(member, array, allow_pickle=False)
                archive.writestr(info, member.getvalue())
        return buffer.getvalue()

    def digest(self) -> str:
        """SHA-256 (hex) of :meth:`to_bytes`."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes, *, input_shape: Sequence[int], num_classes: int, per_class: int,
                   digest: str | None = None) -> RootSet:
        """Parse and check a root set: size bound first, then the archive, the shapes, the labels,
        the class balance and (given ``digest``) the spec's commitment; :class:`RootSetError`."""
        if len(data) > MAX_ROOT_SET_BYTES:
            raise RootSetError(f"the root set is {len(data)} bytes; the limit is {MAX_ROOT_SET_BYTES}")
        if digest is not None and hashlib.sha256(data).hexdigest() != digest:
            raise RootSetError("the root set's SHA-256 is not the digest the task spec commits to")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                if sorted(archive.files) != ["X", "y"]:
                    raise RootSetError(f"a root set holds arrays X and y; found {sorted(archive.files)}")
                X, y = archive["X"], archive["y"]
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise RootSetError(f"the root set is not an npz archive of X and y: {exc}") from None
        root = cls(np.asarray(X, dtype=np.float32), np.asarray(y))
        root.check(input_shape=input_shape, num_classes=num_classes, per_class=per_class)
        return cls(root.X, root.y.astype(np.int64))

    def check(self, *, input_shape: Sequence[int], num_classes: int, per_class: int) -> None:
        """Shapes, integer labels in range, exactly ``per_class`` samples of every class."""
        if tuple(self.X.shape[1:]) != tuple(input_shape) or self.X.ndim < 2:
            raise RootSetError(f"root set inputs are shaped {self.X.shape}; the task's input shape is {list(input_shape)}")
        if self.y.shape != (len(self.X),) or self.y.dtype.kind not in "iu":
            raise RootSetError(f"root set labels must be {len(self.X)} integers; got {self.y.dtype} {self.y.shape}")
        if not np.isfinite(self.X).all():
            raise RootSetError("root set inputs must be finite")
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= num_classes):
            raise RootSetError(f"root set labels must lie in [0, {num_classes})")
        counts = np.bincount(self.y.astype(np.int64), minlength=num_classes)
        if not np.all(counts == per_class):
            raise RootSetError(f"the root set is not class-balanced: {per_class} of each of {num_classes} classes "
                               f"required, found {counts.tolist()}")

    @classmethod
    def balanced_sample(cls, X: np.ndarray, y: np.ndarray, *, per_class: int, num_classes: int,
                        seed: int = 0) -> RootSet:
        """``per_class`` samples of each class drawn from ``(X, y)`` (an owner's validation data)."""
        rng = np.random.default_rng(seed)
        picks = []
        for c in range(num_classes):
            members = np.flatnonzero(np.asarray(y) == c)
            if len(members) < per_class:
                raise RootSetError(f"class {c} has {len(members)} samples; the root set needs {per_class} of each")
            picks.append(np.sort(rng.choice(members, size=per_class, replace=False)))
        index = np.concatenate(picks)
        return cls(np.asarray(X, dtype=np.float32)[index], np.asarray(y, dtype=np.int64)[index])


def seal_root_set(root: RootSet, aggregator_public_key: bytes) -> tuple[bytes, bytes, str]:
    """Encrypt the root set to the aggregator: ``(envelope, envelope key, digest)``. The owner keeps
    the key to reveal the set later; the spec names the envelope's CID and the digest."""
    envelope, key = encrypt_with_key(root.to_bytes(), aggregator_public_key, ROOT_SET_CONTEXT)
    return envelope, key, root.digest()


def open_root_set(envelope: bytes, private_key, *, input_shape: Sequence[int], num_classes: int, per_class: int,
                  digest: str) -> RootSet:
    """The aggregator's side of :func:`seal_root_set`, checked against the spec's digest."""
    if len(envelope) > MAX_ROOT_SET_BYTES + 4096:
        raise RootSetError(f"the root set envelope is {len(envelope)} bytes; the limit is {MAX_ROOT_SET_BYTES}")
    try:
        data = decrypt(envelope, private_key, ROOT_SET_CONTEXT)
    except Exception as exc:  # a wrong key, a corrupted envelope: the spec's root set cannot be read
        raise RootSetError(f"the root set envelope does not open with the aggregator's key: {exc}") from None
    return RootSet.from_bytes(data, input_shape=input_shape, num_classes=num_classes, per_class=per_class,
                              digest=digest)

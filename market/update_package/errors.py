"""Exceptions of :mod:`market.update_package`: one root, :class:`UpdatePackageError`, one class
per way a package fails, each with its stable :attr:`~UpdatePackageError.reason` code."""

from __future__ import annotations

from collections.abc import Collection

from market.exceptions import MarketValueError

__all__ = [
    "HeaderTooDeep",
    "InvalidMetadata",
    "MetadataMismatch",
    "NonFiniteValues",
    "PackageMalformed",
    "PackageTooLarge",
    "TooManySamples",
    "UpdateNormTooLarge",
    "UpdatePackageError",
    "WrongDtype",
    "WrongShape",
    "WrongTensorNames",
]


class UpdatePackageError(MarketValueError):
    """An update package is unacceptable; :attr:`reason` is a stable short code."""

    reason = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(f"update package rejected ({self.reason}): {message}")
        self.detail = message


class PackageTooLarge(UpdatePackageError):
    """The package is larger than the limit."""

    reason = "too-large"


class PackageMalformed(UpdatePackageError):
    """The bytes are not a well-formed safetensors file."""

    reason = "malformed"


class InvalidMetadata(PackageMalformed):
    """The ``__metadata__`` map lacks a field or holds an invalid value."""

    reason = "bad-metadata"


class HeaderTooDeep(PackageMalformed):
    """The header JSON nests arrays or objects deeper than a safetensors header does."""

    reason = "malformed-header"


class TooManySamples(InvalidMetadata):
    """``num_samples`` is over the cap (the protocol's or the task spec's)."""

    reason = "too-many-samples"


class MetadataMismatch(UpdatePackageError):
    """The metadata is valid but names another task, round, trainer or model spec."""

    reason = "metadata-mismatch"


class WrongTensorNames(UpdatePackageError):
    """The tensor names are not exactly the model spec's parameter names."""

    reason = "wrong-names"

    def __init__(self, missing: Collection[str], unexpected: Collection[str]) -> None:
        self.missing, self.unexpected = sorted(missing), sorted(unexpected)
        super().__init__(f"missing {self.missing or 'none'}, unexpected {self.unexpected or 'none'}")


class WrongDtype(UpdatePackageError):
    """A tensor's dtype is not the spec's."""

    reason = "wrong-dtype"


class WrongShape(UpdatePackageError):
    """A tensor's shape is not the spec's."""

    reason = "wrong-shape"


class NonFiniteValues(UpdatePackageError):
    """A tensor holds NaN or infinite values."""

    reason = "non-finite"


class UpdateNormTooLarge(UpdatePackageError):
    """The update's global L2 norm exceeds the task's bound."""

    reason = "norm-too-large"

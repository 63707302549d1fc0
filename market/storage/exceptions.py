"""Exceptions of :mod:`market.storage`.

One root, :class:`StorageError` (a :class:`~market.exceptions.MarketError`, so the CLI prints
it as one line). Wrappers also inherit the matching builtin, as in :mod:`market.exceptions`.
"""

from __future__ import annotations

from market.exceptions import MarketError, MarketValueError


class StorageError(MarketError):
    """Storing or fetching content failed."""

    exit_code = 7


class InvalidCid(StorageError, MarketValueError):
    """A string is not a CID this store can use."""


class NotFound(StorageError, LookupError):
    """The store does not hold the requested content (or one of its blocks)."""

    def __init__(self, cid: str, message: str | None = None) -> None:
        super().__init__(message or f"content {cid} is not in the store")
        self.cid = cid


class BlockCorrupted(StorageError):
    """A block (or a whole blob) does not hash to the CID it was asked for: the store's copy
    was altered, the node lied, or the bytes were damaged on the way."""

    def __init__(self, cid: str, message: str | None = None) -> None:
        super().__init__(message or f"block {cid} does not match its CID (corrupted or tampered)")
        self.cid = cid


class DagFormatError(StorageError, MarketValueError):
    """A block decodes, but not as a UnixFS file node this store understands (e.g. a
    directory, a HAMT shard, an unknown codec or inconsistent block sizes)."""


class CarFormatError(StorageError, MarketValueError):
    """A CAR file is truncated or malformed, or is not CAR version 1."""


class StorageUnavailable(StorageError, ConnectionError):
    """The storage backend cannot be reached (no IPFS node at the API URL, or it keeps
    timing out after the retries)."""

    exit_code = 8


class NodeApiError(StorageError):
    """The IPFS node answered a request with an error (its own message is included)."""

    def __init__(self, endpoint: str, status: int, message: str) -> None:
        super().__init__(f"IPFS node refused {endpoint} (HTTP {status}): {message}")
        self.endpoint = endpoint
        self.status = status
        self.node_message = message


__all__ = [
    "BlockCorrupted",
    "CarFormatError",
    "DagFormatError",
    "InvalidCid",
    "NodeApiError",
    "NotFound",
    "StorageError",
    "StorageUnavailable",
]

"""Exceptions of :mod:`market.storage`.

One root, :class:`StorageError` (a :class:`~market.exceptions.MarketError`, so the CLI prints
it as one line). Wrappers also inherit the matching builtin, as in :mod:`market.exceptions`.
"""

from __future__ import annotations

from market.exceptions import MarketError, MarketValueError


class StorageError(MarketError):
    """Storing or fetching content failed."""

    exit_code = 7


class ContentFault(StorageError):
    """The content a CID names is at fault, not the store: it is missing, damaged, not a
    UnixFS file, over the size limit, or the CID itself is invalid. Whoever chose the CID
    (e.g. a trainer submitting an update) answers for it; retrying does not help. Apart from
    :class:`StorageUnavailable` (the node is down: nobody's content is at fault, retry)."""


class InvalidCid(ContentFault, MarketValueError):
    """A string is not a CID this store can use."""


class NotFound(ContentFault, LookupError):
    """The store does not hold the requested content (or one of its blocks)."""

    def __init__(self, cid: str, message: str | None = None) -> None:
        super().__init__(message or f"content {cid} is not in the store")
        self.cid = cid


class BlockCorrupted(ContentFault):
    """A block (or a whole blob) does not hash to the CID it was asked for: the store's copy
    was altered, the node lied, or the bytes were damaged on the way."""

    def __init__(self, cid: str, message: str | None = None) -> None:
        super().__init__(message or f"block {cid} does not match its CID (corrupted or tampered)")
        self.cid = cid


class DagFormatError(ContentFault, MarketValueError):
    """A block decodes, but not as a UnixFS file node this store understands (e.g. a
    directory, a HAMT shard, an unknown codec or inconsistent block sizes)."""


class TooLarge(ContentFault, MarketValueError):
    """The content is larger than the reader's byte limit: its root declares more, or the
    stream went past the limit (a root that understates its size)."""

    def __init__(self, cid: str, limit: int, declared: int | None, message: str | None = None) -> None:
        declared_text = "an unknown size" if declared is None else f"{declared:,} bytes"
        super().__init__(message or f"content {cid} is over the limit of {limit:,} bytes "
                                    f"(its root declares {declared_text})")
        self.cid, self.limit, self.declared = cid, limit, declared


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
    "ContentFault",
    "DagFormatError",
    "InvalidCid",
    "NodeApiError",
    "NotFound",
    "StorageError",
    "StorageUnavailable",
    "TooLarge",
]

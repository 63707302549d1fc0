"""Content-addressed storage (IPFS) for task specs, models, encrypted updates, transcripts.

Two backends behind :class:`Storage`, chosen by :class:`~market.config.MarketConfig`:

* ``embedded`` (default): :class:`EmbeddedStorage`, a block store in ``config.blocks_dir``;
* ``kubo``: :class:`KuboStorage`, an IPFS node's HTTP RPC API at ``config.ipfs_api``.

Both give the CIDs ``ipfs add --cid-version=1`` gives, and both check what they read.
Reads take a ``max_bytes`` limit (:class:`TooLarge` beyond it, the root's declared size checked
first). :class:`ContentFault` is the family of errors that blame the content (missing, damaged,
not a file, too large, not a CID); :class:`StorageUnavailable` blames the node (retry).
"""

from __future__ import annotations

from market.config import MarketConfig
from market.exceptions import ConfigError
from market.storage.base import Storage
from market.storage.embedded import EmbeddedStorage
from market.storage.exceptions import (
    BlockCorrupted,
    CarFormatError,
    ContentFault,
    DagFormatError,
    InvalidCid,
    NodeApiError,
    NotFound,
    StorageError,
    StorageUnavailable,
    TooLarge,
)
from market.storage.kubo import KuboStorage
from market.storage.unixfs import compute_cid

BACKENDS = ("embedded", "kubo")
"""Names accepted for ``MarketConfig.storage``."""


def open_storage(config: MarketConfig | None = None) -> Storage:
    """The storage backend the configuration names (``MarketConfig()`` if none given)."""
    config = config or MarketConfig()
    backend = config.storage.strip().lower()
    if backend == "embedded":
        return EmbeddedStorage(config.blocks_dir)
    if backend == "kubo":
        return KuboStorage(config.ipfs_api)
    raise ConfigError(f"unknown storage backend {config.storage!r}: use one of {', '.join(BACKENDS)} (MARKET_STORAGE)")


__all__ = [
    "BACKENDS",
    "BlockCorrupted",
    "CarFormatError",
    "ContentFault",
    "DagFormatError",
    "EmbeddedStorage",
    "InvalidCid",
    "KuboStorage",
    "NodeApiError",
    "NotFound",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "TooLarge",
    "compute_cid",
    "open_storage",
]

"""Reading a UnixFS file back from its blocks, within a byte limit.

The blocks come from anyone (a trainer names the CID of its update), so the reader trusts no
size a node declares and bounds every kind of work:

* **declared size first**: :func:`declared_size` reads the root block alone (``raw``: its
  length; ``dag-pb``: the UnixFS ``filesize`` and ``blocksizes``) and a root over the limit is
  refused before any content is read (:class:`~market.storage.exceptions.TooLarge`). A DAG
  bomb, a few hundred kB of blocks whose root claims terabytes by linking one leaf millions of
  times, costs one block read;
* **the stream is cut at the limit anyway** (a root that understates its size), and a child
  that holds more than its parent's ``blocksizes`` entry stops the read as soon as it does;
* **blocks per byte are bounded** (:func:`block_budget`): a DAG of many tiny or empty
  children would otherwise cost CPU without ever reaching the byte limit;
* **anything but a UnixFS file** (a directory, a HAMT shard, a symlink, a ``dag-cbor`` or other
  codec) is a :class:`~market.storage.exceptions.DagFormatError`, never a transport error.

What the reader holds at once is one block (at most a chunk, 256 KiB in kubo's layout).
"""

from __future__ import annotations

from collections.abc import Iterator

from multiformats import CID

from market.storage.exceptions import DagFormatError, TooLarge
from market.storage.unixfs import (
    DAG_PB,
    RAW,
    UNIXFS_FILE,
    UNIXFS_RAW,
    BlockLoader,
    UnixFSData,
    cid_to_str,
    decode_dag_pb,
    decode_unixfs,
)

MAX_DEPTH = 64
"""Deepest DAG read (kubo's balanced layout of a 1 TB file is 4 levels deep)."""
MAX_NODE_BLOCK = 2 << 20
"""Largest dag-pb node accepted as a file's root (kubo refuses blocks over 2 MiB)."""
MIN_BYTES_PER_BLOCK = 1 << 16
"""Average file bytes per block below which a bounded read gives up: a quarter of kubo's (and
js-ipfs's) 256 KiB chunks, so any usual layout reads, and a DAG of tiny blocks costs at most
about one block per 64 KiB of the limit (each block read costs ~1 ms: hash, decode, file)."""

__all__ = [
    "MAX_DEPTH",
    "MAX_NODE_BLOCK",
    "MIN_BYTES_PER_BLOCK",
    "block_budget",
    "check_declared_size",
    "declared_size",
    "iter_dag_blocks",
    "iter_file_content",
]


def _unixfs_file(cid: CID, block: bytes) -> tuple[tuple[CID, ...], UnixFSData]:
    """The links and UnixFS message of a dag-pb file node; DagFormatError for anything else."""
    node = decode_dag_pb(block)
    if node.data is None:
        raise DagFormatError(f"{cid_to_str(cid)} is a dag-pb node without UnixFS data")
    unixfs = decode_unixfs(node.data)
    if unixfs.type not in (UNIXFS_FILE, UNIXFS_RAW):
        raise DagFormatError(f"{cid_to_str(cid)} is UnixFS type {unixfs.type}, not a file (a directory?)")
    if node.links and len(unixfs.blocksizes) != len(node.links):
        raise DagFormatError(f"{cid_to_str(cid)} has {len(node.links)} links but {len(unixfs.blocksizes)} block sizes")
    return tuple(link.cid for link in node.links), unixfs


def declared_size(cid: CID, block: bytes) -> int:
    """The file size that the root block of ``cid`` declares (``block`` already checked
    against ``cid``): a raw leaf's length, or the larger of a dag-pb node's ``filesize`` and
    its own data plus ``blocksizes``. DagFormatError if ``cid`` is not a UnixFS file."""
    if cid.codec.code == RAW:
        return len(block)
    if cid.codec.code != DAG_PB:
        raise DagFormatError(f"{cid_to_str(cid)} has codec {cid.codec.name}, not a UnixFS file")
    _links, unixfs = _unixfs_file(cid, block)
    return max(unixfs.filesize or 0, len(unixfs.data) + sum(unixfs.blocksizes))


def check_declared_size(cid: CID, block: bytes, max_bytes: int | None) -> int:
    """:func:`declared_size`, raising :class:`TooLarge` when it is over ``max_bytes``."""
    size = declared_size(cid, block)
    if max_bytes is not None and size > max_bytes:
        raise TooLarge(cid_to_str(cid), max_bytes, size)
    return size


def block_budget(max_bytes: int | None) -> int | None:
    """Most blocks a read of at most ``max_bytes`` visits (None: no limit)."""
    return None if max_bytes is None else MAX_DEPTH + max_bytes // MIN_BYTES_PER_BLOCK


class _Budget:
    """Counts what a read has produced and visited; raises when it goes past its limits."""

    def __init__(self, root: CID, max_bytes: int | None, declared: int) -> None:
        self.root, self.max_bytes, self.declared = root, max_bytes, declared
        self.max_blocks = block_budget(max_bytes)
        self.bytes = self.blocks = 0

    def visit(self) -> None:
        self.blocks += 1
        if self.max_blocks is not None and self.blocks > self.max_blocks:
            raise DagFormatError(f"{cid_to_str(self.root)}: more than {self.max_blocks:,} blocks for at most "
                                 f"{self.max_bytes:,} bytes (a DAG of tiny blocks)")

    def take(self, piece: bytes) -> bytes:
        self.bytes += len(piece)
        if self.max_bytes is not None and self.bytes > self.max_bytes:
            raise TooLarge(cid_to_str(self.root), self.max_bytes, self.declared,
                           f"content {cid_to_str(self.root)} goes past the limit of {self.max_bytes:,} bytes "
                           f"(its root declares {self.declared:,} bytes)")
        return piece


def iter_file_content(root: CID, load_block: BlockLoader, *, max_bytes: int | None = None) -> Iterator[bytes]:
    """The bytes of the UnixFS file under ``root``, in order, one block's worth at a time.

    The root's declared size is checked against ``max_bytes`` before any content is read;
    on the way the structure is checked too (node types, each child against its
    ``blocksizes`` entry, ``filesize`` against the total) and the read stops at the limit.
    ``load_block`` returns a block already checked against its CID.
    """
    block = load_block(root)
    budget = _Budget(root, max_bytes, check_declared_size(root, block, max_bytes))
    yield from _file_content(root, block, load_block, 0, budget)


def _file_content(cid: CID, block: bytes, load_block: BlockLoader, depth: int, budget: _Budget) -> Iterator[bytes]:
    if depth > MAX_DEPTH:
        raise DagFormatError(f"DAG deeper than {MAX_DEPTH} levels")
    budget.visit()
    if cid.codec.code == RAW:
        yield budget.take(block)
        return
    if cid.codec.code != DAG_PB:
        raise DagFormatError(f"{cid_to_str(cid)} has codec {cid.codec.name}, not a UnixFS file")
    links, unixfs = _unixfs_file(cid, block)
    total = len(unixfs.data)
    if unixfs.data:
        yield budget.take(unixfs.data)
    for child, expected in zip(links, unixfs.blocksizes, strict=False):
        if expected == 0:
            raise DagFormatError(f"{cid_to_str(cid)} links an empty child {cid_to_str(child)}")
        got = 0
        for piece in _file_content(child, load_block(child), load_block, depth + 1, budget):
            got += len(piece)
            if got > expected:
                raise DagFormatError(f"child {cid_to_str(child)} holds over {expected} bytes, its parent's size")
            yield piece
        if got != expected:
            raise DagFormatError(f"child {cid_to_str(child)} holds {got} bytes, its parent says {expected}")
        total += got
    if unixfs.filesize is not None and unixfs.filesize != total:
        raise DagFormatError(f"{cid_to_str(cid)} holds {total} bytes, its filesize says {unixfs.filesize}")


def iter_dag_blocks(root: CID, load_block: BlockLoader) -> Iterator[tuple[CID, bytes]]:
    """Every distinct block of the DAG under ``root``, depth first, parents before children,
    each once (the order of ``ipfs dag export``; a leaf linked a million times is visited
    once). Only ``raw`` and ``dag-pb`` blocks are followed."""
    stack, seen = [(root, 0)], set()
    while stack:
        cid, depth = stack.pop()
        if cid in seen:
            continue
        if depth > MAX_DEPTH:
            raise DagFormatError(f"DAG under {cid_to_str(root)} is deeper than {MAX_DEPTH}")
        seen.add(cid)
        block = load_block(cid)
        yield cid, block
        if cid.codec.code == DAG_PB:
            links = decode_dag_pb(block).links
            stack.extend((link.cid, depth + 1) for link in reversed(links))
        elif cid.codec.code != RAW:
            raise DagFormatError(f"block {cid_to_str(cid)} has codec {cid.codec.name}, not raw or dag-pb")

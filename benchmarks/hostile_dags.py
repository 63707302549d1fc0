"""UnixFS DAGs built to hurt a reader, from the store's own codecs (issue 12, finding 2).

Each builder returns a :class:`HostileDag`: the root CID and every block, ready for a block
store (:meth:`HostileDag.put_into` on the embedded store) or for an IPFS node (:meth:`HostileDag.car`,
then ``dag/import``). Used by the storage tests and the intake fuzz (:mod:`benchmarks.intake_fuzz`).

* :func:`dag_bomb`: the review's 289 kB DAG whose root declares 1.38 TB (one 256 KiB leaf
  linked 174 times, that node 174 times, and once more);
* :func:`lying_root`: a root that declares a few bytes over a child that holds many more;
* :func:`directory`: a UnixFS directory holding one small file;
* :func:`dag_cbor_block`: a dag-cbor block (``ipfs cat`` of it answers dag-json on js-ipfs);
* :func:`tiny_blocks`: a file of one-byte leaves (many blocks per byte);
* :func:`empty_children`: dag-pb nodes whose children hold nothing, nested (work without bytes).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import dag_cbor
from multiformats import CID, multihash, varint

from market.storage.car import write_car
from market.storage.embedded import EmbeddedStorage
from market.storage.unixfs import (
    CHUNK_SIZE,
    DAG_PB,
    MAX_LINKS,
    RAW,
    UNIXFS_DIRECTORY,
    block_cid,
    build_file_dag,
    encode_dag_pb,
    encode_unixfs_file,
)

__all__ = ["HostileDag", "dag_bomb", "dag_cbor_block", "directory", "empty_children", "lying_root", "tiny_blocks"]

DAG_CBOR = 0x71


@dataclass(frozen=True)
class HostileDag:
    """A root and its blocks (parents after children, each once); ``declared`` is the file
    size the root claims (None when it is no file)."""

    root: CID
    blocks: tuple[tuple[CID, bytes], ...]
    declared: int | None

    @property
    def stored_bytes(self) -> int:
        return sum(len(block) for _, block in self.blocks)

    def car(self) -> bytes:
        """A CAR v1 file of the blocks (root first, as ``ipfs dag import`` expects nothing else)."""
        sink = io.BytesIO()
        write_car(sink, [self.root], reversed(self.blocks))
        return sink.getvalue()

    def put_into(self, store: EmbeddedStorage) -> str:
        """Store every block (no pin: a pin would walk the DAG); return the root as text."""
        for cid, block in self.blocks:
            store.put_block(cid, block)
        return str(self.root.set(base="base32"))


def _node(children: list[tuple[CID, int, int]], filesize: int | None = None) -> tuple[CID, bytes]:
    """A dag-pb file node over ``(cid, tsize, file bytes)`` children (``filesize`` may lie)."""
    sizes = [size for _, _, size in children]
    data = encode_unixfs_file(sum(sizes) if filesize is None else filesize, sizes)
    block = encode_dag_pb(((cid, tsize) for cid, tsize, _ in children), data)
    return block_cid(DAG_PB, block), block


def dag_bomb(levels: int = 3, *, leaf: bytes = b"\0" * CHUNK_SIZE, fanout: int = MAX_LINKS) -> HostileDag:
    """One leaf linked ``fanout`` times per node, ``levels`` nodes deep: ``fanout**levels``
    leaves declared (3 levels of 174 over 256 KiB: 1,380,980,883,456 bytes) in a few hundred kB."""
    child, tsize, size = block_cid(RAW, leaf), len(leaf), len(leaf)
    blocks: list[tuple[CID, bytes]] = [(child, leaf)]
    for _ in range(levels):
        cid, block = _node([(child, tsize, size)] * fanout)
        blocks.append((cid, block))
        child, tsize, size = cid, tsize * fanout + len(block), size * fanout
    return HostileDag(child, tuple(blocks), size)


def lying_root(claimed: int = 100, *, inner: HostileDag | None = None) -> HostileDag:
    """A root whose ``filesize`` and only ``blocksizes`` entry say ``claimed`` bytes, over
    ``inner`` (default: one full 256 KiB leaf), which holds far more."""
    if inner is None:
        leaf = b"\1" * CHUNK_SIZE
        inner = HostileDag(block_cid(RAW, leaf), ((block_cid(RAW, leaf), leaf),), len(leaf))
    cid, block = _node([(inner.root, inner.stored_bytes, claimed)], filesize=claimed)
    return HostileDag(cid, (*inner.blocks, (cid, block)), claimed)


def directory(content: bytes = b"hello") -> HostileDag:
    """A UnixFS directory with one file ``a.txt`` (as ``ipfs add -w`` makes it)."""
    leaf = block_cid(RAW, content)
    link = (b"\x0a" + varint.encode(len(bytes(leaf))) + bytes(leaf) + b"\x12\x05a.txt\x18"
            + varint.encode(len(content)))
    data = b"\x08" + varint.encode(UNIXFS_DIRECTORY)
    block = b"\x12" + varint.encode(len(link)) + link + b"\x0a" + varint.encode(len(data)) + data
    cid = block_cid(DAG_PB, block)
    return HostileDag(cid, ((leaf, content), (cid, block)), None)


def dag_cbor_block(value: object = None) -> HostileDag:
    """One dag-cbor block (not a UnixFS file)."""
    block = dag_cbor.encode(value if value is not None else {"a": 1, "update": "not here"})
    cid = CID("base32", 1, DAG_CBOR, multihash.digest(block, "sha2-256"))
    return HostileDag(cid, ((cid, block),), None)


def tiny_blocks(size: int = 1500, *, seed: int = 0) -> HostileDag:
    """A well-formed file of ``size`` one-byte leaves."""
    blocks: dict[CID, bytes] = {}
    content = bytes((seed + 7 * i) % 251 for i in range(size))
    root = build_file_dag([content], lambda cid, block: blocks.setdefault(cid, block), chunk_size=1)
    return HostileDag(root, tuple(blocks.items()), size)


def empty_children(levels: int = 8, *, fanout: int = MAX_LINKS) -> HostileDag:
    """Nodes of ``fanout`` children that hold 0 bytes, ``levels`` deep: 174**8 visits for a
    reader that follows them, and not one byte of content."""
    child, tsize = block_cid(RAW, b""), 0
    blocks: list[tuple[CID, bytes]] = [(child, b"")]
    for _ in range(levels):
        cid, block = _node([(child, tsize, 0)] * fanout)
        blocks.append((cid, block))
        child, tsize = cid, tsize * fanout + len(block)
    return HostileDag(child, tuple(blocks), 0)

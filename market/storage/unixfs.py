"""UnixFS files as kubo builds them: chunking, the balanced DAG, the block codecs.

Pure functions and one small incremental builder, no I/O. The DAG is exactly the one that
``ipfs add --cid-version=1`` makes with kubo's defaults, so a CID computed here is the CID a
kubo node gives for the same bytes:

* fixed-size chunks of 262144 bytes; each chunk is a *raw* leaf (codec ``raw``, sha2-256);
* a file of one chunk (including the empty file) is that raw leaf itself;
* otherwise leaves are grouped 174 at a time under ``dag-pb`` nodes whose ``Data`` is a UnixFS
  ``File`` message (``filesize`` and one ``blocksizes`` entry per child); the parents are grouped
  174 at a time again, level by level, until one root remains (kubo's *balanced* layout);
* a link has an empty name and ``Tsize`` = the encoded size of the whole subtree.

The dag-pb and UnixFS protobuf messages are tiny (two and four fields used), so they are
encoded by hand here; CIDs, multihashes and varints come from the ``multiformats`` package.
Spec: https://github.com/ipfs/specs/blob/main/UNIXFS.md and the IPLD dag-pb spec.
Reading a DAG back, within a byte limit, is :mod:`market.storage.dag_reader`.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from multiformats import CID, multihash, varint

from market.storage.exceptions import BlockCorrupted, DagFormatError, InvalidCid

CHUNK_SIZE = 262144
"""Bytes per leaf (kubo's ``size-262144`` chunker)."""
MAX_LINKS = 174
"""Children per node of the balanced layout (kubo's default)."""
RAW = 0x55
"""Multicodec of raw leaves."""
DAG_PB = 0x70
"""Multicodec of dag-pb nodes."""

UNIXFS_RAW, UNIXFS_DIRECTORY, UNIXFS_FILE = 0, 1, 2
_SHA256_HEADS = frozenset({b"\x12\x20", b"\x01\x55\x12\x20", b"\x01\x70\x12\x20"})
"""The bytes before the digest of a sha2-256 CID: v0, v1 raw, v1 dag-pb."""

BlockSink = Callable[[CID, bytes], None]
"""Receives each finished block with its CID (children before parents)."""
BlockLoader = Callable[[CID], bytes]
"""Returns the bytes of a block, already checked against its CID."""


# --- CIDs --------------------------------------------------------------------------------
def parse_cid(value: str | CID) -> CID:
    """Decode a CID given as text (any multibase, or a base58 ``Qm…`` v0 CID)."""
    if isinstance(value, CID):
        return value
    try:
        return CID.decode(value.strip())
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidCid(f"not a CID: {value!r} ({err})") from None


def cid_to_str(cid: CID) -> str:
    """Canonical text of a CID: base32 for v1 (as kubo prints it), base58btc for v0."""
    if cid.version == 1:  # multibase "b": RFC 4648 base32, lower case, unpadded (25x faster than str(CID))
        return "b" + base64.b32encode(bytes(cid)).decode("ascii").lower().rstrip("=")
    return str(cid)


def block_cid(codec: int, block: bytes) -> CID:
    """The CID v1 (sha2-256) of a block encoded with ``codec`` (:data:`RAW` or :data:`DAG_PB`)."""
    digest = multihash.wrap(hashlib.sha256(block).digest(), "sha2-256")
    return CID("base32", 1, codec, digest)


def block_matches(cid: CID, block: bytes) -> bool:
    """Whether ``block`` hashes to the multihash inside ``cid`` (any hash function
    ``multiformats`` knows; sha2-256 on the fast path)."""
    raw = bytes(cid)
    if len(raw) in (34, 36) and raw[:-32] in _SHA256_HEADS:  # fast path: read the digest from the CID's bytes
        return hashlib.sha256(block).digest() == raw[-32:]
    try:
        return cid.hashfun.digest(block, size=len(cid.raw_digest)) == cid.digest
    except (KeyError, ValueError):  # hash function without an implementation here
        return False


def verify_block(cid: CID, block: bytes) -> bytes:
    """Return ``block`` if it matches ``cid``, else raise :class:`BlockCorrupted`."""
    if not block_matches(cid, block):
        raise BlockCorrupted(cid_to_str(cid))
    return block


# --- protobuf: dag-pb PBNode and UnixFS Data ---------------------------------------------
@dataclass(frozen=True)
class PBLink:
    """A dag-pb link: target CID, name (empty for file chunks) and cumulative size."""

    cid: CID
    name: str
    tsize: int | None


@dataclass(frozen=True)
class PBNode:
    """A decoded dag-pb node."""

    links: tuple[PBLink, ...]
    data: bytes | None


@dataclass(frozen=True)
class UnixFSData:
    """The UnixFS message in a dag-pb node's ``Data``."""

    type: int
    data: bytes
    filesize: int | None
    blocksizes: tuple[int, ...]


def _field(number: int, wire_type: int) -> bytes:
    return varint.encode(number << 3 | wire_type)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _field(number, 2) + varint.encode(len(payload)) + payload


def encode_unixfs_file(filesize: int, blocksizes: Iterable[int]) -> bytes:
    """UnixFS ``Data`` of an internal file node: ``Type=File``, ``filesize``, ``blocksizes``."""
    out = bytearray(_field(1, 0) + varint.encode(UNIXFS_FILE))
    out += _field(3, 0) + varint.encode(filesize)
    for size in blocksizes:
        out += _field(4, 0) + varint.encode(size)
    return bytes(out)


def encode_dag_pb(links: Iterable[tuple[CID, int]], data: bytes) -> bytes:
    """A dag-pb node with unnamed links ``(cid, tsize)`` followed by ``data`` (canonical
    order: links first, as kubo and ``@ipld/dag-pb`` write it)."""
    out = bytearray()
    for cid, tsize in links:
        link = _length_delimited(1, bytes(cid)) + _length_delimited(2, b"") + _field(3, 0) + varint.encode(tsize)
        out += _length_delimited(2, link)
    out += _length_delimited(1, data)
    return bytes(out)


def _read_fields(message: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field number, wire type, value)`` of a protobuf message (varint and
    length-delimited values only, which is all dag-pb and UnixFS use)."""
    stream = io.BytesIO(message)
    end = len(message)
    while stream.tell() < end:
        try:
            key = varint.decode(stream)
            number, wire_type = key >> 3, key & 7
            if wire_type == 0:
                yield number, wire_type, varint.decode(stream)
            elif wire_type == 2:
                length = varint.decode(stream)
                value = stream.read(length)
                if len(value) != length:
                    raise ValueError("truncated field")
                yield number, wire_type, value
            else:
                raise ValueError(f"unsupported wire type {wire_type}")
        except ValueError as err:
            raise DagFormatError(f"malformed protobuf in a dag-pb block: {err}") from None


def decode_dag_pb(block: bytes) -> PBNode:
    """Decode a dag-pb block into its links and data."""
    links: list[PBLink] = []
    data: bytes | None = None
    for number, wire_type, value in _read_fields(block):
        if number == 2 and wire_type == 2:
            links.append(_decode_link(value))  # type: ignore[arg-type]
        elif number == 1 and wire_type == 2:
            data = value  # type: ignore[assignment]
        else:
            raise DagFormatError(f"unexpected field {number} in a dag-pb node")
    return PBNode(tuple(links), data)


def _decode_link(message: bytes) -> PBLink:
    cid: CID | None = None
    name = ""
    tsize: int | None = None
    for number, wire_type, value in _read_fields(message):
        if number == 1 and wire_type == 2:
            try:
                cid = CID.decode(value)  # type: ignore[arg-type]
            except (ValueError, KeyError) as err:
                raise DagFormatError(f"a dag-pb link holds an invalid CID: {err}") from None
        elif number == 2 and wire_type == 2:
            name = value.decode("utf-8", "replace")  # type: ignore[union-attr]
        elif number == 3 and wire_type == 0:
            tsize = value  # type: ignore[assignment]
        else:
            raise DagFormatError(f"unexpected field {number} in a dag-pb link")
    if cid is None:
        raise DagFormatError("a dag-pb link has no CID")
    return PBLink(cid, name, tsize)


def decode_unixfs(data: bytes) -> UnixFSData:
    """Decode the UnixFS message of a dag-pb node (mode and mtime are ignored)."""
    kind: int | None = None
    content, filesize, blocksizes = b"", None, []
    for number, wire_type, value in _read_fields(data):
        if number == 1 and wire_type == 0:
            kind = value  # type: ignore[assignment]
        elif number == 2 and wire_type == 2:
            content = value  # type: ignore[assignment]
        elif number == 3 and wire_type == 0:
            filesize = value  # type: ignore[assignment]
        elif number == 4 and wire_type == 0:
            blocksizes.append(value)
        elif number == 4 and wire_type == 2:  # packed encoding, accepted on read
            packed = io.BytesIO(value)  # type: ignore[arg-type]
            while packed.tell() < len(value):  # type: ignore[arg-type]
                blocksizes.append(varint.decode(packed))
    if kind is None:
        raise DagFormatError("UnixFS data without a type")
    return UnixFSData(kind, content, filesize, tuple(blocksizes))  # type: ignore[arg-type]


# --- building ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Entry:
    cid: CID
    tsize: int  # encoded bytes of the subtree
    filesize: int  # file bytes under it


class FileDagBuilder:
    """Incremental builder of kubo's balanced UnixFS DAG.

    Feed bytes with :meth:`write` in pieces of any size; each finished block goes to
    ``sink`` (children before parents) as soon as it exists, so a large blob never has to
    be in memory whole. :meth:`finish` returns the root CID. ``chunk_size`` and
    ``max_links`` default to kubo's; other values exist for tests of deep DAGs.
    """

    def __init__(
        self, sink: BlockSink | None = None, *, chunk_size: int = CHUNK_SIZE, max_links: int = MAX_LINKS
    ) -> None:
        if chunk_size < 1 or max_links < 2:
            raise ValueError("chunk_size must be >= 1 and max_links >= 2")
        self._sink = sink
        self._chunk_size = chunk_size
        self._max_links = max_links
        self._buffer = bytearray()
        self._levels: list[list[_Entry]] = [[]]
        self._leaves = 0
        self.size = 0
        """File bytes written so far."""
        self.root: CID | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append file bytes."""
        if self.root is not None:
            raise RuntimeError("write after finish")
        view = memoryview(data).cast("B")
        self.size += len(view)
        if self._buffer:
            take = min(self._chunk_size - len(self._buffer), len(view))
            self._buffer += view[:take]
            view = view[take:]
            if len(self._buffer) == self._chunk_size:
                self._add_leaf(bytes(self._buffer))
                self._buffer.clear()
        while len(view) >= self._chunk_size:
            self._add_leaf(bytes(view[: self._chunk_size]))
            view = view[self._chunk_size :]
        self._buffer += view

    def finish(self) -> CID:
        """Flush the last chunk, close every level and return the root CID."""
        if self.root is not None:
            return self.root
        if self._buffer or self._leaves == 0:
            self._add_leaf(bytes(self._buffer))
            self._buffer.clear()
        level = 0
        while True:
            entries = self._levels[level]
            higher = any(self._levels[level + 1 :])
            if not higher and len(entries) == 1:
                self.root = entries[0].cid
                return self.root
            if entries:
                self._reduce(level)
            level += 1

    def _add_leaf(self, chunk: bytes) -> None:
        cid = block_cid(RAW, chunk)
        if self._sink is not None:
            self._sink(cid, chunk)
        self._leaves += 1
        self._push(0, _Entry(cid, len(chunk), len(chunk)))

    def _push(self, level: int, entry: _Entry) -> None:
        if len(self._levels) == level:
            self._levels.append([])
        self._levels[level].append(entry)
        if len(self._levels[level]) == self._max_links:  # a full group: its parent is final
            self._reduce(level)

    def _reduce(self, level: int) -> None:
        children = self._levels[level]
        self._levels[level] = []
        data = encode_unixfs_file(sum(c.filesize for c in children), (c.filesize for c in children))
        block = encode_dag_pb(((c.cid, c.tsize) for c in children), data)
        cid = block_cid(DAG_PB, block)
        if self._sink is not None:
            self._sink(cid, block)
        entry = _Entry(cid, len(block) + sum(c.tsize for c in children), sum(c.filesize for c in children))
        self._push(level + 1, entry)


def build_file_dag(chunks: Iterable[bytes], sink: BlockSink | None = None, **layout: int) -> CID:
    """Build the DAG of the concatenation of ``chunks``; blocks go to ``sink``. ``layout``
    may set ``chunk_size`` and ``max_links`` (kubo's defaults otherwise)."""
    builder = FileDagBuilder(sink, **layout)
    for chunk in chunks:
        builder.write(chunk)
    return builder.finish()


def compute_cid(data: bytes) -> str:
    """The CID that ``ipfs add --cid-version=1`` (kubo defaults) gives for ``data``."""
    return cid_to_str(build_file_dag([data]))

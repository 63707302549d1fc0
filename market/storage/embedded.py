"""The embedded backend: a content-addressed block store in a local directory.

No daemon, no network. Blobs are split into the same UnixFS DAG that kubo builds (see
:mod:`market.storage.unixfs`), so a CID from here is the CID a kubo node gives, and a CAR
export from here imports into a real node (``ipfs dag import``) unchanged.

Layout of the directory (one file per block, named by its base32 CID, sharded by the two
characters before the last one like kubo's flatfs ``next-to-last/2``)::

    <root>/<shard>/<cid>     a block
    <root>/.pins/<cid>       an empty marker per pinned root

Every block read is hashed again and compared with its CID; a mismatch raises
:class:`~market.storage.exceptions.BlockCorrupted`. Writes go through a temporary file and
an atomic rename, so a crash never leaves a half-written block under a real name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from multiformats import CID

from market.storage.base import Storage
from market.storage.car import CarReader, write_car
from market.storage.dag_reader import iter_dag_blocks, iter_file_content
from market.storage.exceptions import NotFound, StorageError
from market.storage.unixfs import FileDagBuilder, block_matches, cid_to_str, parse_cid, verify_block
from market.tracing import traced

_PINS = ".pins"


class EmbeddedStorage(Storage):
    """A block store in ``root`` (created if missing) with kubo-identical CIDs."""

    name = "embedded"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        try:
            (self.root / _PINS).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot create the block store at {self.root}: {err}") from None

    def __repr__(self) -> str:
        return f"EmbeddedStorage({str(self.root)!r})"

    # --- blocks --------------------------------------------------------------------------
    def block_path(self, cid: CID) -> Path:
        """Where the block of ``cid`` lives (whether or not it is there)."""
        key = cid_to_str(cid.set(version=1) if cid.version == 0 else cid)
        return self.root / key[-3:-1] / key

    def has_block(self, cid: CID) -> bool:
        """Whether the block file of ``cid`` exists (not checked)."""
        return self.block_path(cid).is_file()

    def put_block(self, cid: CID, block: bytes) -> None:
        """Store one block under ``cid`` (which the caller computed or checked). A block
        already present is kept if it still matches, and replaced if it was damaged."""
        path = self.block_path(cid)
        try:
            if path.is_file() and block_matches(cid, path.read_bytes()):
                return
            path.parent.mkdir(exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(block)
                os.replace(temporary, path)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError as err:
            raise StorageError(f"cannot write block {cid_to_str(cid)} to {path}: {err}") from None

    def get_block(self, cid: CID) -> bytes:
        """The block of ``cid``, re-hashed and checked against the CID."""
        try:
            block = self.block_path(cid).read_bytes()
        except FileNotFoundError:
            raise NotFound(cid_to_str(cid), f"block {cid_to_str(cid)} is not in the store at {self.root}") from None
        except OSError as err:
            raise StorageError(f"cannot read block {cid_to_str(cid)}: {err}") from None
        return verify_block(cid, block)

    # --- Storage -------------------------------------------------------------------------
    def put_stream(self, chunks: Iterable[bytes]) -> str:
        """Chunk, hash and store the blob; blocks are written as soon as they are built."""
        builder = FileDagBuilder(self.put_block)
        for chunk in chunks:
            builder.write(chunk)
        return cid_to_str(builder.finish())

    def get_into(self, cid: str, sink: BinaryIO, *, max_bytes: int | None = None) -> int:
        """Stream the content to ``sink``; each block is checked before its bytes go out, the
        root's declared size before any (see :mod:`market.storage.dag_reader`)."""
        size = 0
        for piece in iter_file_content(parse_cid(cid), self.get_block, max_bytes=max_bytes):
            sink.write(piece)
            size += len(piece)
        return size

    def has(self, cid: str) -> bool:
        """Whether every block of the DAG under ``cid`` is present (internal nodes are read
        and checked to find their children; leaves are only looked up)."""
        root = parse_cid(cid)
        try:
            for _cid, _block in iter_dag_blocks(root, self._load_for_walk):
                pass
        except NotFound:
            return False
        return True

    def _load_for_walk(self, cid: CID) -> bytes:
        if cid.codec.code == 0x55:  # raw leaf: no children, existence is enough
            if not self.has_block(cid):
                raise NotFound(cid_to_str(cid))
            return b""
        return self.get_block(cid)

    @traced("storage.pin")
    def pin(self, cid: str) -> None:
        """Mark ``cid`` as pinned after checking that its whole DAG is present."""
        root = parse_cid(cid)
        if not self.has(cid):
            raise NotFound(cid_to_str(root), f"cannot pin {cid_to_str(root)}: not (completely) in the store")
        (self.root / _PINS / cid_to_str(root)).touch()

    def pins(self) -> list[str]:
        """The pinned roots, sorted."""
        return sorted(path.name for path in (self.root / _PINS).iterdir())

    def export_car(self, cid: str, sink: BinaryIO) -> int:
        """Write the DAG of ``cid`` as CAR v1, every block checked on the way out."""
        root = parse_cid(cid)
        return write_car(sink, [root], iter_dag_blocks(root, self.get_block))

    def import_car(self, source: BinaryIO) -> list[str]:
        """Store every (checked) block of a CAR v1 file; pin the roots that are complete."""
        reader = CarReader(source, verify=True)
        for cid, block in reader:
            self.put_block(cid, block)
        roots = [cid_to_str(root) for root in reader.roots]
        for root in roots:
            if self.has(root):
                self.pin(root)
        return roots

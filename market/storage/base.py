"""The storage interface every backend implements.

A :class:`Storage` holds content-addressed blobs. ``put`` returns the CID that
``ipfs add --cid-version=1`` gives for the same bytes (kubo defaults, see
:mod:`market.storage.unixfs`), and ``get`` never returns bytes that do not match the CID asked
for. Backends implement the streaming primitives (:meth:`Storage.put_stream`,
:meth:`Storage.get_into`) and CAR transfer; the byte and file helpers are built on them here.
Every backend passes the same conformance suite in ``tests/market/storage/``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from market.tracing import traced

READ_SIZE = 1 << 20
"""Bytes read from a file at a time by the file helpers."""


def iter_file_chunks(stream: BinaryIO, size: int = READ_SIZE) -> Iterator[bytes]:
    """Read ``stream`` to its end in pieces of ``size`` bytes."""
    while piece := stream.read(size):
        yield piece


class Storage(ABC):
    """A content-addressed blob store with kubo-identical CIDs."""

    name: str = "storage"
    """Short backend name, as written in the configuration (``embedded``, ``kubo``)."""

    # --- what a backend implements -------------------------------------------------------
    @abstractmethod
    def put_stream(self, chunks: Iterable[bytes]) -> str:
        """Store the concatenation of ``chunks`` (pieces of any size) and return its CID."""

    @abstractmethod
    def get_into(self, cid: str, sink: BinaryIO, *, max_bytes: int | None = None) -> int:
        """Write the content of ``cid`` to ``sink`` and return the number of bytes.

        Raises :class:`~market.storage.exceptions.NotFound` when the store lacks it,
        :class:`~market.storage.exceptions.BlockCorrupted` when what it holds does not match
        the CID, :class:`~market.storage.exceptions.DagFormatError` when the CID is not a
        UnixFS file (a directory, another codec), and, with ``max_bytes``,
        :class:`~market.storage.exceptions.TooLarge` when the root declares more bytes (checked
        before any content is read) or the stream goes past them (never more than
        ``max_bytes`` reach ``sink``). All of them are
        :class:`~market.storage.exceptions.ContentFault`; a backend that cannot be reached
        raises :class:`~market.storage.exceptions.StorageUnavailable`. On an error part of
        the content may already be in ``sink``; use :meth:`get` or :meth:`get_file`, which
        never hand out unchecked bytes.
        """

    @abstractmethod
    def pin(self, cid: str) -> None:
        """Keep ``cid`` and every block under it (the node's garbage collector spares it).
        Raises :class:`~market.storage.exceptions.NotFound` if the content is not held."""

    @abstractmethod
    def has(self, cid: str) -> bool:
        """Whether the store holds ``cid`` locally, without asking any network."""

    @abstractmethod
    def export_car(self, cid: str, sink: BinaryIO) -> int:
        """Write a CAR v1 file with root ``cid`` and every block of its DAG to ``sink``
        (parents before children); return the bytes written."""

    @abstractmethod
    def import_car(self, source: BinaryIO) -> list[str]:
        """Check and store every block of the CAR v1 file in ``source``; return its roots.

        A block that does not match its CID stops the import with
        :class:`~market.storage.exceptions.BlockCorrupted`; the checked blocks before it
        may stay (they are valid content). Roots are pinned where the backend pins.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections or files held by the backend."""

    # --- helpers built on the primitives -------------------------------------------------
    @traced("storage.put")
    def put(self, data: bytes) -> str:
        """Store ``data`` and return its CID."""
        return self.put_stream([data])

    @traced("storage.get")
    def get(self, cid: str, *, max_bytes: int | None = None) -> bytes:
        """The content of ``cid``, checked against the CID; with ``max_bytes``, at most that
        many bytes are ever held (:class:`~market.storage.exceptions.TooLarge` beyond)."""
        buffer = BytesIO()
        self.get_into(cid, buffer, max_bytes=max_bytes)
        return buffer.getvalue()

    def put_file(self, path: str | os.PathLike[str]) -> str:
        """Store the file at ``path`` and return its CID (streamed, never read whole)."""
        with open(path, "rb") as stream:
            return self.put_stream(iter_file_chunks(stream))

    def get_file(self, cid: str, path: str | os.PathLike[str], *, max_bytes: int | None = None) -> int:
        """Write the content of ``cid`` to ``path`` and return its size (at most ``max_bytes``).

        The bytes go to a temporary file beside ``path`` that replaces it only once the
        content has been checked, so ``path`` never holds unchecked or partial data.
        """
        target = Path(path)
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent or ".")
        try:
            with os.fdopen(fd, "wb") as sink:
                size = self.get_into(cid, sink, max_bytes=max_bytes)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return size

    def export_car_file(self, cid: str, path: str | os.PathLike[str]) -> int:
        """Write a CAR file of ``cid`` to ``path``; return its size."""
        with open(path, "wb") as sink:
            return self.export_car(cid, sink)

    def import_car_file(self, path: str | os.PathLike[str]) -> list[str]:
        """Import the CAR file at ``path``; return its roots."""
        with open(path, "rb") as source:
            return self.import_car(source)

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

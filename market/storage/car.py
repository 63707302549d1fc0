"""CAR v1 (Content Addressable aRchive) files: the format of ``ipfs dag export`` and
``ipfs dag import``.

A CAR v1 file is ``varint(len(header)) header`` followed by sections
``varint(len(cid) + len(block)) cid block``, where the header is the DAG-CBOR map
``{"roots": [CID, ...], "version": 1}`` (encoded with the ``dag-cbor`` package).
Spec: https://ipld.io/specs/transport/car/carv1/
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import BinaryIO, cast

import dag_cbor
from multiformats import CID, varint

from market.storage.exceptions import BlockCorrupted, CarFormatError
from market.storage.unixfs import block_matches, cid_to_str

MAX_HEADER_SIZE = 1 << 20
"""Largest CAR header accepted (a header names roots only; real ones are < 1 KiB)."""
MAX_SECTION_SIZE = 1 << 24
"""Largest block section accepted (IPFS blocks are at most a few MiB; kubo's limit is 2 MiB)."""

_CIDV0_PREFIX = b"\x12\x20"


def encode_header(roots: Iterable[CID]) -> bytes:
    """The length-prefixed CAR v1 header naming ``roots``."""
    header = dag_cbor.encode({"roots": list(roots), "version": 1})
    return varint.encode(len(header)) + header


def encode_section(cid: CID, block: bytes) -> bytes:
    """One length-prefixed ``cid block`` section."""
    raw_cid = bytes(cid)
    return varint.encode(len(raw_cid) + len(block)) + raw_cid + block


def write_car(sink: BinaryIO, roots: Iterable[CID], blocks: Iterable[tuple[CID, bytes]]) -> int:
    """Write a CAR v1 file to ``sink``; return the number of bytes written."""
    written = sink.write(encode_header(roots))
    for cid, block in blocks:
        written += sink.write(encode_section(cid, block))
    return written


class CarReader:
    """Reads a CAR v1 stream: :attr:`roots` at once, then blocks by iteration.

    With ``verify=True`` (the default) every block is hashed and compared with its CID, and
    a mismatch raises :class:`~market.storage.exceptions.BlockCorrupted`.
    """

    def __init__(self, source: BinaryIO, *, verify: bool = True) -> None:
        self._source = source
        self._verify = verify
        self.roots: list[CID] = self._read_header()

    def _read_varint(self, what: str) -> int | None:
        first = self._source.read(1)
        if not first:
            return None
        raw = bytearray(first)
        while raw[-1] & 0x80:
            more = self._source.read(1)
            if not more or len(raw) >= 9:
                raise CarFormatError(f"CAR file: truncated or overlong varint in the {what}")
            raw += more
        try:
            return varint.decode(bytes(raw))
        except ValueError as err:
            raise CarFormatError(f"CAR file: bad varint in the {what}: {err}") from None

    def _read_exactly(self, size: int, what: str) -> bytes:
        data = self._source.read(size)
        if len(data) != size:
            raise CarFormatError(f"CAR file truncated in the {what} ({len(data)} of {size} bytes)")
        return data

    def _read_header(self) -> list[CID]:
        length = self._read_varint("header length")
        if length is None:
            raise CarFormatError("empty file: not a CAR file")
        if length > MAX_HEADER_SIZE:
            raise CarFormatError(f"CAR header of {length} bytes is too large (not a CAR v1 file?)")
        raw = self._read_exactly(length, "header")
        try:
            header = dag_cbor.decode(raw)
        except Exception as err:  # dag_cbor raises several error types
            raise CarFormatError(f"CAR header is not valid DAG-CBOR: {err}") from None
        if not isinstance(header, dict) or header.get("version") != 1:
            version = header.get("version") if isinstance(header, dict) else None
            raise CarFormatError(f"not a CAR version 1 file (version {version!r}); export with CAR v1")
        roots = header.get("roots")
        if not isinstance(roots, list) or not all(isinstance(root, CID) for root in roots):
            raise CarFormatError("CAR header: 'roots' is not a list of CIDs")
        return cast("list[CID]", roots)

    def _split_cid(self, section: bytes) -> tuple[CID, bytes]:
        try:
            if section.startswith(_CIDV0_PREFIX):
                cid_length = 34
            else:
                stream = io.BytesIO(section)
                version = varint.decode(stream)
                if version != 1:
                    raise ValueError(f"CID version {version}")
                varint.decode(stream)  # codec
                varint.decode(stream)  # hash function
                digest_size = varint.decode(stream)
                cid_length = stream.tell() + digest_size
            if cid_length > len(section):
                raise ValueError("CID longer than its section")
            return CID.decode(section[:cid_length]), section[cid_length:]
        except (ValueError, KeyError) as err:
            raise CarFormatError(f"CAR section with an invalid CID: {err}") from None

    def __iter__(self) -> Iterator[tuple[CID, bytes]]:
        while (length := self._read_varint("section length")) is not None:
            if length > MAX_SECTION_SIZE:
                raise CarFormatError(f"CAR section of {length} bytes exceeds {MAX_SECTION_SIZE}")
            cid, block = self._split_cid(self._read_exactly(length, "block section"))
            if self._verify and not block_matches(cid, block):
                raise BlockCorrupted(cid_to_str(cid))
            yield cid, block


def read_car(data: bytes, *, verify: bool = True) -> tuple[list[CID], dict[CID, bytes]]:
    """Parse a whole CAR v1 file held in memory: its roots and its blocks by CID."""
    reader = CarReader(io.BytesIO(data), verify=verify)
    return reader.roots, dict(reader)

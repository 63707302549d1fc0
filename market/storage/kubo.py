"""The kubo backend: a small client for an IPFS node's HTTP RPC API (``/api/v0``) on httpx.

Works with kubo (go-ipfs ≥ 0.8, which ``ipfshttpclient`` refuses) and with any node that
serves the same API (the js-ipfs daemon the tests start). What it adds over raw HTTP:

* **the same CIDs as the embedded store**: ``add`` is called with kubo's defaults spelled out
  (``cid-version=1``, ``raw-leaves=true``, ``chunker=size-262144``) and the CID the node
  answers is compared with the one computed here while the upload is spooled;
* **no unchecked bytes**: ``cat`` output is re-chunked and hashed with
  :mod:`market.storage.unixfs`; if the root differs (a node that lies, or content added with
  other settings, e.g. CID v0) the DAG is fetched with ``dag/export`` and every block is
  checked against its CID instead, so a damaged block raises
  :class:`~market.storage.exceptions.BlockCorrupted` either way;
* **timeouts, retries with exponential backoff** on connection failures and 502/503/504
  (request bodies are replayable: uploads are spooled to a temporary file first);
* **streaming**: uploads and downloads go through in pieces, never whole in memory;
* **bounded reads**: the root block is read and checked before ``cat`` (a directory or another
  codec is a DagFormatError, not the node's error), its declared size is held against
  ``max_bytes``, and the stream is cut there too (see :mod:`market.storage.dag_reader`).
"""

from __future__ import annotations

import io
import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, TypeVar

import httpx
from multiformats import CID

from market.config import DEFAULT_IPFS_API
from market.storage.base import Storage
from market.storage.car import CarReader, encode_header, encode_section, write_car
from market.storage.dag_reader import MAX_NODE_BLOCK, check_declared_size
from market.storage.embedded import EmbeddedStorage
from market.storage.exceptions import (
    BlockCorrupted,
    DagFormatError,
    NodeApiError,
    NotFound,
    StorageError,
    StorageUnavailable,
    TooLarge,
)
from market.storage.unixfs import (
    CHUNK_SIZE,
    DAG_PB,
    RAW,
    FileDagBuilder,
    cid_to_str,
    decode_dag_pb,
    parse_cid,
    verify_block,
)
from market.tracing import traced

log = logging.getLogger(__name__)
T = TypeVar("T")

ADD_PARAMS = {
    "cid-version": "1",
    "raw-leaves": "true",
    "chunker": f"size-{CHUNK_SIZE}",
    "hash": "sha2-256",
    "cid-base": "base32",
    "progress": "false",
}
"""Query of ``/api/v0/add`` that gives the embedded store's CIDs."""
RETRY_STATUS = frozenset({502, 503, 504})
_MISSING = re.compile(r"not found|could not find|timed out|deadline exceeded|no link named", re.IGNORECASE)
_SPOOL_IN_MEMORY = 16 << 20


def api_url_from(value: str) -> str:
    """Normalise an API address: an URL (``http://127.0.0.1:5001``) or a multiaddr as kubo
    prints it (``/ip4/127.0.0.1/tcp/5001``); returns the URL without a trailing slash."""
    match = re.fullmatch(r"/(ip4|ip6|dns|dns4|dns6)/([^/]+)/tcp/(\d+)(/(http|https))?/?", value.strip())
    if match:
        host = f"[{match[2]}]" if match[1] == "ip6" else match[2]
        return f"{match[5] or 'http'}://{host}:{match[3]}"
    return value.strip().rstrip("/").removesuffix("/api/v0")


class _ResponseStream(io.RawIOBase):
    """A readable file over an httpx streaming response, for :class:`CarReader`."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            self._pending = next(self._pieces, b"")
            if not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


class KuboStorage(Storage):
    """Storage on an IPFS node reached through its HTTP RPC API at ``api_url``.

    ``timeout`` bounds each network wait, ``fetch_timeout`` is passed to the node for reads
    (how long it may search for content it lacks), ``retries`` and ``backoff`` (seconds,
    doubled each try) govern retries, ``pin_on_put`` pins what :meth:`put` adds.
    """

    name = "kubo"

    def __init__(
        self,
        api_url: str = DEFAULT_IPFS_API,
        *,
        timeout: float = 60.0,
        fetch_timeout: float = 120.0,
        has_timeout: float = 2.0,
        retries: int = 3,
        backoff: float = 0.5,
        pin_on_put: bool = True,
    ) -> None:
        self.api_url = api_url_from(api_url)
        self.fetch_timeout = fetch_timeout
        self.has_timeout = has_timeout
        self.retries = retries
        self.backoff = backoff
        self.pin_on_put = pin_on_put
        self._client = httpx.Client(
            base_url=f"{self.api_url}/api/v0/", timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0))
        )

    def __repr__(self) -> str:
        return f"KuboStorage({self.api_url!r})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    # --- transport -----------------------------------------------------------------------
    def _call(
        self,
        endpoint: str,
        params: dict[str, str],
        handle: Callable[[httpx.Response], T],
        *,
        upload: BinaryIO | None = None,
        may_retry: Callable[[], bool] = lambda: True,
    ) -> T:
        """POST to ``endpoint``, hand the streaming response to ``handle``; retry transport
        failures and 502/503/504 with exponential backoff."""
        for attempt in range(self.retries + 1):
            files = None
            if upload is not None:
                upload.seek(0)
                files = {"file": ("blob", upload, "application/octet-stream")}
            try:
                with self._client.stream("POST", endpoint, params=params, files=files) as response:
                    if response.status_code == 200:
                        return handle(response)
                    response.read()
                    if response.status_code not in RETRY_STATUS:
                        raise self._error(endpoint, params, response)
                    failure: Exception = NodeApiError(endpoint, response.status_code, response.text[:200])
            except httpx.TransportError as err:
                failure = err
            if attempt == self.retries or not may_retry():
                break
            delay = self.backoff * 2**attempt
            log.info("IPFS API %s failed (%s); retry %d in %.1fs", endpoint, failure, attempt + 1, delay)
            time.sleep(delay)
        raise StorageUnavailable(
            f"IPFS node at {self.api_url} unusable for {endpoint} after {attempt + 1} tries: {failure}"
            " (is the daemon running? set MARKET_IPFS_API or --ipfs-api)"
        )

    def _error(self, endpoint: str, params: dict[str, str], response: httpx.Response) -> StorageError:
        try:
            message = str(json.loads(response.text).get("Message", response.text))
        except (ValueError, AttributeError):
            message = response.text.strip()[:300] or response.reason_phrase
        if "arg" in params and _MISSING.search(message):
            return NotFound(params["arg"], f"{params['arg']} not found on the IPFS node at {self.api_url}: {message}")
        return NodeApiError(endpoint, response.status_code, message)

    def version(self) -> dict[str, Any]:
        """The node's ``/version`` answer (raises StorageUnavailable if nobody answers)."""
        return self._call("version", {}, lambda response: dict(response.json()) if response.read() else {})

    # --- Storage -------------------------------------------------------------------------
    def put_stream(self, chunks: Iterable[bytes]) -> str:
        """Spool the blob (computing its CID), upload it with ``add``, check the node's CID."""
        expected = FileDagBuilder()
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            for chunk in chunks:
                expected.write(chunk)
                spool.write(chunk)
            params = {**ADD_PARAMS, "pin": "true" if self.pin_on_put else "false"}
            answer = self._call("add", params, _last_json_line, upload=spool)  # type: ignore[arg-type]
        try:
            got = parse_cid(answer["Hash"])
        except (KeyError, TypeError, StorageError):
            raise NodeApiError("add", 200, f"unexpected answer {answer!r}") from None
        if got != expected.finish():
            raise BlockCorrupted(
                cid_to_str(got),
                f"the IPFS node stored the blob as {cid_to_str(got)}, expected {cid_to_str(expected.finish())}",
            )
        return cid_to_str(got)

    def get_into(self, cid: str, sink: BinaryIO, *, max_bytes: int | None = None) -> int:
        """``cat`` the content into ``sink`` and check it; fall back to a block-checked
        ``dag/export`` when the re-chunked root differs from ``cid`` or ``cat`` fails on a
        root that is a file. The root block is read and checked first: anything but a UnixFS
        file is a DagFormatError, a declared size over ``max_bytes`` a TooLarge, and the
        stream is cut at ``max_bytes`` too."""
        root = parse_cid(cid)
        self._check_root(root, max_bytes)
        start = sink.tell() if sink.seekable() else None
        copy = _CheckedCopy(root, sink, start, max_bytes)
        params = {"arg": cid_to_str(root), "timeout": f"{self.fetch_timeout:g}s"}
        if max_bytes is not None:
            params["length"] = str(max_bytes + 1)
        try:
            self._call("cat", params, copy, may_retry=lambda: start is not None or copy.written == 0)
        except NodeApiError as err:
            if start is None:
                raise
            log.info("cat %s failed (%s); checking block by block", cid_to_str(root), err)
        else:
            if copy.builder.finish() == root:
                return copy.written
            if start is None:
                raise BlockCorrupted(cid_to_str(root), f"content of {cid_to_str(root)} from {self.api_url} "
                                                       "fails its check")
            log.info("re-chunked %s gives %s; checking block by block", cid_to_str(root),
                     cid_to_str(copy.builder.finish()))
        copy.rewind()
        return self._get_by_blocks(root, sink, max_bytes)

    def _check_root(self, root: CID, max_bytes: int | None) -> None:
        """The root is a UnixFS file whose declared size fits ``max_bytes``: no request for
        another codec, ``block/stat`` for a raw leaf, ``block/get`` (checked) for a dag-pb node."""
        if root.codec.code not in (RAW, DAG_PB):
            raise DagFormatError(f"{cid_to_str(root)} has codec {root.codec.name}, not a UnixFS file")
        params = {"arg": cid_to_str(root), "timeout": f"{self.fetch_timeout:g}s"}
        if root.codec.code == RAW:
            if max_bytes is not None:
                size = self._call("block/stat", params, _block_size)
                if size > max_bytes:
                    raise TooLarge(cid_to_str(root), max_bytes, size)
            return
        block = verify_block(root, self._call("block/get", params, _read_node_block))
        check_declared_size(root, block, max_bytes)

    def _get_by_blocks(self, root: CID, sink: BinaryIO, max_bytes: int | None) -> int:
        """The content of ``root`` from ``dag/export``, every block checked, at most about
        ``max_bytes`` (plus the DAG's nodes) received."""
        with tempfile.TemporaryDirectory(prefix="market-kubo-") as scratch:
            checked = EmbeddedStorage(scratch)
            limit = None if max_bytes is None else max_bytes + max_bytes // 8 + MAX_NODE_BLOCK
            self._export_checked(root, checked.put_block, max_received=limit)
            return checked.get_into(cid_to_str(root), sink, max_bytes=max_bytes)

    def _export_checked(
        self,
        root: CID,
        on_block: Callable[[CID, bytes], None],
        may_retry: Callable[[], bool] = lambda: True,
        max_received: int | None = None,
    ) -> None:
        """Stream the DAG under ``root`` from ``dag/export`` to ``on_block``, each block
        checked against its CID first; raise NotFound if the export misses a block and
        TooLarge once more than ``max_received`` block bytes came."""

        def read(response: httpx.Response) -> None:
            expected, received, size = {root}, set(), 0
            for block_cid, block in CarReader(io.BufferedReader(_ResponseStream(response.iter_bytes())), verify=True):
                size += len(block)
                if max_received is not None and size > max_received:
                    raise TooLarge(cid_to_str(root), max_received, None,
                                   f"the DAG of {cid_to_str(root)} is over {max_received:,} bytes of blocks")
                if block_cid.codec.code == DAG_PB:
                    expected.update(link.cid for link in decode_dag_pb(block).links)
                received.add(block_cid)
                on_block(block_cid, block)
            if missing := expected - received:
                raise NotFound(cid_to_str(root), f"{cid_to_str(root)}: {len(missing)} block(s) not on the IPFS node")

        params = {"arg": cid_to_str(root), "timeout": f"{self.fetch_timeout:g}s"}
        self._call("dag/export", params, read, may_retry=may_retry)

    @traced("storage.pin")
    def pin(self, cid: str) -> None:
        """``pin/add`` the DAG (recursive)."""
        root = cid_to_str(parse_cid(cid))
        params = {"arg": root, "recursive": "true", "timeout": f"{self.fetch_timeout:g}s"}
        self._call("pin/add", params, lambda response: response.read())

    def has(self, cid: str) -> bool:
        """Whether the node holds the root block of ``cid`` (``block/stat``, offline)."""
        params = {"arg": cid_to_str(parse_cid(cid)), "offline": "true", "timeout": f"{self.has_timeout:g}s"}
        try:
            self._call("block/stat", params, lambda response: response.read())
        except NotFound:
            return False
        return True

    def export_car(self, cid: str, sink: BinaryIO) -> int:
        """``dag/export`` as CAR v1, every block checked before it is written to ``sink``."""
        root = parse_cid(cid)
        written = 0

        def write_section(block_cid: CID, block: bytes) -> None:
            nonlocal written
            if not written:
                written += sink.write(encode_header([root]))
            written += sink.write(encode_section(block_cid, block))

        self._export_checked(root, write_section, may_retry=lambda: written == 0)
        return written

    def import_car(self, source: BinaryIO) -> list[str]:
        """Check every block of the CAR, then ``dag/import`` it (the node pins the roots)."""
        reader = CarReader(source, verify=True)
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            write_car(spool, reader.roots, reader)  # type: ignore[arg-type]
            lines = self._call("dag/import", {"pin-roots": "true"}, _json_lines, upload=spool)  # type: ignore[arg-type]
        for line in lines:
            error = (line.get("Root") or {}).get("PinErrorMsg")
            if error:
                log.warning("IPFS node could not pin a CAR root: %s", error)
        return [cid_to_str(root) for root in reader.roots]


class _CheckedCopy:
    """The ``cat`` handler of :meth:`KuboStorage.get_into`: copies the answer to ``sink``
    while re-chunking it (to compare the root), stops past ``max_bytes``, and can rewind the
    sink to where it started (``start``, None if the sink cannot seek)."""

    def __init__(self, root: CID, sink: BinaryIO, start: int | None, max_bytes: int | None) -> None:
        self.root, self.sink, self.start, self.max_bytes = root, sink, start, max_bytes
        self.builder, self.written = FileDagBuilder(), 0

    def rewind(self) -> None:
        if self.written and self.start is not None:
            self.sink.seek(self.start)
            self.sink.truncate()
        self.builder, self.written = FileDagBuilder(), 0

    def __call__(self, response: httpx.Response) -> int:
        self.rewind()
        for piece in response.iter_bytes():
            if self.max_bytes is not None and self.written + len(piece) > self.max_bytes:
                raise TooLarge(cid_to_str(self.root), self.max_bytes, None,
                               f"content {cid_to_str(self.root)} goes past the limit of {self.max_bytes:,} bytes")
            self.sink.write(piece)
            self.builder.write(piece)
            self.written += len(piece)
        return self.written


def _read_node_block(response: httpx.Response) -> bytes:
    """The body of ``block/get``, refused once it passes :data:`MAX_NODE_BLOCK`."""
    block = bytearray()
    for piece in response.iter_bytes():
        block += piece
        if len(block) > MAX_NODE_BLOCK:
            raise DagFormatError(f"a root block over {MAX_NODE_BLOCK:,} bytes is not a UnixFS file node")
    return bytes(block)


def _block_size(response: httpx.Response) -> int:
    try:
        return int(json.loads(response.read())["Size"])
    except (ValueError, KeyError, TypeError):
        raise NodeApiError("block/stat", response.status_code, "no Size in the answer") from None


def _json_lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.iter_lines() if line.strip()]


def _last_json_line(response: httpx.Response) -> dict[str, Any]:
    lines = [line for line in _json_lines(response) if "Hash" in line]
    if not lines:
        raise NodeApiError("add", response.status_code, "no Hash in the answer")
    return lines[-1]

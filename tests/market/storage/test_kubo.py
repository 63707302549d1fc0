"""The kubo RPC backend beyond the shared contract, against a real js-ipfs daemon: blocks
altered inside the node are caught, content of other layouts is block-checked, an absent node
is a clear error."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pytest

from market.storage import BlockCorrupted, KuboStorage, StorageUnavailable
from market.storage.kubo import api_url_from
from market.storage.unixfs import CHUNK_SIZE
from tests.market.storage.conftest import random_bytes
from tests.market.storage.jsipfs import JsIpfsDaemon, free_port

pytestmark = pytest.mark.node


def _tamper_in_repo(daemon: JsIpfsDaemon, block: bytes) -> Path:
    """Flip one byte of the block file holding ``block`` in the daemon's flatfs store."""
    for path in (daemon.repo / "blocks").rglob("*.data"):
        if path.stat().st_size == len(block) and path.read_bytes() == block:
            altered = bytearray(block)
            altered[len(block) // 2] ^= 0x01
            path.write_bytes(bytes(altered))
            return path
    raise AssertionError("block not found in the daemon's repository")


def test_get_refuses_a_single_block_altered_inside_the_node(
    kubo_storage: KuboStorage, jsipfs_daemon: JsIpfsDaemon
) -> None:
    # Prepare
    data = random_bytes(5000, seed=41)
    cid = kubo_storage.put(data)
    _tamper_in_repo(jsipfs_daemon, data)
    # Execute / Assert
    with pytest.raises(BlockCorrupted):
        kubo_storage.get(cid)


def test_get_refuses_a_leaf_altered_inside_the_node(kubo_storage: KuboStorage, jsipfs_daemon: JsIpfsDaemon) -> None:
    data = random_bytes(3 * CHUNK_SIZE, seed=42)
    cid = kubo_storage.put(data)
    _tamper_in_repo(jsipfs_daemon, data[CHUNK_SIZE : 2 * CHUNK_SIZE])
    with pytest.raises(BlockCorrupted):
        kubo_storage.get(cid)
    with pytest.raises(BlockCorrupted):
        kubo_storage.export_car(cid, io.BytesIO())


def test_get_checks_content_of_another_layout_block_by_block(
    kubo_storage: KuboStorage, jsipfs_daemon: JsIpfsDaemon
) -> None:
    """A CID v0 (kubo's legacy default) cannot be recomputed from the bytes with our settings;
    the client falls back to `dag/export` and checks every block."""
    data = random_bytes(2 * CHUNK_SIZE + 17, seed=43)
    api = f"{jsipfs_daemon.api_url}/api/v0"
    cid = httpx.post(f"{api}/add", params={"cid-version": "0"}, files={"file": data}, timeout=30).json()["Hash"]
    assert kubo_storage.get(cid) == data


def test_put_pins_by_default(kubo_storage: KuboStorage, jsipfs_daemon: JsIpfsDaemon) -> None:
    cid = kubo_storage.put(random_bytes(100, seed=44))
    pins = httpx.post(f"{jsipfs_daemon.api_url}/api/v0/pin/ls", params={"arg": cid}, timeout=10)
    assert pins.status_code == 200
    assert len(pins.json()["Keys"]) == 1


def test_version_reports_the_node(kubo_storage: KuboStorage) -> None:
    assert "Version" in kubo_storage.version()


def test_absent_node_raises_storage_unavailable_after_retries() -> None:
    # Prepare: nobody listens on this port
    storage = KuboStorage(f"http://127.0.0.1:{free_port()}", retries=2, backoff=0.05, timeout=2)
    started = time.monotonic()
    # Execute / Assert
    with pytest.raises(StorageUnavailable, match="after 3 tries"):
        storage.put(b"nobody home")
    assert time.monotonic() - started >= 0.05 + 0.1
    storage.close()


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("http://127.0.0.1:5001", "http://127.0.0.1:5001"),
        ("http://127.0.0.1:5001/", "http://127.0.0.1:5001"),
        ("http://127.0.0.1:5001/api/v0", "http://127.0.0.1:5001"),
        ("/ip4/10.0.0.2/tcp/5001", "http://10.0.0.2:5001"),
        ("/dns4/ipfs.local/tcp/443/https", "https://ipfs.local:443"),
        ("/ip6/::1/tcp/5001", "http://[::1]:5001"),
    ],
)
def test_api_url_accepts_urls_and_multiaddrs(given: str, url: str) -> None:
    assert api_url_from(given) == url

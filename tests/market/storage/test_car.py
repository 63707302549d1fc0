"""CAR v1 export and import: round trips between stores and with a real IPFS node, and
malformed files."""

from __future__ import annotations

import io

import dag_cbor
import httpx
import pytest
from multiformats import varint

from market.storage import BlockCorrupted, CarFormatError, EmbeddedStorage
from market.storage.car import CarReader, encode_header, encode_section, read_car
from market.storage.dag_reader import iter_dag_blocks
from market.storage.unixfs import CHUNK_SIZE, parse_cid
from tests.market.storage.conftest import random_bytes
from tests.market.storage.jsipfs import JsIpfsDaemon


def _car_of(store: EmbeddedStorage, cid: str) -> bytes:
    sink = io.BytesIO()
    store.export_car(cid, sink)
    return sink.getvalue()


def test_car_round_trip_between_embedded_stores(tmp_path) -> None:
    # Prepare
    origin = EmbeddedStorage(tmp_path / "a")
    data = random_bytes(5 * CHUNK_SIZE + 3, seed=31)
    cid = origin.put(data)
    # Execute
    car = _car_of(origin, cid)
    fresh = EmbeddedStorage(tmp_path / "b")
    roots = fresh.import_car(io.BytesIO(car))
    # Assert
    assert roots == [cid]
    assert fresh.get(cid) == data
    assert fresh.pins() == [cid]
    assert _car_of(fresh, cid) == car


def test_exported_car_lists_root_then_blocks_parents_first(tmp_path) -> None:
    store = EmbeddedStorage(tmp_path)
    cid = store.put(random_bytes(3 * CHUNK_SIZE, seed=32))
    roots, blocks = read_car(_car_of(store, cid))
    assert roots == [parse_cid(cid)]
    assert list(blocks) == [c for c, _ in iter_dag_blocks(parse_cid(cid), store.get_block)]
    assert list(blocks)[0] == parse_cid(cid)


@pytest.mark.node
def test_embedded_car_imports_into_the_ipfs_node_and_cats_back(tmp_path, jsipfs_daemon: JsIpfsDaemon) -> None:
    """`ipfs dag import` of our CAR on the real node, then `ipfs cat` of the root."""
    store = EmbeddedStorage(tmp_path)
    data = random_bytes(4 * CHUNK_SIZE + 99, seed=33)
    cid = store.put(data)
    api = f"{jsipfs_daemon.api_url}/api/v0"
    answer = httpx.post(f"{api}/dag/import", files={"file": ("x.car", _car_of(store, cid))}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["Root"]["Cid"]["/"] == cid
    assert httpx.post(f"{api}/cat", params={"arg": cid}, timeout=30).content == data


@pytest.mark.node
def test_ipfs_node_dag_export_imports_into_the_embedded_store(tmp_path, jsipfs_daemon: JsIpfsDaemon) -> None:
    """Content added to the real node by its own importer, exported with `ipfs dag export`."""
    data = random_bytes(3 * CHUNK_SIZE + 5, seed=34)
    api = f"{jsipfs_daemon.api_url}/api/v0"
    added = httpx.post(
        f"{api}/add", params={"cid-version": "1", "raw-leaves": "true"}, files={"file": data}, timeout=30
    )
    cid = str(parse_cid(added.json()["Hash"]).set(base="base32"))
    car = httpx.post(f"{api}/dag/export", params={"arg": cid}, timeout=30).content
    store = EmbeddedStorage(tmp_path)
    assert store.import_car(io.BytesIO(car)) == [cid]
    assert store.get(cid) == data


@pytest.mark.node
def test_import_of_content_added_as_cid_v0_reads_back(tmp_path, jsipfs_daemon: JsIpfsDaemon) -> None:
    """Kubo's legacy default (CID v0, UnixFS leaves with data) is read too, block-checked."""
    data = random_bytes(2 * CHUNK_SIZE + 5, seed=35)
    api = f"{jsipfs_daemon.api_url}/api/v0"
    cid = httpx.post(f"{api}/add", params={"cid-version": "0"}, files={"file": data}, timeout=30).json()["Hash"]
    assert cid.startswith("Qm")
    car = httpx.post(f"{api}/dag/export", params={"arg": cid}, timeout=30).content
    store = EmbeddedStorage(tmp_path)
    assert store.import_car(io.BytesIO(car)) == [cid]
    assert store.get(cid) == data


def test_import_refuses_a_tampered_block_and_keeps_nothing_wrong(tmp_path) -> None:
    origin = EmbeddedStorage(tmp_path / "a")
    cid = origin.put(random_bytes(2 * CHUNK_SIZE, seed=36))
    car = bytearray(_car_of(origin, cid))
    car[-100] ^= 0x40  # inside the last leaf
    fresh = EmbeddedStorage(tmp_path / "b")
    with pytest.raises(BlockCorrupted):
        fresh.import_car(io.BytesIO(bytes(car)))
    assert not fresh.has(cid)
    assert fresh.pins() == []


def test_truncated_car_is_refused(tmp_path) -> None:
    origin = EmbeddedStorage(tmp_path)
    car = _car_of(origin, origin.put(random_bytes(CHUNK_SIZE + 1, seed=37)))
    with pytest.raises(CarFormatError, match="truncated"):
        list(CarReader(io.BytesIO(car[:-10])))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (varint.encode(5) + b"\xa0", "truncated"),
        (varint.encode(3) + b"abc", "DAG-CBOR"),
        (varint.encode(len(h := dag_cbor.encode({"roots": [], "version": 2}))) + h, "version 1"),
        (varint.encode(len(h := dag_cbor.encode({"roots": ["x"], "version": 1}))) + h, "roots"),
        (
            encode_header([])
            + encode_section(parse_cid("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"), b"")[:3],
            "truncated",
        ),
    ],
)
def test_malformed_car_files_are_refused(payload: bytes, message: str) -> None:
    with pytest.raises(CarFormatError, match=message):
        list(CarReader(io.BytesIO(payload)))

"""The contract of :class:`market.storage.Storage`, run against every backend (the
``storage`` fixture is parametrised over embedded and kubo-on-a-real-js-ipfs-daemon)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from market.storage import EmbeddedStorage, InvalidCid, NotFound, Storage, compute_cid
from market.storage.exceptions import BlockCorrupted
from market.storage.unixfs import CHUNK_SIZE
from tests.market.storage.conftest import random_bytes

SIZES = [0, 1, 1000, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 7]


def absent_cid() -> str:
    """The CID of content that no test stores."""
    return compute_cid(b"never stored anywhere " + random_bytes(16, seed=99))


@pytest.mark.parametrize("size", SIZES)
def test_put_returns_the_kubo_cid_and_get_returns_the_bytes(storage: Storage, size: int) -> None:
    # Prepare
    data = random_bytes(size, seed=size)
    # Execute
    cid = storage.put(data)
    # Assert
    assert cid == compute_cid(data)
    assert storage.get(cid) == data


def test_put_of_a_two_level_dag_round_trips(storage: Storage, two_level_blob: bytes) -> None:
    cid = storage.put(two_level_blob)
    assert cid == compute_cid(two_level_blob)
    assert storage.get(cid) == two_level_blob


def test_put_is_idempotent(storage: Storage) -> None:
    data = random_bytes(CHUNK_SIZE + 5, seed=1)
    assert storage.put(data) == storage.put(data)


def test_put_stream_in_odd_pieces_gives_the_same_cid_as_put(storage: Storage) -> None:
    data = random_bytes(2 * CHUNK_SIZE + 333, seed=2)
    pieces = [data[i : i + 99_991] for i in range(0, len(data), 99_991)]
    assert storage.put_stream(pieces) == compute_cid(data)


def test_put_file_and_get_file_round_trip(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(random_bytes(CHUNK_SIZE * 2 + 1, seed=3))
    cid = storage.put_file(source)
    target = tmp_path / "copy.bin"
    assert storage.get_file(cid, target) == source.stat().st_size
    assert target.read_bytes() == source.read_bytes()


def test_get_file_of_missing_content_leaves_no_file(storage: Storage, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(NotFound):
        storage.get_file(absent_cid(), out_dir / "out.bin")
    assert list(out_dir.iterdir()) == []


def test_get_into_a_stream_returns_the_size(storage: Storage) -> None:
    data = random_bytes(CHUNK_SIZE + 10, seed=4)
    cid = storage.put(data)
    sink = io.BytesIO()
    assert storage.get_into(cid, sink) == len(data)
    assert sink.getvalue() == data


def test_has_is_true_after_put_and_false_for_unknown_content(storage: Storage) -> None:
    cid = storage.put(b"held")
    assert storage.has(cid)
    assert not storage.has(absent_cid())


def test_get_of_unknown_content_raises_not_found(storage: Storage) -> None:
    with pytest.raises(NotFound):
        storage.get(absent_cid())


def test_pin_accepts_stored_content(storage: Storage) -> None:
    cid = storage.put(random_bytes(CHUNK_SIZE * 2, seed=5))
    storage.pin(cid)
    assert storage.has(cid)


def test_pin_of_unknown_content_raises_not_found(storage: Storage) -> None:
    with pytest.raises(NotFound):
        storage.pin(absent_cid())


@pytest.mark.parametrize("text", ["", "not-a-cid", "bafy", "Qm123"])
def test_malformed_cid_is_refused(storage: Storage, text: str) -> None:
    with pytest.raises(InvalidCid):
        storage.get(text)


def test_cids_in_other_bases_are_accepted(storage: Storage) -> None:
    from multiformats import CID

    cid = storage.put(b"base58 please")
    assert storage.get(str(CID.decode(cid).set(base="base58btc"))) == b"base58 please"


def test_export_car_imports_into_a_fresh_embedded_store(storage: Storage, tmp_path: Path) -> None:
    # Prepare
    data = random_bytes(3 * CHUNK_SIZE + 1, seed=6)
    cid = storage.put(data)
    car = io.BytesIO()
    # Execute
    storage.export_car(cid, car)
    fresh = EmbeddedStorage(tmp_path / "fresh")
    roots = fresh.import_car(io.BytesIO(car.getvalue()))
    # Assert
    assert roots == [cid]
    assert fresh.get(cid) == data


def test_import_car_from_the_embedded_store(storage: Storage, tmp_path: Path) -> None:
    data = random_bytes(2 * CHUNK_SIZE + 77, seed=7)
    origin = EmbeddedStorage(tmp_path / "origin")
    cid = origin.put(data)
    car = io.BytesIO()
    origin.export_car(cid, car)
    assert storage.import_car(io.BytesIO(car.getvalue())) == [cid]
    assert storage.has(cid)
    assert storage.get(cid) == data


def test_import_car_refuses_a_block_that_does_not_match_its_cid(storage: Storage, tmp_path: Path) -> None:
    data = random_bytes(5000, seed=8)
    origin = EmbeddedStorage(tmp_path / "origin")
    cid = origin.put(data)
    car = bytearray()
    buffer = io.BytesIO()
    origin.export_car(cid, buffer)
    car += buffer.getvalue()
    car[-1] ^= 0xFF  # last byte of the only block
    with pytest.raises(BlockCorrupted):
        storage.import_car(io.BytesIO(bytes(car)))
    assert not storage.has(cid)

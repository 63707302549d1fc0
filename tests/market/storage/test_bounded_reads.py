"""Bounded reads (issue 12, finding 2): ``get(cid, max_bytes=…)`` checks the root's declared
size before reading, cuts the stream at the limit, and names a directory or another codec as a
content fault, on every backend (embedded, and kubo on a real js-ipfs daemon)."""

from __future__ import annotations

import io
import time

import pytest

from benchmarks.hostile_dags import (
    HostileDag,
    dag_bomb,
    dag_cbor_block,
    directory,
    empty_children,
    lying_root,
    tiny_blocks,
)
from market.storage import (
    ContentFault,
    DagFormatError,
    EmbeddedStorage,
    NotFound,
    Storage,
    StorageUnavailable,
    TooLarge,
)
from market.storage.unixfs import CHUNK_SIZE
from tests.market.storage.conftest import random_bytes
from tests.market.storage.test_storage_conformance import absent_cid

LIMIT = 64 << 20
"""The default ``limits.max_update_bytes`` of a task spec."""


def _store(storage: Storage, dag: HostileDag) -> str:
    """Put the hostile blocks where ``storage`` reads them (a node imports the CAR)."""
    if isinstance(storage, EmbeddedStorage):
        return dag.put_into(storage)
    (root,) = storage.import_car(io.BytesIO(dag.car()))
    return root


@pytest.mark.parametrize("size", [1000, CHUNK_SIZE, 3 * CHUNK_SIZE + 7])
def test_get_within_the_limit_returns_the_bytes(storage: Storage, size: int) -> None:
    data = random_bytes(size, seed=size)
    cid = storage.put(data)
    assert storage.get(cid, max_bytes=size) == data


@pytest.mark.parametrize("size", [1000, CHUNK_SIZE, 3 * CHUNK_SIZE + 7])
def test_get_over_the_limit_raises_too_large_naming_limit_and_size(storage: Storage, size: int) -> None:
    cid = storage.put(random_bytes(size, seed=size))
    with pytest.raises(TooLarge) as raised:
        storage.get(cid, max_bytes=size - 1)
    assert raised.value.limit == size - 1 and raised.value.declared == size
    assert f"{size - 1:,}" in str(raised.value) and f"{size:,}" in str(raised.value)


def test_a_dag_bomb_is_refused_from_its_root_without_reading_content(storage: Storage) -> None:
    # Prepare: the review's attack, 289 kB of blocks whose root declares 1.38 TB
    bomb = dag_bomb()
    assert bomb.stored_bytes < 300_000 and bomb.declared > 1.3e12
    cid = _store(storage, bomb)
    sink = io.BytesIO()
    # Execute
    started = time.perf_counter()
    with pytest.raises(TooLarge) as raised:
        storage.get_into(cid, sink, max_bytes=LIMIT)
    # Assert: refused from the root alone, nothing written, in well under a second
    assert raised.value.declared == bomb.declared == 1_380_980_883_456
    assert "1,380,980,883,456" in str(raised.value) and f"{LIMIT:,}" in str(raised.value)
    assert sink.getvalue() == b""
    assert time.perf_counter() - started < 2.0
    assert isinstance(raised.value, ContentFault)


def test_a_dag_bomb_under_a_lying_root_is_cut_at_the_limit(storage: Storage) -> None:
    """The root says 100 bytes over the bomb: the read stops at the limit (or at the child that
    holds more than its parent says), and the sink never holds more than the limit."""
    cid = _store(storage, lying_root(100, inner=dag_bomb()))
    sink = io.BytesIO()
    with pytest.raises((TooLarge, DagFormatError)):
        storage.get_into(cid, sink, max_bytes=1000)
    assert len(sink.getvalue()) <= 1000


def test_a_root_understating_its_size_is_cut_at_the_limit(storage: Storage) -> None:
    cid = _store(storage, lying_root(100))
    sink = io.BytesIO()
    with pytest.raises(TooLarge):
        storage.get_into(cid, sink, max_bytes=1000)
    assert len(sink.getvalue()) <= 1000


def test_a_directory_is_a_dag_format_error_not_a_node_error(storage: Storage) -> None:
    cid = _store(storage, directory())
    with pytest.raises(DagFormatError, match="not a file"):
        storage.get(cid, max_bytes=LIMIT)
    with pytest.raises(DagFormatError):
        storage.get(cid)


def test_a_dag_cbor_block_is_a_dag_format_error(storage: Storage) -> None:
    cid = _store(storage, dag_cbor_block())
    with pytest.raises(DagFormatError, match="dag-cbor"):
        storage.get(cid, max_bytes=LIMIT)


def test_a_dag_of_one_byte_blocks_is_refused_before_it_costs_a_block_per_byte(storage: Storage) -> None:
    cid = _store(storage, tiny_blocks(1500))
    with pytest.raises(DagFormatError, match="blocks"):
        storage.get(cid, max_bytes=1500)


def test_children_that_hold_nothing_are_refused(storage: Storage) -> None:
    cid = _store(storage, empty_children())
    started = time.perf_counter()
    with pytest.raises(DagFormatError, match="empty child"):
        storage.get(cid, max_bytes=LIMIT)
    assert time.perf_counter() - started < 2.0


def test_a_raw_leaf_over_the_limit_is_too_large(storage: Storage) -> None:
    cid = storage.put(random_bytes(CHUNK_SIZE, seed=5))
    assert cid.startswith("bafk")  # one chunk: a raw leaf
    with pytest.raises(TooLarge):
        storage.get(cid, max_bytes=1000)


def test_missing_content_stays_not_found_under_a_limit(storage: Storage) -> None:
    with pytest.raises(NotFound):
        storage.get(absent_cid(), max_bytes=LIMIT)


def test_get_file_keeps_no_partial_file_when_too_large(storage: Storage, tmp_path) -> None:
    cid = storage.put(random_bytes(3 * CHUNK_SIZE, seed=6))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(TooLarge):
        storage.get_file(cid, out_dir / "out.bin", max_bytes=CHUNK_SIZE)
    assert list(out_dir.iterdir()) == []


def test_embedded_has_walks_a_bomb_once_per_distinct_block(embedded_storage: EmbeddedStorage) -> None:
    cid = dag_bomb().put_into(embedded_storage)
    started = time.perf_counter()
    assert embedded_storage.has(cid)
    embedded_storage.pin(cid)
    assert time.perf_counter() - started < 2.0


def test_content_faults_and_unavailability_are_apart() -> None:
    for fault in (TooLarge, DagFormatError, NotFound):
        assert issubclass(fault, ContentFault)
    assert not issubclass(StorageUnavailable, ContentFault)

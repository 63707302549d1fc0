"""The embedded block store beyond the shared contract: tampered and missing blocks, layout,
pins."""

from __future__ import annotations

import io

import pytest

from market.config import MarketConfig
from market.exceptions import ConfigError
from market.storage import BlockCorrupted, EmbeddedStorage, KuboStorage, NotFound, open_storage
from market.storage.unixfs import CHUNK_SIZE, DAG_PB, RAW, cid_to_str, decode_dag_pb, parse_cid
from tests.market.storage.conftest import random_bytes


def _flip_byte(path, index: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


def test_get_refuses_a_tampered_leaf(embedded_storage: EmbeddedStorage) -> None:
    # Prepare
    cid = embedded_storage.put(random_bytes(3 * CHUNK_SIZE, seed=21))
    root = parse_cid(cid)
    leaf = decode_dag_pb(embedded_storage.get_block(root)).links[1].cid
    _flip_byte(embedded_storage.block_path(leaf), 1000)
    # Execute / Assert
    with pytest.raises(BlockCorrupted) as caught:
        embedded_storage.get(cid)
    assert caught.value.cid == cid_to_str(leaf)


def test_get_refuses_a_tampered_root_node(embedded_storage: EmbeddedStorage) -> None:
    cid = embedded_storage.put(random_bytes(2 * CHUNK_SIZE, seed=22))
    _flip_byte(embedded_storage.block_path(parse_cid(cid)), -1)
    with pytest.raises(BlockCorrupted):
        embedded_storage.get(cid)


def test_get_refuses_a_tampered_single_block_blob(embedded_storage: EmbeddedStorage) -> None:
    cid = embedded_storage.put(b"model weights")
    _flip_byte(embedded_storage.block_path(parse_cid(cid)))
    with pytest.raises(BlockCorrupted):
        embedded_storage.get(cid)
    with pytest.raises(BlockCorrupted):
        embedded_storage.export_car(cid, io.BytesIO())


def test_put_again_repairs_a_damaged_block(embedded_storage: EmbeddedStorage) -> None:
    data = random_bytes(1000, seed=23)
    cid = embedded_storage.put(data)
    _flip_byte(embedded_storage.block_path(parse_cid(cid)))
    assert embedded_storage.put(data) == cid
    assert embedded_storage.get(cid) == data


def test_missing_leaf_makes_has_false_and_get_raise_not_found(embedded_storage: EmbeddedStorage) -> None:
    cid = embedded_storage.put(random_bytes(2 * CHUNK_SIZE + 1, seed=24))
    leaf = decode_dag_pb(embedded_storage.get_block(parse_cid(cid))).links[-1].cid
    embedded_storage.block_path(leaf).unlink()
    assert not embedded_storage.has(cid)
    with pytest.raises(NotFound):
        embedded_storage.get(cid)
    with pytest.raises(NotFound):
        embedded_storage.pin(cid)


def test_blocks_are_files_named_by_cid_with_raw_leaves(embedded_storage: EmbeddedStorage) -> None:
    cid = embedded_storage.put(random_bytes(2 * CHUNK_SIZE, seed=25))
    files = sorted(p for p in embedded_storage.root.rglob("*") if p.is_file())
    codecs = sorted(parse_cid(p.name).codec.code for p in files)
    assert codecs == [RAW, RAW, DAG_PB]
    assert all(p.parent.name == p.name[-3:-1] for p in files)
    assert parse_cid(cid).codec.code == DAG_PB


def test_pin_records_the_root(embedded_storage: EmbeddedStorage) -> None:
    cid = embedded_storage.put(b"pin me")
    embedded_storage.pin(cid)
    assert embedded_storage.pins() == [cid]


def test_open_storage_follows_the_configuration(tmp_path) -> None:
    embedded = open_storage(MarketConfig(home=tmp_path, storage="embedded"))
    assert isinstance(embedded, EmbeddedStorage)
    assert embedded.root == tmp_path / "blocks"
    kubo = open_storage(MarketConfig(home=tmp_path, storage="kubo", ipfs_api="/ip4/127.0.0.1/tcp/5099"))
    assert isinstance(kubo, KuboStorage)
    assert kubo.api_url == "http://127.0.0.1:5099"
    kubo.close()
    with pytest.raises(ConfigError):
        open_storage(MarketConfig(home=tmp_path, storage="s3"))

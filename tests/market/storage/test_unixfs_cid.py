"""CIDs from :mod:`market.storage.unixfs` against an independent implementation: the npm
``ipfs-unixfs-importer`` with kubo's settings, run through node (``unixfs_cid.mjs``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from market.storage.dag_reader import iter_file_content
from market.storage.unixfs import (
    CHUNK_SIZE,
    DAG_PB,
    MAX_LINKS,
    UNIXFS_FILE,
    build_file_dag,
    cid_to_str,
    compute_cid,
    decode_dag_pb,
    decode_unixfs,
)
from tests.market.storage.conftest import TWO_LEVEL_SIZE, random_bytes, reference_cids

EMPTY_FILE_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
"""What kubo prints for `ipfs add --cid-version=1` of an empty file (a raw leaf)."""

BOUNDARY_SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 10 * CHUNK_SIZE - 1]


def _random_sizes(count: int, seed: int, upper: int) -> list[int]:
    import numpy as np

    return [int(s) for s in np.random.default_rng(seed).integers(2, upper, size=count)]


def _write(tmp_path: Path, sizes: list[int]) -> list[tuple[Path, bytes]]:
    files = []
    for index, size in enumerate(sizes):
        data = random_bytes(size, seed=1000 + index)
        path = tmp_path / f"blob-{index}-{size}.bin"
        path.write_bytes(data)
        files.append((path, data))
    return files


def test_compute_cid_of_the_empty_file_is_kubos() -> None:
    assert compute_cid(b"") == EMPTY_FILE_CID


@pytest.mark.node
def test_cids_match_the_npm_importer_on_boundaries_and_random_sizes(tmp_path: Path) -> None:
    # Prepare: chunk boundaries, random sizes up to 4 MiB, exactly 174 chunks (one full node)
    # and 175+ chunks (two levels of dag-pb nodes).
    sizes = BOUNDARY_SIZES + _random_sizes(6, seed=12, upper=4 << 20) + [MAX_LINKS * CHUNK_SIZE, TWO_LEVEL_SIZE]
    files = _write(tmp_path, sizes)
    # Execute
    expected = reference_cids([path for path, _ in files])
    ours = [compute_cid(data) for _, data in files]
    # Assert
    assert ours == expected
    assert expected[0] == EMPTY_FILE_CID


@pytest.mark.node
@pytest.mark.parametrize(("chunk_size", "max_links", "levels"), [(1000, 3, 4), (64, 2, 7), (4096, 7, 3)])
def test_deep_dags_match_the_npm_importer(tmp_path: Path, chunk_size: int, max_links: int, levels: int) -> None:
    """Many-level DAGs (up to 8 levels) on small files, by shrinking chunks and fan-out in
    both implementations: the balanced layout is exercised where kubo's defaults would need
    gigabytes."""
    sizes = [chunk_size * max_links**k + extra for k in range(1, levels + 1) for extra in (-1, 0, 1)]
    sizes += _random_sizes(4, seed=chunk_size, upper=chunk_size * max_links**levels)
    files = _write(tmp_path, sizes)
    expected = reference_cids([p for p, _ in files], chunk_size=chunk_size, max_links=max_links)
    ours = [cid_to_str(build_file_dag([data], chunk_size=chunk_size, max_links=max_links)) for _, data in files]
    assert ours == expected


def test_two_level_dag_has_the_expected_shape_and_reads_back(two_level_blob: bytes) -> None:
    # Prepare
    blocks: dict = {}
    root = build_file_dag([two_level_blob], lambda cid, block: blocks.__setitem__(cid, block))
    # Execute
    node = decode_dag_pb(blocks[root])
    unixfs = decode_unixfs(node.data or b"")
    # Assert: a root over two parents (174 leaves and 1 leaf), sizes adding up
    assert root.codec.code == DAG_PB
    assert unixfs.type == UNIXFS_FILE
    assert unixfs.filesize == len(two_level_blob)
    assert len(node.links) == 2
    assert unixfs.blocksizes == (MAX_LINKS * CHUNK_SIZE, len(two_level_blob) - MAX_LINKS * CHUNK_SIZE)
    assert all(link.name == "" for link in node.links)
    assert b"".join(iter_file_content(root, blocks.__getitem__)) == two_level_blob


def test_builder_gives_the_same_cid_for_any_write_pattern() -> None:
    data = random_bytes(3 * CHUNK_SIZE + 12345, seed=13)
    whole = build_file_dag([data])
    bytewise_tail = build_file_dag([data[:-10], *[data[i : i + 1] for i in range(len(data) - 10, len(data))]])
    odd = build_file_dag([data[i : i + 7777] for i in range(0, len(data), 7777)])
    assert whole == bytewise_tail == odd


def test_missing_npm_package_fails_the_test_with_the_npm_ci_hint() -> None:
    """Tests that need node_modules fail (never skip) and say what to run."""
    from tests.market.storage.jsipfs import require_node_package

    with pytest.raises(pytest.fail.Exception, match="npm install"):
        require_node_package("no-such-package-for-this-test")

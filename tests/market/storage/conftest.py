"""Fixtures of the storage tests: every backend (embedded, kubo on a real js-ipfs daemon),
blobs of the interesting sizes, and the npm UnixFS importer as the reference for CIDs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from market.storage import EmbeddedStorage, KuboStorage, Storage
from market.storage.unixfs import CHUNK_SIZE, MAX_LINKS
from tests.market.storage.jsipfs import REPO_ROOT, JsIpfsDaemon, require_node_package, start_jsipfs

UNIXFS_CID_SCRIPT = Path(__file__).with_name("unixfs_cid.mjs")
BACKENDS = ["embedded", pytest.param("kubo", marks=pytest.mark.node)]
TWO_LEVEL_SIZE = (MAX_LINKS + 1) * CHUNK_SIZE + 1000
"""A blob whose DAG has two levels of dag-pb nodes (175 leaves > 174 links)."""


def random_bytes(size: int, seed: int = 0) -> bytes:
    """Reproducible random bytes."""
    return np.random.default_rng(seed).bytes(size)


def reference_cids(paths: list[Path], *, chunk_size: int = CHUNK_SIZE, max_links: int = MAX_LINKS) -> list[str]:
    """CIDs of ``paths`` by the npm ``ipfs-unixfs-importer`` with kubo's settings."""
    node = require_node_package("ipfs-unixfs-importer")
    require_node_package("blockstore-core")
    args = [node, str(UNIXFS_CID_SCRIPT), "--chunk-size", str(chunk_size), "--max-links", str(max_links)]
    done = subprocess.run([*args, *map(str, paths)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"unixfs_cid.mjs failed: {done.stderr[-2000:]}"
    return done.stdout.split()


@pytest.fixture(scope="session")
def jsipfs_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JsIpfsDaemon]:
    """One offline js-ipfs daemon for the session, stopped by PID at the end."""
    daemon = start_jsipfs(tmp_path_factory.mktemp("jsipfs"))
    yield daemon
    daemon.stop()


@pytest.fixture
def embedded_storage(tmp_path: Path) -> EmbeddedStorage:
    return EmbeddedStorage(tmp_path / "blocks")


@pytest.fixture
def kubo_storage(jsipfs_daemon: JsIpfsDaemon) -> Iterator[KuboStorage]:
    # short timeouts: the daemon is offline, so a missing block is missing for good
    with KuboStorage(jsipfs_daemon.api_url, fetch_timeout=2, has_timeout=1, retries=1, backoff=0.1) as storage:
        yield storage  # type: ignore[misc]


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest) -> Storage:
    """Each backend in turn: the conformance suite runs once per backend."""
    return request.getfixturevalue(f"{request.param}_storage")


@pytest.fixture(scope="session")
def two_level_blob() -> bytes:
    return random_bytes(TWO_LEVEL_SIZE, seed=175)

"""Partitioners: every sample once, reproducible, and Dirichlet(α) skews for small α."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainers.exceptions import PartitionError
from trainers.partition import (
    label_histogram,
    partition,
    partition_dirichlet,
    partition_iid,
    partition_quantity_skew,
)

LABELS = np.repeat(np.arange(10), 100)  # 1000 samples, 10 balanced classes


def _covers_once(parts: list[np.ndarray], total: int) -> bool:
    joined = np.concatenate(parts)
    return len(joined) == total and np.array_equal(np.sort(joined), np.arange(total))


@settings(max_examples=30, deadline=None)
@given(n_samples=st.integers(10, 300), n=st.integers(1, 10), seed=st.integers(0, 2**32 - 1))
def test_partition_iid_covers_every_sample_once(n_samples: int, n: int, seed: int) -> None:
    parts = partition_iid(np.zeros(n_samples, np.int64), n, seed)
    assert len(parts) == n
    assert _covers_once(parts, n_samples)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 8), alpha=st.sampled_from([0.1, 0.5, 1.0, 100.0]), seed=st.integers(0, 10_000))
def test_partition_dirichlet_covers_every_sample_once(n: int, alpha: float, seed: int) -> None:
    parts = partition_dirichlet(LABELS, n, alpha, seed, min_size=5)
    assert len(parts) == n
    assert _covers_once(parts, len(LABELS))
    assert min(map(len, parts)) >= 5


@pytest.mark.parametrize("func", [
    lambda seed: partition_iid(LABELS, 5, seed),
    lambda seed: partition_dirichlet(LABELS, 5, 0.3, seed),
    lambda seed: partition_quantity_skew(LABELS, 5, seed),
])  # fmt: skip
def test_partitions_are_reproducible_and_seed_dependent(func) -> None:
    a, b, c = func(11), func(11), func(12)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert any(not np.array_equal(x, y) for x, y in zip(a, c))


def _mean_label_entropy(parts: list[np.ndarray]) -> float:
    hist = label_histogram(LABELS, parts, 10).astype(float)
    p = hist / hist.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.nansum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
    return float(ent.mean())


def test_partition_dirichlet_small_alpha_skews_labels() -> None:
    skewed = _mean_label_entropy(partition_dirichlet(LABELS, 8, 0.1, seed=0))
    near_iid = _mean_label_entropy(partition_dirichlet(LABELS, 8, 100.0, seed=0))
    iid = _mean_label_entropy(partition_iid(LABELS, 8, seed=0))
    assert near_iid > 0.95 * np.log(10) and iid > 0.95 * np.log(10)
    assert skewed < 0.6 * np.log(10)


def test_partition_quantity_skew_sizes_vary_and_cover() -> None:
    parts = partition_quantity_skew(LABELS, 8, seed=1, beta=0.3, min_size=10)
    sizes = sorted(map(len, parts))
    assert _covers_once(parts, len(LABELS))
    assert sizes[0] >= 10
    assert sizes[-1] > 3 * sizes[0]


def test_partition_dispatch_and_errors() -> None:
    assert len(partition(LABELS, 4, "dirichlet", seed=0, alpha=1.0)) == 4
    with pytest.raises(PartitionError, match="unknown partition scheme"):
        partition(LABELS, 4, "pathological")
    with pytest.raises(PartitionError, match="cannot give 300 shares"):
        partition_dirichlet(LABELS, 300, 0.5, 0, min_size=5)
    with pytest.raises(PartitionError, match="alpha must be > 0"):
        partition_dirichlet(LABELS, 3, 0.0, 0)

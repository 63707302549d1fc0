"""Partitioners: split one labelled data set into N trainers' shares, reproducibly.

Pure functions of the labels (or just their count) and a seed; each returns a list of N sorted
int64 index arrays.

- :func:`partition_iid`: a random permutation cut into N near-equal parts.
- :func:`partition_dirichlet`: label skew (non-IID) as in Hsu et al., "Measuring the Effects of
  Non-Identical Data Distribution for Federated Visual Classification" (arXiv 1909.06335) and
  FedML/NIID-Bench: for each class, the shares of that class follow Dirichlet(α·1). Small α →
  each trainer sees few classes; large α → close to IID. Redrawn until every share has
  ``min_size`` samples.
- :func:`partition_quantity_skew`: share sizes follow Dirichlet(β·1) (NIID-Bench's quantity
  skew), samples assigned at random (labels IID within each share).

All three use every sample exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from trainers.exceptions import PartitionError

__all__ = ["PARTITIONERS", "label_histogram", "partition", "partition_dirichlet", "partition_iid",
           "partition_quantity_skew"]


def _labels(y: Sequence[int] | np.ndarray | int) -> np.ndarray:
    if isinstance(y, (int, np.integer)):
        return np.zeros(int(y), dtype=np.int64)
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise PartitionError(f"labels must be one-dimensional; got shape {labels.shape}")
    return labels.astype(np.int64)


def _check_n(total: int, n: int, min_size: int) -> None:
    if n < 1:
        raise PartitionError(f"the number of shares must be >= 1, got {n}")
    if min_size < 0:
        raise PartitionError(f"min_size must be >= 0, got {min_size}")
    if total < n * min_size:
        raise PartitionError(f"{total} samples cannot give {n} shares of at least {min_size}")


def partition_iid(y: Sequence[int] | np.ndarray | int, n: int, seed: int) -> list[np.ndarray]:
    """A random permutation of the samples cut into ``n`` parts whose sizes differ by at most 1."""
    labels = _labels(y)
    _check_n(len(labels), n, 0)
    order = np.random.default_rng(seed).permutation(len(labels))
    return [np.sort(part).astype(np.int64) for part in np.array_split(order, n)]


def partition_dirichlet(y: Sequence[int] | np.ndarray, n: int, alpha: float, seed: int, *, min_size: int = 2,
                        max_tries: int = 1000) -> list[np.ndarray]:
    """Label-skewed shares: class ``c``'s samples are split among the ``n`` shares in
    proportions ``p_c ~ Dirichlet(alpha·1)``; redrawn (same RNG stream, so still reproducible)
    until every share holds at least ``min_size`` samples."""
    labels = _labels(y)
    _check_n(len(labels), n, min_size)
    if not alpha > 0:
        raise PartitionError(f"the Dirichlet alpha must be > 0, got {alpha}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    for _ in range(max_tries):
        shares: list[list[np.ndarray]] = [[] for _ in range(n)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            proportions = rng.dirichlet(np.full(n, float(alpha)))
            cuts = (np.cumsum(proportions)[:-1] * len(idx)).astype(np.int64)
            for share, part in zip(shares, np.split(idx, cuts)):
                share.append(part)
        parts = [np.sort(np.concatenate(s)).astype(np.int64) for s in shares]
        if min(len(p) for p in parts) >= min_size:
            return parts
    raise PartitionError(f"no Dirichlet(alpha={alpha}) partition into {n} shares of at least {min_size} samples "
                         f"in {max_tries} draws; raise alpha, lower n or min_size")


def partition_quantity_skew(y: Sequence[int] | np.ndarray | int, n: int, seed: int, *, beta: float = 0.5,
                            min_size: int = 2) -> list[np.ndarray]:
    """Shares of skewed sizes: each share first gets ``min_size`` samples, the rest are dealt
    in proportions ``q ~ Dirichlet(beta·1)`` (multinomial); which samples go where is random."""
    labels = _labels(y)
    total = len(labels)
    _check_n(total, n, min_size)
    if not beta > 0:
        raise PartitionError(f"the quantity-skew beta must be > 0, got {beta}")
    rng = np.random.default_rng(seed)
    proportions = rng.dirichlet(np.full(n, float(beta)))
    sizes = min_size + rng.multinomial(total - n * min_size, proportions)
    order = rng.permutation(total)
    return [np.sort(part).astype(np.int64) for part in np.split(order, np.cumsum(sizes)[:-1])]


PARTITIONERS: dict[str, Callable[..., list[np.ndarray]]] = {
    "iid": partition_iid,
    "dirichlet": partition_dirichlet,
    "quantity": partition_quantity_skew,
}
"""Scheme name → partitioner."""


def partition(y: Sequence[int] | np.ndarray, n: int, scheme: str = "iid", *, seed: int = 0, **kwargs) -> list[np.ndarray]:
    """Dispatch by name: ``"iid"``, ``"dirichlet"`` (``alpha=``), ``"quantity"`` (``beta=``)."""
    func = PARTITIONERS.get(scheme)
    if func is None:
        raise PartitionError(f"unknown partition scheme {scheme!r}; known: {sorted(PARTITIONERS)}")
    if scheme == "dirichlet":
        kwargs.setdefault("alpha", 0.5)
        return func(y, n, kwargs.pop("alpha"), seed, **kwargs)
    return func(y, n, seed, **kwargs)


def label_histogram(y: Sequence[int] | np.ndarray, parts: Sequence[np.ndarray], num_classes: int) -> np.ndarray:
    """``(n, num_classes)`` counts of each label in each share."""
    labels = _labels(y)
    return np.stack([np.bincount(labels[p], minlength=num_classes)[:num_classes] for p in parts])

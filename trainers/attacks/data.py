"""Data-level attacks: they change the local data set before training.

``label_flip`` (malicious), ``noisy_labels``, ``blur`` and ``low_resolution`` (unreliable); see
:mod:`trainers.attacks` for the table of parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from trainers.attacks.base import Attack, check_fraction, check_positive, chosen_indices
from trainers.data import Dataset
from trainers.exceptions import AttackSpecError

__all__ = ["Blur", "LabelFlip", "LowResolution", "NoisyLabels"]


@dataclass(frozen=True)
class LabelFlip(Attack):
    """Malicious: relabel ``fraction`` of the samples, ``y → C−1−y`` or by a derangement."""

    name: ClassVar[str] = "label_flip"
    level: ClassVar[str] = "data"
    kind: ClassVar[str] = "malicious"
    main: ClassVar[str | None] = "fraction"
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"mode": ("reverse", "permutation")}
    mode: str = "reverse"
    fraction: float = 1.0

    def check(self) -> None:
        check_fraction(self, "fraction")

    def mapping(self, num_classes: int, rng: np.random.Generator) -> np.ndarray:
        """``mapping[c]`` = the label class ``c`` becomes (never ``c`` itself when C ≥ 2)."""
        if self.mode == "reverse":
            return np.arange(num_classes - 1, -1, -1, dtype=np.int64)
        shift = rng.permutation(num_classes)  # a cyclic shift over a random order: no fixed point
        out = np.empty(num_classes, dtype=np.int64)
        out[shift] = np.roll(shift, -1)
        return out

    def apply_data(self, dataset: Dataset, *, num_classes: int, rng: np.random.Generator) -> Dataset:
        mapping = self.mapping(num_classes, rng)
        y = dataset.y.copy()
        idx = chosen_indices(len(y), self.fraction, rng)
        y[idx] = mapping[y[idx]]
        return dataset.replace(y=y)


@dataclass(frozen=True)
class NoisyLabels(Attack):
    """Unreliable: ``p`` of the samples get a uniformly random label among the other classes."""

    name: ClassVar[str] = "noisy_labels"
    level: ClassVar[str] = "data"
    kind: ClassVar[str] = "unreliable"
    main: ClassVar[str | None] = "p"
    p: float = 0.5

    def check(self) -> None:
        check_fraction(self, "p")

    def apply_data(self, dataset: Dataset, *, num_classes: int, rng: np.random.Generator) -> Dataset:
        y = dataset.y.copy()
        idx = chosen_indices(len(y), self.p, rng)
        offset = rng.integers(1, num_classes, size=len(idx))  # 1..C-1: never the same label
        y[idx] = (y[idx] + offset) % num_classes
        return dataset.replace(y=y)


def _image_view(X: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """``X`` as ``(n, C, H, W)``: (C,H,W) and (H,W) samples as they are, flat samples of a
    square size as one channel."""
    shape = X.shape[1:]
    if len(shape) == 3:
        return X, shape
    if len(shape) == 2:
        return X[:, None], shape
    size = math.prod(shape)
    side = math.isqrt(size)
    if side * side != size:
        raise AttackSpecError(f"image attacks need image-like samples; got sample shape {list(shape)}")
    return X.reshape(len(X), 1, side, side), shape


@dataclass(frozen=True)
class Blur(Attack):
    """Unreliable: Gaussian blur over height and width (``sigma`` in pixels)."""

    name: ClassVar[str] = "blur"
    level: ClassVar[str] = "data"
    kind: ClassVar[str] = "unreliable"
    main: ClassVar[str | None] = "sigma"
    sigma: float = 1.0

    def check(self) -> None:
        check_positive(self, "sigma")

    def apply_data(self, dataset: Dataset, *, num_classes: int, rng: np.random.Generator) -> Dataset:
        from scipy.ndimage import gaussian_filter

        images, shape = _image_view(dataset.X)
        blurred = gaussian_filter(images.astype(np.float64), sigma=(0, 0, self.sigma, self.sigma), mode="nearest")
        return dataset.replace(X=blurred.astype(np.float32).reshape((len(dataset), *shape)))


@dataclass(frozen=True)
class LowResolution(Attack):
    """Unreliable: each ``factor``×``factor`` block replaced by its mean (edges padded)."""

    name: ClassVar[str] = "low_resolution"
    level: ClassVar[str] = "data"
    kind: ClassVar[str] = "unreliable"
    main: ClassVar[str | None] = "factor"
    factor: int = 2

    def check(self) -> None:
        if self.factor < 1:
            raise AttackSpecError(f"{self.name}: factor must be an integer >= 1, got {self.factor}")

    def apply_data(self, dataset: Dataset, *, num_classes: int, rng: np.random.Generator) -> Dataset:
        images, shape = _image_view(dataset.X)
        f = self.factor
        n, c, h, w = images.shape
        ph, pw = -h % f, -w % f
        padded = np.pad(images, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="edge")
        blocks = padded.reshape(n, c, (h + ph) // f, f, (w + pw) // f, f).mean(axis=(3, 5))
        up = np.repeat(np.repeat(blocks, f, axis=2), f, axis=3)[:, :, :h, :w]
        return dataset.replace(X=up.astype(np.float32).reshape((n, *shape)))

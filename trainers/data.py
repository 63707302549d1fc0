"""Data sets of a trainer: a small container, loaders, the schema check and hold-out splits.

A :class:`Dataset` is ``X`` (float32, shaped ``(n, *input_shape)``) and ``y`` (int64 labels).
Loaders:

- :func:`load_digits_dataset`: scikit-learn's bundled handwritten digits (1797 samples of 8×8
  pixels, values 0–16, 10 classes; no network), shaped ``(64,)`` or ``(1, 8, 8)``;
  :func:`digits_train_test` splits it with a fixed seed.
- :func:`load_npz` (arrays ``X`` and ``y``), :func:`load_csv` (header row, label column named in
  the spec), :func:`load_image_folder` (one sub-folder per class, grayscale, resized with Pillow).
- :func:`load_dataset` picks one of those by path and conforms the result to a
  :class:`~market.task_spec.DataSection` (reshape when the per-sample size matches, then
  :func:`check_schema`).

:func:`check_schema` raises one :class:`~trainers.exceptions.DataSchemaError` subclass per kind
of mismatch (shape, labels, NaN/infinity, value range), naming what was found and expected.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from market.task_spec import DataSection
from trainers.exceptions import (
    DataLabelError,
    DataLoadError,
    DataNonFiniteError,
    DataRangeError,
    DataSchemaError,
    DataShapeError,
)

__all__ = [
    "Dataset",
    "check_schema",
    "conform",
    "digits_train_test",
    "holdout_split",
    "load_csv",
    "load_dataset",
    "load_digits_dataset",
    "load_image_folder",
    "load_npz",
]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


@dataclass(frozen=True)
class Dataset:
    """Inputs ``X`` (float32, ``(n, *input_shape)``) and labels ``y`` (int64, ``(n,)``)."""

    X: np.ndarray
    y: np.ndarray
    name: str = ""
    classes: tuple[str, ...] = field(default=())
    """Class names when the source has them (image folders); empty otherwise."""

    def __post_init__(self) -> None:
        X = np.ascontiguousarray(self.X, dtype=np.float32)
        y = np.asarray(self.y)
        if X.ndim < 2:
            raise DataSchemaError(f"inputs must be shaped (n, *input_shape); got shape {X.shape}")
        if y.ndim != 1 or len(y) != len(X):
            raise DataSchemaError(f"{len(X)} inputs but labels shaped {y.shape}: need one label per sample")
        if y.dtype.kind == "f":
            if not np.isfinite(y).all() or not np.all(y == np.round(y)):
                raise DataLabelError("labels must be integers; found non-integer values")
        elif y.dtype.kind not in "iub":
            raise DataLabelError(f"labels must be integers; found dtype {y.dtype}")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y.astype(np.int64))

    def __len__(self) -> int:
        return len(self.y)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.X.shape[1:])

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> Dataset:
        """The samples at ``indices`` (copied)."""
        idx = np.asarray(indices, dtype=np.int64)
        return Dataset(self.X[idx], self.y[idx], self.name if name is None else name, self.classes)

    def replace(self, *, X: np.ndarray | None = None, y: np.ndarray | None = None, name: str | None = None) -> Dataset:
        """A copy with new inputs, labels or name."""
        return Dataset(self.X if X is None else X, self.y if y is None else y,
                       self.name if name is None else name, self.classes)

    def class_counts(self, num_classes: int | None = None) -> np.ndarray:
        """Samples per label ``0 .. num_classes-1``."""
        size = int(num_classes if num_classes is not None else (self.y.max() + 1 if len(self.y) else 0))
        return np.bincount(self.y[(self.y >= 0) & (self.y < size)], minlength=size)


# --- built-in data -----------------------------------------------------------------------
def load_digits_dataset(input_shape: Sequence[int] = (64,)) -> Dataset:
    """scikit-learn's handwritten digits (bundled, no network): 1797 samples, values 0–16,
    shaped ``(64,)`` or ``(1, 8, 8)`` (any shape of 64 elements)."""
    from sklearn.datasets import load_digits

    shape = tuple(int(d) for d in input_shape)
    if math.prod(shape) != 64:
        raise DataShapeError(f"digits samples have 64 values (8×8); input_shape {list(shape)} holds {math.prod(shape)}")
    bunch = load_digits()
    X = bunch.data.astype(np.float32).reshape((-1, *shape))
    return Dataset(X, bunch.target.astype(np.int64), "digits", tuple(str(c) for c in bunch.target_names))


def digits_train_test(input_shape: Sequence[int] = (64,), *, test_fraction: float = 0.2,
                      seed: int = 0) -> tuple[Dataset, Dataset]:
    """The digits set split (stratified) into a train and a test part, fixed by ``seed``."""
    train, test = holdout_split(load_digits_dataset(input_shape), test_fraction, seed)
    return train.replace(name="digits-train"), test.replace(name="digits-test")


# --- splits ------------------------------------------------------------------------------
def holdout_split(dataset: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """``(rest, holdout)``: about ``fraction`` of each class goes to the hold-out (stratified),
    at least one sample on each side; reproducible for a seed."""
    if not 0.0 < fraction < 1.0:
        raise DataSchemaError(f"hold-out fraction must be strictly between 0 and 1, got {fraction}")
    n = len(dataset)
    if n < 2:
        raise DataSchemaError(f"a hold-out split needs at least 2 samples; the data set has {n}")
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for label in np.unique(dataset.y):
        idx = np.flatnonzero(dataset.y == label)
        rng.shuffle(idx)
        held.append(idx[: int(round(fraction * len(idx)))])
    hold = np.concatenate(held) if held else np.empty(0, np.int64)
    if len(hold) == 0:  # tiny or very skewed sets: fall back to one random sample
        hold = rng.permutation(n)[:1]
    if len(hold) == n:
        hold = hold[1:]
    mask = np.zeros(n, dtype=bool)
    mask[hold] = True
    return dataset.subset(np.flatnonzero(~mask)), dataset.subset(np.flatnonzero(mask))


# --- files -------------------------------------------------------------------------------
def _existing(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise DataLoadError(f"data path {str(p)!r} does not exist")
    return p


def load_npz(path: str | Path) -> Dataset:
    """A ``.npz`` file with arrays ``X`` (inputs, first axis = samples) and ``y`` (labels)."""
    p = _existing(path)
    try:
        with np.load(p, allow_pickle=False) as archive:
            names = set(archive.files)
            x_key = "X" if "X" in names else ("x" if "x" in names else None)
            if x_key is None or "y" not in names:
                raise DataLoadError(f"{p.name}: an .npz data file needs arrays 'X' and 'y'; it has {sorted(names)}")
            X, y = archive[x_key], archive["y"]
    except DataLoadError:
        raise
    except (OSError, ValueError) as err:
        raise DataLoadError(f"{p.name}: not a readable .npz file ({err})") from None
    if X.dtype.kind not in "fiub":
        raise DataLoadError(f"{p.name}: X must be numeric; it has dtype {X.dtype}")
    return Dataset(X.astype(np.float32), y, p.stem)


def load_csv(path: str | Path, label_column: str = "label") -> Dataset:
    """A CSV file with a header row; ``label_column`` holds integer labels, every other column
    a numeric feature (in file order)."""
    p = _existing(path)
    try:
        with p.open(newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as err:
        raise DataLoadError(f"{p.name}: cannot read CSV ({err})") from None
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if len(rows) < 2:
        raise DataLoadError(f"{p.name}: a CSV data file needs a header row and at least one sample row")
    header = [h.strip() for h in rows[0]]
    if label_column not in header:
        raise DataLoadError(f"{p.name}: no label column {label_column!r}; the header has {header}")
    label_at = header.index(label_column)
    X = np.empty((len(rows) - 1, len(header) - 1), dtype=np.float32)
    y = np.empty(len(rows) - 1, dtype=np.int64)
    for i, row in enumerate(rows[1:]):
        line = i + 2
        if len(row) != len(header):
            raise DataLoadError(f"{p.name} line {line}: {len(row)} fields, the header has {len(header)}")
        try:
            values = [float(c) for c in row]
        except ValueError:
            bad = next(c for c in row if not _is_float(c))
            raise DataLoadError(f"{p.name} line {line}: {bad!r} is not a number") from None
        label = values.pop(label_at)
        if not math.isfinite(label) or label != int(label):
            raise DataLabelError(f"{p.name} line {line}: label {row[label_at]!r} is not an integer")
        y[i], X[i] = int(label), values
    return Dataset(X, y, p.stem)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_image_folder(path: str | Path, *, size: tuple[int, int] = (8, 8),
                      value_range: tuple[float, float] | None = None) -> Dataset:
    """One sub-folder per class (sorted names → labels 0, 1, …), images converted to grayscale
    and resized to ``size = (H, W)``. Pixels 0–255 are mapped linearly onto ``value_range``
    when given (else kept 0–255). Returns ``X`` shaped ``(n, 1, H, W)``."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - Pillow is installed with the train extra
        raise DataLoadError("image folders need Pillow: pip install pillow") from None
    root = _existing(path)
    if not root.is_dir():
        raise DataLoadError(f"{str(root)!r} is not a folder")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise DataLoadError(f"{root.name}: an image folder needs one sub-folder per class")
    height, width = size
    images, labels = [], []
    for label, folder in enumerate(class_dirs):
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as img:
                    gray = img.convert("L").resize((width, height), Image.Resampling.BILINEAR)
                    images.append(np.asarray(gray, dtype=np.float32))
            except (OSError, UnidentifiedImageError) as err:
                raise DataLoadError(f"{file.parent.name}/{file.name}: not a readable image ({err})") from None
            labels.append(label)
    if not images:
        raise DataLoadError(f"{root.name}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in its class folders")
    X = np.stack(images)[:, None, :, :]
    if value_range is not None:
        low, high = value_range
        X = low + X * ((high - low) / 255.0)
    return Dataset(X, np.array(labels, dtype=np.int64), root.name, tuple(d.name for d in class_dirs))


# --- schema ------------------------------------------------------------------------------
def conform(dataset: Dataset, data: DataSection) -> Dataset:
    """Reshape samples to ``data.input_shape`` when only the layout differs (same number of
    values per sample, e.g. 64 ↔ 1×8×8), then :func:`check_schema`. Returns the data set."""
    shape = tuple(data.input_shape)
    if dataset.input_shape != shape and math.prod(dataset.input_shape) == math.prod(shape):
        dataset = dataset.replace(X=dataset.X.reshape((len(dataset), *shape)))
    check_schema(dataset, data)
    return dataset


def check_schema(dataset: Dataset, data: DataSection) -> None:
    """Raise the :class:`DataSchemaError` subclass of the first mismatch with the spec: shape,
    NaN/infinity, value range, labels (integers in ``0 .. num_classes-1``)."""
    where = f"data set {dataset.name!r}" if dataset.name else "data set"
    if len(dataset) == 0:
        raise DataSchemaError(f"{where} is empty")
    shape = tuple(data.input_shape)
    if dataset.input_shape != shape:
        raise DataShapeError(f"{where}: each sample has shape {list(dataset.input_shape)} "
                             f"({math.prod(dataset.input_shape)} values); the task spec's data.input_shape is "
                             f"{list(shape)} ({math.prod(shape)} values)")
    finite = np.isfinite(dataset.X)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.reshape(len(dataset), -1).all(axis=1))
        nan = int(np.isnan(dataset.X).sum())
        raise DataNonFiniteError(f"{where}: inputs hold {int((~finite).sum())} non-finite value(s) ({nan} NaN) in "
                                 f"{len(bad_rows)} sample(s), first at sample {int(bad_rows[0])}")
    if data.value_range is not None:
        low, high = data.value_range
        outside = (dataset.X < low) | (dataset.X > high)
        if outside.any():
            raise DataRangeError(f"{where}: inputs span [{float(dataset.X.min()):g}, {float(dataset.X.max()):g}]; "
                                 f"the task spec's data.value_range is [{low:g}, {high:g}] "
                                 f"({int(outside.sum())} value(s) outside)")
    bad = (dataset.y < 0) | (dataset.y >= data.num_classes)
    if bad.any():
        found = sorted({int(v) for v in dataset.y[bad]})
        raise DataLabelError(f"{where}: labels must be integers in 0..{data.num_classes - 1} "
                             f"(data.num_classes = {data.num_classes}); found {found[:10]}"
                             f"{'…' if len(found) > 10 else ''} in {int(bad.sum())} sample(s)")


def load_dataset(path: str | Path, data: DataSection) -> Dataset:
    """Load a user's data for a task: ``.npz``, ``.csv`` or an image folder, conformed to the
    spec (see :func:`conform`)."""
    p = _existing(path)
    if p.is_dir():
        if len(data.input_shape) == 3:
            channels, height, width = data.input_shape
            if channels != 1:
                raise DataShapeError(f"image folders load grayscale (1 channel); data.input_shape is {list(data.input_shape)}")
        elif len(data.input_shape) == 2:
            height, width = data.input_shape
        else:
            side = math.isqrt(math.prod(data.input_shape))
            if side * side != math.prod(data.input_shape):
                raise DataShapeError(f"an image folder needs an image-like data.input_shape ([1, H, W], [H, W] or "
                                     f"[H*W] with a square H*W); got {list(data.input_shape)}")
            height = width = side
        dataset = load_image_folder(p, size=(height, width), value_range=data.value_range)
    elif p.suffix.lower() == ".npz":
        dataset = load_npz(p)
    elif p.suffix.lower() == ".csv":
        dataset = load_csv(p, data.label_column)
    else:
        raise DataLoadError(f"{p.name}: unknown data format; give a .npz file, a .csv file or an image folder")
    return conform(dataset, data)

"""Data: digits, file loaders, the schema check (one error class and message per kind), splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from market.task_spec import DataSection
from trainers.data import (
    Dataset,
    check_schema,
    digits_train_test,
    holdout_split,
    load_csv,
    load_dataset,
    load_digits_dataset,
    load_image_folder,
    load_npz,
)
from trainers.exceptions import (
    DataLabelError,
    DataLoadError,
    DataNonFiniteError,
    DataRangeError,
    DataSchemaError,
    DataShapeError,
)

DIGITS = DataSection(kind="tabular", input_shape=(64,), num_classes=10, value_range=(0.0, 16.0))


def _small(n: int = 20, shape: tuple[int, ...] = (4,), classes: int = 3, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(rng.uniform(0, 1, size=(n, *shape)), np.arange(n) % classes, "small")


def test_load_digits_dataset_shapes_and_values() -> None:
    flat, image = load_digits_dataset((64,)), load_digits_dataset((1, 8, 8))
    assert flat.X.shape == (1797, 64) and image.X.shape == (1797, 1, 8, 8)
    assert flat.X.dtype == np.float32 and flat.y.dtype == np.int64
    assert flat.X.min() == 0.0 and flat.X.max() == 16.0
    assert np.array_equal(flat.X.reshape(-1, 1, 8, 8), image.X)
    check_schema(flat, DIGITS)


def test_load_digits_dataset_refuses_other_size() -> None:
    with pytest.raises(DataShapeError, match="64 values"):
        load_digits_dataset((1, 9, 9))


def test_digits_train_test_is_fixed_by_seed_and_disjoint() -> None:
    a_train, a_test = digits_train_test(seed=1)
    b_train, b_test = digits_train_test(seed=1)
    c_train, _ = digits_train_test(seed=2)
    assert np.array_equal(a_train.X, b_train.X) and np.array_equal(a_test.y, b_test.y)
    assert not np.array_equal(a_train.y, c_train.y)
    assert len(a_train) + len(a_test) == 1797
    assert abs(len(a_test) - 0.2 * 1797) < 10


def test_holdout_split_is_stratified_and_covers_everything() -> None:
    data = load_digits_dataset()
    rest, hold = holdout_split(data, 0.25, seed=3)
    assert len(rest) + len(hold) == len(data)
    per_class = hold.class_counts(10) / data.class_counts(10)
    assert np.all(np.abs(per_class - 0.25) < 0.02)


def test_holdout_split_keeps_one_sample_each_side_of_tiny_sets() -> None:
    rest, hold = holdout_split(_small(n=2, classes=2), 0.1, seed=0)
    assert len(rest) == 1 and len(hold) == 1


def test_check_schema_wrong_shape() -> None:
    with pytest.raises(DataShapeError, match=r"each sample has shape \[4\].*data.input_shape is \[64\]"):
        check_schema(_small(), DIGITS)


def test_check_schema_labels_out_of_range() -> None:
    data = load_digits_dataset().subset(range(30))
    bad = data.replace(y=np.where(np.arange(30) < 3, 12, data.y))
    with pytest.raises(DataLabelError, match=r"labels must be integers in 0\.\.9.*found \[12\] in 3 sample"):
        check_schema(bad, DIGITS)


def test_check_schema_negative_labels() -> None:
    data = load_digits_dataset().subset(range(10))
    with pytest.raises(DataLabelError, match=r"found \[-1\]"):
        check_schema(data.replace(y=np.full(10, -1)), DIGITS)


def test_check_schema_nan() -> None:
    X = load_digits_dataset().X[:10].copy()
    X[4, 7] = np.nan
    with pytest.raises(DataNonFiniteError, match=r"1 non-finite value\(s\) \(1 NaN\).*first at sample 4"):
        check_schema(Dataset(X, np.zeros(10, np.int64)), DIGITS)


def test_check_schema_value_range() -> None:
    X = load_digits_dataset().X[:10] * 2  # 0..32
    with pytest.raises(DataRangeError, match=r"span \[0, 32\].*value_range is \[0, 16\]"):
        check_schema(Dataset(X, np.zeros(10, np.int64)), DIGITS)


def test_check_schema_empty() -> None:
    with pytest.raises(DataSchemaError, match="empty"):
        check_schema(Dataset(np.zeros((0, 64)), np.zeros(0, np.int64)), DIGITS)


def test_dataset_refuses_fractional_labels_and_mismatched_lengths() -> None:
    with pytest.raises(DataLabelError, match="integers"):
        Dataset(np.zeros((2, 3)), np.array([0.5, 1.0]))
    with pytest.raises(DataSchemaError, match="one label per sample"):
        Dataset(np.zeros((2, 3)), np.array([0, 1, 2]))


def test_load_npz_round_trip_and_missing_arrays(tmp_path: Path) -> None:
    digits = load_digits_dataset().subset(range(50))
    np.savez(tmp_path / "d.npz", X=digits.X, y=digits.y)
    loaded = load_npz(tmp_path / "d.npz")
    assert np.array_equal(loaded.X, digits.X) and np.array_equal(loaded.y, digits.y)
    np.savez(tmp_path / "bad.npz", inputs=digits.X)
    with pytest.raises(DataLoadError, match="needs arrays 'X' and 'y'"):
        load_npz(tmp_path / "bad.npz")


def test_load_dataset_reshapes_npz_to_spec(tmp_path: Path) -> None:
    digits = load_digits_dataset().subset(range(20))
    np.savez(tmp_path / "d.npz", X=digits.X, y=digits.y)
    image_spec = DIGITS.model_copy(update={"input_shape": (1, 8, 8)})
    assert load_dataset(tmp_path / "d.npz", image_spec).X.shape == (20, 1, 8, 8)


def test_load_csv_label_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,target,b\n1.5,2,3\n4,0,5.25\n")
    data = load_csv(path, "target")
    assert data.X.tolist() == [[1.5, 3.0], [4.0, 5.25]]
    assert data.y.tolist() == [2, 0]
    with pytest.raises(DataLoadError, match="no label column 'label'"):
        load_csv(path, "label")


def test_load_csv_reports_bad_cells(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,label\n1,0\nx,1\n")
    with pytest.raises(DataLoadError, match="line 3: 'x' is not a number"):
        load_csv(path)
    path.write_text("a,label\n1,0.5\n")
    with pytest.raises(DataLabelError, match="line 2: label '0.5' is not an integer"):
        load_csv(path)


def test_load_image_folder_grayscale_resized(tmp_path: Path) -> None:
    from PIL import Image

    for label, colour in (("cat", (255, 255, 255)), ("dog", (0, 0, 0))):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("RGB", (20, 16), colour).save(tmp_path / label / f"{i}.png")
    (tmp_path / "cat" / "notes.txt").write_text("ignored")
    data = load_image_folder(tmp_path, size=(8, 8), value_range=(0.0, 16.0))
    assert data.X.shape == (6, 1, 8, 8)
    assert data.classes == ("cat", "dog")
    assert data.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert np.allclose(data.X[:3], 16.0) and np.allclose(data.X[3:], 0.0)
    flat = load_dataset(tmp_path, DIGITS.model_copy(update={"num_classes": 2}))
    assert flat.X.shape == (6, 64)


def test_load_dataset_unknown_format_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "d.parquet").write_bytes(b"")
    with pytest.raises(DataLoadError, match="unknown data format"):
        load_dataset(tmp_path / "d.parquet", DIGITS)
    with pytest.raises(DataLoadError, match="does not exist"):
        load_dataset(tmp_path / "nope.npz", DIGITS)

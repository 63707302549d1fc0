"""Update packages: round trip, and every malformed kind rejected with its own reason."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import safetensors.numpy

from market.update_package import (
    InvalidMetadata,
    MetadataMismatch,
    NonFiniteValues,
    PackageMalformed,
    PackageTooLarge,
    UpdateMetadata,
    UpdateNormTooLarge,
    WrongDtype,
    WrongShape,
    WrongTensorNames,
    build_update_package,
    load_update_package,
    max_package_bytes,
    model_spec_hash,
)

SPEC = {"fc1.weight": ((16, 8), "float32"), "fc1.bias": ((16,), "float32"), "fc2.weight": ((4, 16), "float32")}
TRAINER = "0x" + "ab" * 20


def _tensors(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(dtype) for name, (shape, dtype) in SPEC.items()}


def _metadata(**changes) -> UpdateMetadata:
    fields = dict(
        task_id=7, round=2, trainer=TRAINER, num_samples=120, salt=bytes(range(16)),
        model_spec_hash=model_spec_hash(SPEC), sketch=(3, -1, 0, 12), metrics={"loss": 0.25, "epochs": 2},
    )  # fmt: skip
    fields.update(changes)
    return UpdateMetadata(**fields)


def _raw_package(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    return bytes(safetensors.numpy.save(tensors, metadata=metadata))


def _rewrite_header(package: bytes, edit) -> bytes:
    (size,) = struct.unpack_from("<Q", package)
    header = json.loads(package[8 : 8 + size])
    edit(header)
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + package[8 + size :]


def test_package_round_trips_tensors_and_metadata() -> None:
    # Prepare
    tensors = _tensors()
    # Execute
    loaded = load_update_package(build_update_package(tensors, _metadata()), SPEC)
    # Assert
    assert loaded.metadata == _metadata()
    assert loaded.metadata.trainer == "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
    assert set(loaded.tensors) == set(SPEC)
    for name, value in tensors.items():
        np.testing.assert_array_equal(loaded.tensors[name], value)


def test_empty_sketch_is_allowed_before_the_seed() -> None:
    loaded = load_update_package(build_update_package(_tensors(), _metadata(sketch=())), SPEC)
    assert loaded.metadata.sketch == ()


def test_metadata_is_a_string_map_in_the_header() -> None:
    package = build_update_package(_tensors(), _metadata())
    (size,) = struct.unpack_from("<Q", package)
    metadata = json.loads(package[8 : 8 + size])["__metadata__"]
    assert metadata["format"] == "market-update"
    assert metadata["sketch"] == "[3,-1,0,12]"
    assert all(isinstance(v, str) for v in metadata.values())


def test_too_large_package_is_rejected() -> None:
    package = build_update_package(_tensors(), _metadata())
    with pytest.raises(PackageTooLarge) as caught:
        load_update_package(package, SPEC, max_bytes=len(package) - 1)
    assert caught.value.reason == "too-large"
    assert len(package) < max_package_bytes(SPEC)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p[:5],  # shorter than the length prefix
        lambda p: struct.pack("<Q", 1 << 40) + p[8:],  # header length out of range
        lambda p: p[:8] + b"[" + p[9:],  # header not JSON
        lambda p: p[:-4],  # data shorter than the offsets say
        lambda p: p + b"\0\0\0\0",  # trailing bytes
        lambda p: _rewrite_header(
            p, lambda h: h["fc1.bias"].update(data_offsets=[o + 4 for o in h["fc1.bias"]["data_offsets"]])
        ),
        lambda p: _rewrite_header(p, lambda h: h["fc1.bias"].update(shape=[-16])),
        lambda p: _rewrite_header(p, lambda h: h["fc1.bias"].update(extra=1)),
    ],
    ids=[
        "truncated",
        "header-length",
        "not-json",
        "short-data",
        "trailing",
        "shifted-offsets",
        "negative-shape",
        "extra-key",
    ],
)
def test_malformed_package_is_rejected(mangle) -> None:
    package = mangle(build_update_package(_tensors(), _metadata()))
    with pytest.raises(PackageMalformed) as caught:
        load_update_package(package, SPEC, max_bytes=1 << 50)
    assert caught.value.reason == "malformed"


def test_duplicate_header_keys_are_rejected() -> None:
    package = build_update_package(_tensors(), _metadata())
    (size,) = struct.unpack_from("<Q", package)
    header = package[8 : 8 + size].rstrip()
    doubled = header[:-1] + b',"fc1.bias":' + json.dumps(json.loads(header)["fc1.bias"]).encode() + b"}"
    with pytest.raises(PackageMalformed, match="JSON"):
        load_update_package(struct.pack("<Q", len(doubled)) + doubled + package[8 + size :], SPEC)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("format", "something-else"),
        ("round", "-1"),
        ("round", "two"),
        ("task_id", ""),
        ("trainer", "0x1234"),
        ("num_samples", "0"),
        ("salt", "zz"),
        ("model_spec_hash", "0x1234"),
        ("sketch", "[1, 2.5]"),
        ("sketch", "not json"),
        ("metrics", "[1]"),
        ("metrics", '{"loss": NaN}'),
    ],
)
def test_invalid_metadata_is_rejected(field: str, value: str) -> None:
    metadata = _metadata().to_strings()
    metadata[field] = value
    with pytest.raises(InvalidMetadata) as caught:
        load_update_package(_raw_package(_tensors(), metadata), SPEC)
    assert caught.value.reason == "bad-metadata"


def test_missing_metadata_field_is_rejected() -> None:
    metadata = _metadata().to_strings()
    del metadata["num_samples"]
    with pytest.raises(InvalidMetadata, match="num_samples"):
        load_update_package(_raw_package(_tensors(), metadata), SPEC)


def test_package_without_metadata_is_rejected() -> None:
    with pytest.raises(InvalidMetadata):
        load_update_package(bytes(safetensors.numpy.save(_tensors())), SPEC)


@pytest.mark.parametrize(
    ("expect", "field"),
    [({"task_id": 8}, "task_id"), ({"round": 3}, "round"), ({"trainer": "0x" + "cd" * 20}, "trainer")],
)
def test_package_for_another_task_round_or_trainer_is_rejected(expect: dict, field: str) -> None:
    package = build_update_package(_tensors(), _metadata())
    with pytest.raises(MetadataMismatch, match=field) as caught:
        load_update_package(package, SPEC, expect=expect)
    assert caught.value.reason == "metadata-mismatch"


def test_expected_trainer_matches_in_any_letter_case() -> None:
    package = build_update_package(_tensors(), _metadata())
    assert load_update_package(package, SPEC, expect={"trainer": TRAINER.upper().replace("0X", "0x")})


def test_package_for_another_model_spec_is_rejected() -> None:
    other_spec = {**SPEC, "fc2.bias": ((4,), "float32")}
    package = build_update_package(_tensors(), _metadata(model_spec_hash=model_spec_hash(other_spec)))
    with pytest.raises(MetadataMismatch, match="model_spec_hash"):
        load_update_package(package, SPEC)


def test_missing_and_unexpected_tensor_names_are_reported() -> None:
    tensors = _tensors()
    tensors["fc3.weight"] = tensors.pop("fc2.weight")
    with pytest.raises(WrongTensorNames) as caught:
        load_update_package(build_update_package(tensors, _metadata()), SPEC)
    assert caught.value.missing == ["fc2.weight"]
    assert caught.value.unexpected == ["fc3.weight"]
    assert caught.value.reason == "wrong-names"


def test_wrong_shape_is_rejected() -> None:
    tensors = _tensors()
    tensors["fc1.weight"] = tensors["fc1.weight"].reshape(8, 16)
    with pytest.raises(WrongShape, match="fc1.weight") as caught:
        load_update_package(build_update_package(tensors, _metadata()), SPEC)
    assert caught.value.reason == "wrong-shape"


@pytest.mark.parametrize("dtype", ["float64", "float16", "int32"])
def test_wrong_dtype_is_rejected(dtype: str) -> None:
    tensors = _tensors()
    tensors["fc1.bias"] = tensors["fc1.bias"].astype(dtype)
    with pytest.raises(WrongDtype, match="fc1.bias") as caught:
        load_update_package(build_update_package(tensors, _metadata()), SPEC, max_bytes=1 << 20)
    assert caught.value.reason == "wrong-dtype"


def test_dtype_this_market_does_not_know_is_rejected() -> None:
    package = _rewrite_header(
        build_update_package(_tensors(), _metadata()), lambda h: h["fc1.bias"].update(dtype="BF16")
    )
    with pytest.raises(WrongDtype, match="BF16"):
        load_update_package(package, SPEC)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_rejected(bad: float) -> None:
    tensors = _tensors()
    tensors["fc2.weight"][1, 3] = bad
    with pytest.raises(NonFiniteValues, match="fc2.weight") as caught:
        load_update_package(build_update_package(tensors, _metadata()), SPEC)
    assert caught.value.reason == "non-finite"


def test_update_norm_over_the_bound_is_rejected() -> None:
    tensors = _tensors()
    norm = float(np.sqrt(sum(np.sum(np.square(t.astype(np.float64))) for t in tensors.values())))
    package = build_update_package(tensors, _metadata())
    assert load_update_package(package, SPEC, max_norm=norm * 1.001)
    with pytest.raises(UpdateNormTooLarge) as caught:
        load_update_package(package, SPEC, max_norm=norm * 0.999)
    assert caught.value.reason == "norm-too-large"


def test_metadata_with_a_bad_trainer_cannot_be_built() -> None:
    with pytest.raises(InvalidMetadata):
        _metadata(trainer="alice")


def test_model_spec_hash_ignores_order_and_sees_shapes() -> None:
    reordered = dict(reversed(list(SPEC.items())))
    assert model_spec_hash(reordered) == model_spec_hash(SPEC)
    assert model_spec_hash({**SPEC, "fc1.bias": ((17,), "float32")}) != model_spec_hash(SPEC)
    assert len(model_spec_hash(SPEC)) == 32


def test_pickled_payload_is_refused_as_malformed() -> None:
    """A torch.save-style pickle is refused by the header check; nothing is unpickled."""
    import pickle

    with pytest.raises(PackageMalformed):
        load_update_package(pickle.dumps(_tensors()), SPEC, max_bytes=1 << 30)

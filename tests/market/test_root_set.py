"""The owner's root set: canonical bytes, the spec's digest, class balance, bounded and pickle-free parsing."""

from __future__ import annotations

import io

import numpy as np
import pytest

from market.encryption import generate_private_key, public_key_bytes
from market.root_set import MAX_ROOT_SET_BYTES, RootSet, RootSetError, open_root_set, seal_root_set
from market.task_spec import ReferenceSection, ScoringSection

SHAPE, CLASSES = (4,), 3


def _root(per_class: int = 2, seed: int = 0) -> RootSet:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(CLASSES), per_class)
    return RootSet(rng.normal(size=(len(y), *SHAPE)).astype(np.float32), y)


def _parse(data: bytes, **kw) -> RootSet:
    return RootSet.from_bytes(data, input_shape=SHAPE, num_classes=CLASSES, per_class=kw.pop("per_class", 2), **kw)


def test_the_bytes_are_canonical_and_round_trip() -> None:
    root = _root()
    assert root.to_bytes() == _root().to_bytes()  # no timestamps: one digest per set
    back = _parse(root.to_bytes(), digest=root.digest())
    assert np.array_equal(back.X, root.X) and np.array_equal(back.y, root.y) and back.y.dtype == np.int64
    assert _root(seed=1).digest() != root.digest()


def test_a_root_set_other_than_the_committed_one_is_refused() -> None:
    with pytest.raises(RootSetError, match="digest"):
        _parse(_root(seed=1).to_bytes(), digest=_root().digest())


def test_an_unbalanced_root_set_is_refused() -> None:
    root = _root()
    skewed = RootSet(root.X, np.array([0, 0, 0, 1, 1, 2]))
    with pytest.raises(RootSetError, match="not class-balanced"):
        _parse(skewed.to_bytes())
    with pytest.raises(RootSetError, match="class 2 has 1 samples"):
        RootSet.balanced_sample(root.X, np.array([0, 0, 1, 1, 1, 2]), per_class=2, num_classes=3)


@pytest.mark.parametrize("bad", ["shape", "labels", "range", "nan", "arrays", "pickle", "garbage"])
def test_malformed_root_sets_get_a_clear_error(bad: str) -> None:
    root = _root()
    buffer = io.BytesIO()
    arrays = {"X": root.X, "y": root.y}
    if bad == "shape":
        arrays["X"] = root.X.reshape(len(root.y), 2, 2)
    elif bad == "labels":
        arrays["y"] = root.y.astype(np.float32) + 0.5
    elif bad == "range":
        arrays["y"] = root.y + 1
    elif bad == "nan":
        arrays["X"] = np.full_like(root.X, np.nan)
    elif bad == "arrays":
        arrays["Z"] = root.y
    elif bad == "pickle":
        arrays["y"] = np.array([object()] * len(root.y), dtype=object)
    np.savez(buffer, **arrays)
    data = b"not an archive" if bad == "garbage" else buffer.getvalue()
    with pytest.raises(RootSetError):
        _parse(data)


def test_size_is_bounded_before_parsing() -> None:
    with pytest.raises(RootSetError, match="limit"):
        _parse(b"\0" * (MAX_ROOT_SET_BYTES + 1))


def test_sealed_for_the_aggregator_only() -> None:
    key, other = generate_private_key(), generate_private_key()
    root = _root()
    envelope, envelope_key, digest = seal_root_set(root, public_key_bytes(key))
    assert len(envelope_key) == 32 and digest == root.digest()
    opened = open_root_set(envelope, key, input_shape=SHAPE, num_classes=CLASSES, per_class=2, digest=digest)
    assert np.array_equal(opened.X, root.X)
    with pytest.raises(RootSetError, match="does not open"):
        open_root_set(envelope, other, input_shape=SHAPE, num_classes=CLASSES, per_class=2, digest=digest)


def test_the_spec_ties_the_reference_rule_to_a_root_set() -> None:
    section = ReferenceSection(root_set_cid="bafy-root", root_set_digest="ab" * 32, per_class=10)
    assert ScoringSection(detector="reference", reference=section).reference.h == (1, 2)
    with pytest.raises(ValueError, match="reference section"):
        ScoringSection(detector="reference")
    with pytest.raises(ValueError, match="reference section"):
        ScoringSection(detector="provable", reference=section)
    with pytest.raises(ValueError, match="fraction"):
        ReferenceSection(root_set_cid="bafy-root", root_set_digest="ab" * 32, per_class=10, h=(1, 0))
    with pytest.raises(ValueError):
        ReferenceSection(root_set_cid="bafy-root", root_set_digest="not hex", per_class=10)

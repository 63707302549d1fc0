"""The sketch s = quantize(R(seed) · u) (zk/sketch.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zk.exceptions import SketchInputError
from zk.protocol.sketch import (
    BLOCK_COLUMNS,
    INPUT_FRAC_BITS,
    R_DOMAIN,
    SketchParams,
    flatten_update,
    project,
    project_fixed,
    quantize,
    rademacher_block,
    seed_bytes,
    sketch_update,
)

SEED = 0x1234_5678_9ABC_DEF0_0FED_CBA9_8765_4321_1111_2222_3333_4444_5555_6666_7777_8888
PARAMS = SketchParams()


def _dense_r(seed: int, k: int, d: int) -> np.ndarray:
    blocks = [rademacher_block(seed, b, k) for b in range(-(-d // BLOCK_COLUMNS))]
    return np.concatenate(blocks, axis=1)[:, :d]


def _fixed(u: np.ndarray) -> list[int]:
    q = np.clip(np.rint(np.ldexp(u.astype(np.float64), INPUT_FRAC_BITS)), -(2**52), 2**52)
    return [int(x) for x in q]


def _round_half_even_shift(y: int, shift: int) -> int:
    q, r = divmod(y, 1 << shift)
    twice = 2 * r
    if twice > 1 << shift or (twice == 1 << shift and q % 2 == 1):
        q += 1
    return q


def _update(seed: int, d: int, scale: float = 0.01) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=scale, size=d)


# --- R -------------------------------------------------------------------------------------
def test_rademacher_block_is_the_documented_shake_stream() -> None:
    k = 3
    raw = hashlib.shake_256(R_DOMAIN + SEED.to_bytes(32, "big") + (5).to_bytes(8, "big")).digest(
        k * 512
    )
    bits = np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little").reshape(k, BLOCK_COLUMNS)
    assert np.array_equal(rademacher_block(SEED, 5, k), 1.0 - 2.0 * bits)


def test_rademacher_entries_are_signs_and_balanced() -> None:
    r = rademacher_block(SEED, 0, 32)
    assert r.shape == (32, BLOCK_COLUMNS)
    assert set(np.unique(r)) == {-1.0, 1.0}
    assert abs(r.mean()) < 0.01  # 131072 entries: std of the mean ≈ 0.0028
    assert np.all(np.abs(r.mean(axis=1)) < 0.06)  # each row: std ≈ 0.016
    gram = r @ r.T / BLOCK_COLUMNS
    off_diagonal = gram[~np.eye(32, dtype=bool)]
    assert np.all(np.abs(off_diagonal) < 0.08)  # rows nearly orthogonal
    assert not np.array_equal(rademacher_block(SEED, 0, 32), rademacher_block(SEED, 1, 32))


def test_rademacher_rows_do_not_depend_on_k() -> None:
    assert np.array_equal(rademacher_block(SEED, 2, 32)[:8], rademacher_block(SEED, 2, 8))


def test_seed_as_int_or_bytes_is_the_same() -> None:
    assert seed_bytes(SEED) == SEED.to_bytes(32, "big")
    assert np.array_equal(
        rademacher_block(SEED, 0, 2), rademacher_block(SEED.to_bytes(32, "big"), 0, 2)
    )
    for bad in (-1, 2**256, b"short", True):
        with pytest.raises(SketchInputError):
            seed_bytes(bad)  # type: ignore[arg-type]


# --- projection ----------------------------------------------------------------------------
def test_project_fixed_equals_dense_integer_product() -> None:
    d, k = 10_000, 32
    u = _update(1, d)
    r = _dense_r(SEED, k, d).astype(np.int64)
    expected = [sum(int(a) * b for a, b in zip(row, _fixed(u))) for row in r]
    assert project_fixed([u], SEED, k) == expected


def test_project_is_close_to_float_r_times_u() -> None:
    d = 9_000
    u = _update(2, d)
    dense = _dense_r(SEED, 16, d) @ u
    assert np.allclose(project([u], SEED, 16), dense, rtol=0, atol=d * 2.0**-INPUT_FRAC_BITS)


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=3 * BLOCK_COLUMNS + 7), st.integers(0, 2**32 - 1))
def test_project_is_linear_before_quantisation(d: int, data_seed: int) -> None:
    rng = np.random.default_rng(data_seed)
    a, b = rng.normal(size=d), rng.normal(scale=1e-3, size=d)
    lhs = project([a + b], SEED, 8)
    rhs = project([a], SEED, 8) + project([b], SEED, 8)
    # each of the three fixed-point roundings moves an entry by at most 2^-37
    assert np.allclose(lhs, rhs, rtol=0, atol=1.5 * d * 2.0**-INPUT_FRAC_BITS)
    assert np.allclose(
        project([3 * a], SEED, 8),
        3 * project([a], SEED, 8),
        rtol=0,
        atol=4 * d * 2.0**-INPUT_FRAC_BITS,
    )


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=20_000), max_size=8), st.integers(0, 2**32 - 1))
def test_project_does_not_depend_on_chunking(cuts: list[int], data_seed: int) -> None:
    d = 20_000
    u = np.random.default_rng(data_seed).normal(size=d).astype(np.float32)
    bounds = [0, *sorted(cuts), d]
    chunks = [u[lo:hi] for lo, hi in zip(bounds, bounds[1:])]  # includes empty chunks
    whole = project([u], SEED, 32)
    assert np.array_equal(project(chunks, SEED, 32), whole)
    assert project_fixed(chunks, SEED, 32) == project_fixed([u], SEED, 32)


def test_project_streams_from_a_generator_of_chunks() -> None:
    u = _update(3, 3 * BLOCK_COLUMNS + 123)

    def chunks() -> Iterator[np.ndarray]:
        for start in range(0, u.size, 1000):
            yield u[start : start + 1000]

    assert np.array_equal(project(chunks(), SEED, 32), project([u], SEED, 32))


def test_project_is_deterministic() -> None:
    u = _update(4, 5_000)
    assert np.array_equal(project([u], SEED, 32), project([u.copy()], SEED, 32))


def test_project_clips_huge_entries() -> None:
    assert np.array_equal(
        project([np.array([1e6, -1e300])], SEED, 4),
        project([np.array([2.0**16, -(2.0**16)])], SEED, 4),
    )


@pytest.mark.parametrize(
    "bad", [np.array([1.0, np.nan]), np.array([np.inf]), np.array([1 + 2j]), np.array(["a"])]
)
def test_project_refuses_non_finite_or_non_real(bad: np.ndarray) -> None:
    with pytest.raises(SketchInputError):
        project([bad], SEED, 4)


def test_project_refuses_empty_update_and_bad_k() -> None:
    with pytest.raises(SketchInputError):
        project([np.zeros(0)], SEED, 4)
    with pytest.raises(SketchInputError):
        project([np.zeros(3)], SEED, 0)


# --- quantisation --------------------------------------------------------------------------
def test_quantize_rounds_half_to_even_and_clips() -> None:
    q = 2.0**-PARAMS.scale_bits  # one quantum
    values = [0.0, 0.5 * q, 1.5 * q, 2.5 * q, -0.5 * q, -1.5 * q, -2.5 * q, 0.49 * q, 7.51 * q]
    assert quantize(values, PARAMS) == [0, 0, 2, 2, 0, -2, -2, 0, 8]
    top = PARAMS.clip * q
    assert quantize([top, top + q, -top - 1e9, 1e300, -np.inf], PARAMS) == [
        PARAMS.clip,
        PARAMS.clip,
        -PARAMS.clip,
        PARAMS.clip,
        -PARAMS.clip,
    ]
    assert all(type(x) is int for x in quantize([1.0], PARAMS))


def test_quantize_refuses_nan_and_matrices() -> None:
    with pytest.raises(SketchInputError):
        quantize([np.nan])
    with pytest.raises(SketchInputError):
        quantize(np.zeros((2, 2)))


@settings(max_examples=50, deadline=None)
@given(
    st.integers(min_value=1, max_value=3000),
    st.floats(min_value=1e-9, max_value=3e4),
    st.integers(0, 2**32 - 1),
    st.integers(min_value=0, max_value=INPUT_FRAC_BITS),
)
def test_quantize_of_projection_is_exact_integer_rounding(
    d: int, scale: float, data_seed: int, bits: int
) -> None:
    """quantize(project(u)) = clip(round_half_even(y / 2^(36 - S))) on exact integers, for
    scales from tiny to far past the clip."""
    params = SketchParams(k=4, scale_bits=bits, clip=min(2**40 - 1, 2 ** (bits + 17) - 1))
    u = np.random.default_rng(data_seed).normal(scale=scale, size=d)
    y = project_fixed([u], SEED, 4)
    expected = [
        max(-params.clip, min(params.clip, _round_half_even_shift(v, INPUT_FRAC_BITS - bits)))
        for v in y
    ]
    assert quantize(project([u], SEED, 4), params) == expected


def test_sketch_params_defaults_and_validation() -> None:
    assert (PARAMS.k, PARAMS.scale_bits, PARAMS.clip) == (32, 24, 2**40 - 1)
    assert PARAMS.value_bits == 40
    with pytest.raises(ValueError):
        SketchParams(k=0)
    with pytest.raises(ValueError):
        SketchParams(scale_bits=INPUT_FRAC_BITS + 1)
    with pytest.raises(ValueError):
        SketchParams(clip=2**41)  # the float64 projection would no longer be exact there
    with pytest.raises(ValueError):
        SketchParams(clip=0)
    with pytest.raises(AttributeError):
        PARAMS.k = 16  # type: ignore[misc]


# --- sketch_update -------------------------------------------------------------------------
def _tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {
        "layer2.weight": rng.normal(scale=0.01, size=(10, 64)).astype(np.float32),
        "layer1.bias": rng.normal(scale=0.01, size=64).astype(np.float32),
        "layer1.weight": rng.normal(scale=0.01, size=(64, 64)).astype(np.float32),
        "layer2.bias": rng.normal(scale=0.01, size=10).astype(np.float32),
    }


def test_sketch_update_orders_by_name_and_flattens_in_c_order() -> None:
    tensors = _tensors()
    names = sorted(tensors)
    flat = np.concatenate([tensors[n].reshape(-1) for n in names])
    expected = quantize(project([flat], SEED, 32), PARAMS)
    shuffled = {n: tensors[n] for n in reversed(list(tensors))}
    shuffled["layer1.weight"] = np.asfortranarray(
        shuffled["layer1.weight"]
    )  # same values, other memory order
    assert sketch_update(tensors, SEED) == expected
    assert sketch_update(shuffled, SEED) == expected
    assert [a.size for a in flatten_update(tensors)] == [tensors[n].size for n in names]


def test_sketch_update_values_and_range() -> None:
    s = sketch_update(_tensors(), SEED)
    assert len(s) == 32 and all(type(v) is int and abs(v) <= PARAMS.clip for v in s)
    assert len(sketch_update(_tensors(), SEED, SketchParams(k=5))) == 5
    assert sketch_update(_tensors(), SEED, SketchParams(k=5)) == s[:5]  # rows do not depend on k


def test_sketch_update_is_deterministic_and_precision_independent() -> None:
    tensors = _tensors()
    as64 = {n: t.astype(np.float64) for n, t in tensors.items()}
    assert sketch_update(tensors, SEED) == sketch_update(tensors, SEED) == sketch_update(as64, SEED)


def test_sketch_update_changes_with_the_seed() -> None:
    tensors = _tensors()
    s = sketch_update(tensors, SEED)
    assert sketch_update(tensors, SEED + 1) != s
    assert sketch_update(tensors, 0) != s


def test_sketch_update_of_zero_update_is_zero() -> None:
    assert sketch_update({"w": np.zeros((3, 3))}, SEED) == [0] * 32


def test_sketch_update_refuses_empty_or_bad_updates() -> None:
    with pytest.raises(SketchInputError):
        sketch_update({}, SEED)
    with pytest.raises(SketchInputError):
        sketch_update({"w": np.array([1.0, np.nan])}, SEED)
    with pytest.raises(SketchInputError):
        sketch_update({1: np.ones(2)}, SEED)  # type: ignore[dict-item]


# Frozen output: a change here changes every commitment made so far, so it must be deliberate.
KNOWN_SEED = 2**255 + 12345
KNOWN_SKETCH = [-6729509, -1580582, 5725561, -1002774, 1428580, 19947271, 158880, 13477305]


def test_sketch_known_answer() -> None:
    d = 2 * BLOCK_COLUMNS + 100
    u = ((np.arange(d) * 7919) % 2001 - 1000) / 1e5  # no libm: the same bits everywhere
    assert sketch_update({"u": u}, KNOWN_SEED, SketchParams(k=8)) == KNOWN_SKETCH

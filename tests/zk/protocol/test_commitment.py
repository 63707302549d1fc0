"""The sketch commitment and the aggregate commitment (zk/commitment.py)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.zk.conftest import CircomlibjsReference
from zk.exceptions import FieldRangeError
from zk.protocol.commitment import (
    AGGREGATE_TAG,
    aggregate_commitment,
    chain_hash,
    commitment_calls,
    random_salt,
    sketch_commitment,
)
from zk.protocol.field import FIELD_MODULUS, HALF_MODULUS
from zk.protocol.poseidon import poseidon
from zk.protocol.sketch import SketchParams

P = FIELD_MODULUS
B = SketchParams().clip
CIRCUIT = Path(__file__).resolve().parents[3] / "zk" / "circuits" / "commitment.circom"


def _sketch(rng: random.Random, k: int) -> list[int]:
    return [rng.choice([rng.randint(-B, B), B, -B, 0, -1]) for _ in range(k)]


@pytest.mark.parametrize(
    ("k", "calls"),
    [
        (1, [2]),
        (14, [15]),
        (15, [16]),
        (16, [16, 2]),
        (30, [16, 16]),
        (31, [16, 16, 2]),
        (32, [16, 16, 3]),
        (45, [16, 16, 16]),
        (46, [16, 16, 16, 2]),
    ],
)
def test_commitment_calls_per_sketch_length(k: int, calls: list[int]) -> None:
    assert commitment_calls(k) == calls


def test_sketch_commitment_is_the_documented_chain_for_k32() -> None:
    rng = random.Random(1)
    s, salt = _sketch(rng, 32), random_salt()
    f = [v % P for v in s]
    h0 = poseidon([salt, *f[0:15]])
    h1 = poseidon([h0, *f[15:30]])
    assert sketch_commitment(s, salt) == poseidon([h1, *f[30:32]])


@pytest.mark.node
@pytest.mark.parametrize("k", [1, 2, 14, 15, 16, 17, 29, 30, 31, 32, 33, 45, 46, 64])
def test_sketch_commitment_equals_circomlibjs_composition(
    circomlibjs: CircomlibjsReference, k: int
) -> None:
    rng = random.Random(k)
    for salt in (0, P - 1, rng.randrange(P)):
        s = _sketch(rng, k)
        assert sketch_commitment(s, salt) == circomlibjs.commit(s, salt)


@pytest.mark.node
@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(min_value=-B, max_value=B), min_size=1, max_size=40),
    st.integers(min_value=0, max_value=P - 1),
)
def test_sketch_commitment_equals_circomlibjs_on_any_sketch(
    circomlibjs: CircomlibjsReference, sketch: list[int], salt: int
) -> None:
    assert sketch_commitment(sketch, salt) == circomlibjs.commit(sketch, salt)


@pytest.mark.node
def test_aggregate_commitment_equals_circomlibjs_with_tag(
    circomlibjs: CircomlibjsReference,
) -> None:
    g = _sketch(random.Random(7), 32)
    assert aggregate_commitment(g) == circomlibjs.commit(g, AGGREGATE_TAG)


def test_aggregate_tag_is_the_documented_ascii_and_matches_the_circuit() -> None:
    assert AGGREGATE_TAG.to_bytes(30, "big") == b"poc-market:aggregate-sketch:v1"
    assert AGGREGATE_TAG < P
    match = re.search(r"function aggregateTag\(\) \{\s*return (0x[0-9a-f]+);", CIRCUIT.read_text())
    assert match is not None and int(match.group(1), 16) == AGGREGATE_TAG


def test_aggregate_commitment_differs_from_salt_zero_commitment() -> None:
    g = [1, -2, 3]
    assert aggregate_commitment(g) == sketch_commitment(g, AGGREGATE_TAG)
    assert aggregate_commitment(g) != sketch_commitment(g, 0)


def test_sketch_commitment_binds_every_value_and_the_salt() -> None:
    rng = random.Random(3)
    s, salt = _sketch(rng, 32), rng.randrange(P)
    c = sketch_commitment(s, salt)
    assert sketch_commitment(s, (salt + 1) % P) != c
    for i in range(32):
        t = list(s)
        t[i] = t[i] + 1 if t[i] < B else t[i] - 1
        assert sketch_commitment(t, salt) != c


def test_sketch_commitment_refuses_bad_salt_and_values() -> None:
    with pytest.raises(FieldRangeError):
        sketch_commitment([1], P)
    with pytest.raises(FieldRangeError):
        sketch_commitment([1], -1)
    with pytest.raises(FieldRangeError):
        sketch_commitment([HALF_MODULUS + 1], 0)
    with pytest.raises(ValueError):
        sketch_commitment([], 0)
    with pytest.raises(ValueError):
        chain_hash([])


def test_random_salt_is_a_fresh_field_element() -> None:
    salts = {random_salt() for _ in range(32)}
    assert len(salts) == 32
    assert all(0 <= x < P for x in salts)

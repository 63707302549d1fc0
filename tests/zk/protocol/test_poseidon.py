"""Poseidon (zk/poseidon.py) against circomlibjs, the executable definition, and the
constants circomlibjs ships."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.zk.conftest import CircomlibjsReference, require_node_modules
from zk.exceptions import FieldRangeError
from zk.protocol.field import FIELD_MODULUS
from zk.protocol.poseidon import MAX_INPUTS, poseidon, poseidon_reference
from zk.protocol.poseidon_constants import N_ROUNDS_F, N_ROUNDS_P, mds_matrix, round_constants

P = FIELD_MODULUS
field_elements = st.one_of(
    st.integers(min_value=0, max_value=P - 1),
    st.sampled_from([0, 1, 2, P - 2, P - 1, (P - 1) // 2, 2**64, 2**253]),
)

# Poseidon(1, 2, ..., n) from circomlibjs 0.1.7, n = 1 ... 16: a known answer that needs no node.
KNOWN_ANSWERS = {
    1: 18586133768512220936620570745912940619677854269274689475585506675881198879027,
    2: 7853200120776062878684798364095072458815029376092732009249414926327459813530,
    3: 6542985608222806190361240322586112750744169038454362455181422643027100751666,
    16: 9989051620750914585850546081941653841776809718687451684622678807385399211877,
}


@pytest.mark.parametrize("n", sorted(KNOWN_ANSWERS))
def test_poseidon_known_answers(n: int) -> None:
    assert poseidon(list(range(1, n + 1))) == KNOWN_ANSWERS[n]


@pytest.mark.node
def test_poseidon_constants_equal_circomlibjs_tables() -> None:
    """The Grain-generated constants are, number for number, circomlibjs's tables."""
    table = json.loads(
        (require_node_modules("circomlibjs") / "src" / "poseidon_constants.json").read_text()
    )
    for t in range(2, MAX_INPUTS + 2):
        assert len(round_constants(t)) == (N_ROUNDS_F + N_ROUNDS_P[t - 2]) * t
        assert list(round_constants(t)) == [int(x, 16) for x in table["C"][t - 2]], t
        assert [list(r) for r in mds_matrix(t)] == [
            [int(x, 16) for x in r] for r in table["M"][t - 2]
        ], t


@pytest.mark.node
def test_poseidon_equals_circomlibjs_for_every_arity(circomlibjs: CircomlibjsReference) -> None:
    rng = random.Random(20261124)
    cases: list[list[int]] = []
    for n in range(1, MAX_INPUTS + 1):
        cases.append([0] * n)
        cases.append([P - 1] * n)
        cases.append([rng.choice([0, P - 1]) for _ in range(n)])
        cases.extend([rng.randrange(P) for _ in range(n)] for _ in range(3))
    expected = circomlibjs.poseidon_many(cases)
    assert [poseidon(xs) for xs in cases] == expected


@pytest.mark.node
@settings(max_examples=40, deadline=None)
@given(st.lists(field_elements, min_size=1, max_size=MAX_INPUTS))
def test_poseidon_equals_circomlibjs_on_any_inputs(
    circomlibjs: CircomlibjsReference, inputs: list[int]
) -> None:
    assert poseidon(inputs) == circomlibjs.poseidon(inputs)


@pytest.mark.parametrize("n", range(1, MAX_INPUTS + 1))
def test_poseidon_fast_path_equals_definition(n: int) -> None:
    rng = random.Random(n)
    inputs = [rng.randrange(P) for _ in range(n)]
    assert poseidon(inputs) == poseidon_reference(inputs)


def test_poseidon_refuses_bad_arity_and_non_canonical_inputs() -> None:
    with pytest.raises(ValueError):
        poseidon([])
    with pytest.raises(ValueError):
        poseidon([1] * (MAX_INPUTS + 1))
    with pytest.raises(FieldRangeError):
        poseidon([P])
    with pytest.raises(FieldRangeError):
        poseidon([-1])


def test_poseidon_accepts_numpy_integers() -> None:
    assert poseidon([np.int64(1), np.uint8(2)]) == KNOWN_ANSWERS[2]

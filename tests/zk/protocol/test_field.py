"""The BN254 field and the signed mapping (zk/field.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zk.exceptions import FieldRangeError
from zk.protocol.field import (
    FIELD_MODULUS,
    HALF_MODULUS,
    check_field_element,
    check_signed_bits,
    from_field,
    is_field_element,
    signed_bits,
    to_field,
    to_field_vector,
)

P = FIELD_MODULUS


def test_field_modulus_is_bn254_scalar_field() -> None:
    assert P == 0x30644E72E131A029B85045B68181585D2833E84879B9709143E1F593F0000001
    assert pow(5, P - 1, P) == 1  # Fermat: consistent with p prime


def test_to_field_maps_negative_to_p_minus_abs() -> None:
    assert to_field(0) == 0
    assert to_field(7) == 7
    assert to_field(-1) == P - 1
    assert to_field(-(2**40)) == P - 2**40
    assert to_field_vector([-2, 2]) == [P - 2, 2]


@given(st.integers(min_value=-HALF_MODULUS, max_value=HALF_MODULUS))
def test_to_field_from_field_round_trip(v: int) -> None:
    x = to_field(v)
    assert 0 <= x < P
    assert from_field(x) == v


def test_to_field_refuses_values_without_signed_representation() -> None:
    with pytest.raises(FieldRangeError):
        to_field(HALF_MODULUS + 1)
    with pytest.raises(FieldRangeError):
        to_field(-HALF_MODULUS - 1)
    with pytest.raises(FieldRangeError):
        to_field(True)
    with pytest.raises(FieldRangeError):
        to_field(1.0)  # type: ignore[arg-type]


def test_check_field_element_refuses_non_canonical() -> None:
    assert check_field_element(P - 1) == P - 1
    for bad in (P, -1, P + 5):
        with pytest.raises(FieldRangeError):
            check_field_element(bad)
    assert is_field_element(0) and is_field_element(P - 1)
    assert not is_field_element(P) and not is_field_element(-1) and not is_field_element("1")


def test_field_range_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        from_field(P)


def test_check_signed_bits_bounds() -> None:
    check_signed_bits([2**40 - 1, -(2**40 - 1), 0], 40)
    with pytest.raises(FieldRangeError, match=r"value\[1\]"):
        check_signed_bits([0, 2**40], 40)
    with pytest.raises(FieldRangeError):
        check_signed_bits([-(2**40)], 40)
    assert signed_bits(0) == 0
    assert signed_bits(-(2**40 - 1)) == 40
    assert signed_bits(2**40) == 41

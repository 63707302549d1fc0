"""The BN254 scalar field, in which circom circuits, Poseidon and Groth16 compute.

Signed integers enter the field the way circom represents negative numbers:
``v ↦ v mod p``, so ``-1 ↦ p - 1`` (:func:`to_field`). Going back, elements above
``(p - 1) / 2`` are read as negative (:func:`from_field`). The map is a bijection between
``[-(p-1)/2, (p-1)/2]`` and ``[0, p)``; the values the market puts in the field are far
smaller (see ``zk/README.md``), and :func:`check_signed_bits` is the range check the circuit
mirrors with ``Num2Bits``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import SupportsIndex

from zk.exceptions import FieldRangeError

__all__ = [
    "FIELD_MODULUS",
    "HALF_MODULUS",
    "check_field_element",
    "check_signed_bits",
    "from_field",
    "is_field_element",
    "signed_bits",
    "to_field",
    "to_field_vector",
]

#: p, the order of BN254's (alt_bn128's) G1 group: the scalar field of circom and snarkjs.
FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617
#: (p - 1) / 2: the largest magnitude a signed value may have to survive the round trip.
HALF_MODULUS = (FIELD_MODULUS - 1) // 2


def _as_int(value: SupportsIndex) -> int:
    if isinstance(value, bool):
        raise FieldRangeError(f"expected an integer, got the bool {value!r}")
    try:
        return int(value.__index__())
    except (AttributeError, TypeError):
        raise FieldRangeError(f"expected an integer, got {type(value).__name__}") from None


def is_field_element(value: object) -> bool:
    """True when ``value`` is an integer in ``[0, p)`` (the canonical form of an element)."""
    try:
        x = _as_int(value)  # type: ignore[arg-type]
    except FieldRangeError:
        return False
    return 0 <= x < FIELD_MODULUS


def check_field_element(value: SupportsIndex, name: str = "value") -> int:
    """Return ``value`` as an ``int`` if it is a canonical field element, else raise
    :class:`FieldRangeError` (no silent reduction modulo p)."""
    x = _as_int(value)
    if not 0 <= x < FIELD_MODULUS:
        raise FieldRangeError(f"{name} must be a field element in [0, p), got {x}")
    return x


def to_field(value: SupportsIndex) -> int:
    """Map a signed integer with ``|v| <= (p-1)/2`` to the field: ``v`` if ``v >= 0``, else
    ``p - |v|``."""
    v = _as_int(value)
    if not -HALF_MODULUS <= v <= HALF_MODULUS:
        raise FieldRangeError(f"|{v}| exceeds (p-1)/2: it has no signed field representation")
    return v % FIELD_MODULUS


def from_field(element: SupportsIndex) -> int:
    """Inverse of :func:`to_field`: elements ``> (p-1)/2`` are read as ``element - p``."""
    x = check_field_element(element, "element")
    return x - FIELD_MODULUS if x > HALF_MODULUS else x


def to_field_vector(values: Iterable[SupportsIndex]) -> list[int]:
    """:func:`to_field` applied to each value."""
    return [to_field(v) for v in values]


def signed_bits(value: SupportsIndex) -> int:
    """The least ``n`` with ``|v| < 2**n`` (0 for 0)."""
    return abs(_as_int(value)).bit_length()


def check_signed_bits(values: Iterable[SupportsIndex], bits: int, name: str = "value") -> None:
    """Raise :class:`FieldRangeError` unless every ``|v| < 2**bits``.

    This is the check a circuit makes with ``Num2Bits(bits + 1)`` on ``v + 2**bits``.
    """
    if not 0 <= bits < 253:
        raise ValueError(f"bits must be in [0, 253), got {bits}")
    bound = 1 << bits
    for i, v in enumerate(values):
        x = _as_int(v)
        if not -bound < x < bound:
            raise FieldRangeError(f"{name}[{i}] = {x} is outside (-2^{bits}, 2^{bits})")

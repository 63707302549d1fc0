"""The commitment to a sketch, and to the aggregate sketch.

A sketch ``s`` of k signed integers and a salt (a field element) are committed to by
chaining circomlib Poseidon calls over the list ``X = [salt, f(s_0), …, f(s_{k-1})]`` of
k + 1 field elements (``f`` = :func:`zk.protocol.field.to_field`, so ``-1 ↦ p - 1``):

* ``h_0 = Poseidon(X[0 : 16])`` (all of X when k + 1 ≤ 16);
* ``h_j = Poseidon(h_{j-1}, X[16 + 15(j-1) : 16 + 15j])`` while elements remain, the last
  call taking the 1 … 15 that are left;
* the commitment is the last ``h``.

For k = 32 that is three calls: Poseidon(16 inputs) on ``salt, s_0 … s_14``, Poseidon(16) on
``h_0, s_15 … s_29``, Poseidon(3) on ``h_1, s_30, s_31``. k is fixed by the task (and by the
circuit), so it is not hashed in. ``zk/circuits/commitment.circom`` is the same composition as
a circom template.

The aggregate sketch ``g`` is committed the same way with the public constant
:data:`AGGREGATE_TAG` in place of the salt: binding, deliberately not hiding.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import SupportsIndex

from market.tracing import traced
from zk.protocol.field import FIELD_MODULUS, check_field_element, to_field
from zk.protocol.poseidon import MAX_INPUTS, poseidon

__all__ = [
    "AGGREGATE_TAG",
    "FIRST_CALL_INPUTS",
    "LATER_CALL_VALUES",
    "aggregate_commitment",
    "chain_hash",
    "commitment_calls",
    "random_salt",
    "sketch_commitment",
]

#: Elements of X taken by the first Poseidon call.
FIRST_CALL_INPUTS = MAX_INPUTS
#: New elements of X taken by every later call (its first input is the previous hash).
LATER_CALL_VALUES = MAX_INPUTS - 1
#: The salt of the aggregate commitment: the ASCII bytes ``poc-market:aggregate-sketch:v1``
#: read as a big-endian integer (30 bytes, so below p).
AGGREGATE_TAG = int.from_bytes(b"poc-market:aggregate-sketch:v1", "big")


def commitment_calls(k: int) -> list[int]:
    """The number of inputs of each Poseidon call when committing to k values (e.g.
    ``[16, 16, 3]`` for k = 32)."""
    if k < 1:
        raise ValueError(f"a sketch has at least one value, got k = {k}")
    n = k + 1
    calls = [min(n, FIRST_CALL_INPUTS)]
    left = n - calls[0]
    while left > 0:
        take = min(left, LATER_CALL_VALUES)
        calls.append(take + 1)
        left -= take
    return calls


def chain_hash(elements: Sequence[int]) -> int:
    """The chained Poseidon of the module docstring over any non-empty list of field
    elements."""
    if not elements:
        raise ValueError("nothing to hash")
    h = poseidon(elements[:FIRST_CALL_INPUTS])
    for start in range(FIRST_CALL_INPUTS, len(elements), LATER_CALL_VALUES):
        h = poseidon([h, *elements[start : start + LATER_CALL_VALUES]])
    return h


@traced("sketch.commitment")
def sketch_commitment(sketch: Sequence[SupportsIndex], salt: SupportsIndex) -> int:
    """``c = chain_hash([salt, to_field(s_0), …, to_field(s_{k-1})])`` for a signed sketch."""
    if len(sketch) < 1:
        raise ValueError("a sketch has at least one value")
    return chain_hash([check_field_element(salt, "salt"), *(to_field(v) for v in sketch)])


def aggregate_commitment(g: Sequence[SupportsIndex]) -> int:
    """The commitment to the aggregate sketch: :func:`sketch_commitment` with salt
    :data:`AGGREGATE_TAG`."""
    return sketch_commitment(g, AGGREGATE_TAG)


def random_salt() -> int:
    """A uniformly random field element from the operating system's CSPRNG (``secrets``)."""
    return secrets.randbelow(FIELD_MODULUS)

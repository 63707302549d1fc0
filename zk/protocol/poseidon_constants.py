"""Poseidon's round constants and MDS matrices for BN254, generated in code.

circomlib (``poseidon_constants.circom``) and circomlibjs (``poseidon_constants.json``) took
theirs from the Poseidon authors' reference script ``generate_parameters_grain.sage`` run as
``sage generate_parameters_grain.sage 1 0 254 t 8 R_P p`` for t = 2 … 17. That script draws
everything from one Grain LFSR seeded with the parameters:

* the 80-bit initial state is ``field=1`` (2 bits), ``sbox=0`` (4 bits), ``n=254`` (12 bits),
  ``t`` (12 bits), ``R_F=8`` (10 bits), ``R_P`` (10 bits), then thirty 1 bits, each field
  written most significant bit first;
* the feedback is ``b[i+80] = b[i+62] ^ b[i+51] ^ b[i+38] ^ b[i+23] ^ b[i+13] ^ b[i]``; the
  first 160 bits are discarded;
* output bits are taken from pairs ``(b1, b2)`` of the stream: ``b2`` is output when ``b1`` is 1,
  the pair is dropped when ``b1`` is 0;
* a round constant is 254 output bits read most significant first, redrawn while ``>= p``;
  ``(R_F + R_P) * t`` of them are drawn, round by round, state index fastest;
* the MDS matrix is the Cauchy matrix ``M[i][j] = 1 / (x_i + y_j)`` over 2t further draws of
  254 bits each, reduced mod p (no redraw), ``x`` the first t and ``y`` the last t.

The script may redraw the matrix when its security checks (invariant subspace trails) fail;
for every t = 2 … 17 the first draw passed, which is why the generation below needs no checks.
The test suite checks the results against circomlibjs's Poseidon, so a mistake here cannot go
unnoticed.
"""

from __future__ import annotations

from functools import cache
from itertools import compress

from zk.protocol.field import FIELD_MODULUS

__all__ = ["N_ROUNDS_F", "N_ROUNDS_P", "MAX_INPUTS", "mds_matrix", "round_constants"]

#: Full rounds, for every width (4 before and 4 after the partial rounds).
N_ROUNDS_F = 8
#: Partial rounds for t = 2 … 17 (index t - 2): circomlib's table.
N_ROUNDS_P = (56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68)
#: Poseidon(nInputs) exists for nInputs = 1 … 16 (t = nInputs + 1 = 2 … 17).
MAX_INPUTS = len(N_ROUNDS_P)

_FIELD_BITS = 254
_BLOCK = 18  # the smallest tap distance: 18 new LFSR bits can be computed at once
_BLOCK_MASK = (1 << _BLOCK) - 1
_BATCH = 2048  # blocks per refill (36864 raw bits, an even number)


class _Grain:
    """The reference script's Grain LFSR in self-shrinking mode, 18 bits at a time."""

    def __init__(self, t: int, r_f: int, r_p: int) -> None:
        init = f"{1:02b}{0:04b}{_FIELD_BITS:012b}{t:012b}{r_f:010b}{r_p:010b}" + "1" * 30
        # bit j of the window is stream bit b[j] (the oldest bit is the least significant)
        self._window = int(init[::-1], 2)
        self._out = ""
        raw = self._raw_batch()
        self._pending = raw[160:]  # the discarded warm-up; 160 is even, pairs stay aligned

    def _raw_batch(self) -> str:
        w = self._window
        blocks = []
        for _ in range(_BATCH):
            new = ((w >> 62) ^ (w >> 51) ^ (w >> 38) ^ (w >> 23) ^ (w >> 13) ^ w) & _BLOCK_MASK
            w = (w >> _BLOCK) | (new << 62)
            blocks.append(format(new, "018b")[::-1])
        self._window = w
        return "".join(blocks)

    def _refill(self) -> None:
        raw = self._pending or self._raw_batch()
        self._pending = ""
        selectors = map("1".__eq__, raw[0::2])
        self._out += "".join(compress(raw[1::2], selectors))

    def take(self, n: int) -> int:
        """The next ``n`` output bits as an integer, the first bit most significant."""
        while len(self._out) < n:
            self._refill()
        bits, self._out = self._out[:n], self._out[n:]
        return int(bits, 2)


@cache
def _generate(t: int) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    if not 2 <= t <= MAX_INPUTS + 1:
        raise ValueError(f"Poseidon width t must be in [2, {MAX_INPUTS + 1}], got {t}")
    r_p = N_ROUNDS_P[t - 2]
    grain = _Grain(t, N_ROUNDS_F, r_p)
    constants: list[int] = []
    while len(constants) < (N_ROUNDS_F + r_p) * t:
        c = grain.take(_FIELD_BITS)
        if c < FIELD_MODULUS:
            constants.append(c)
    draws = [grain.take(_FIELD_BITS) % FIELD_MODULUS for _ in range(2 * t)]
    if len(set(draws)) != 2 * t:  # pragma: no cover - the reference would redraw; never here
        raise AssertionError(f"duplicate Cauchy points for t={t}")
    xs, ys = draws[:t], draws[t:]
    matrix = tuple(tuple(pow(x + y, -1, FIELD_MODULUS) for y in ys) for x in xs)
    return tuple(constants), matrix


def round_constants(t: int) -> tuple[int, ...]:
    """The ``(8 + R_P) * t`` round constants of width ``t``: round ``r`` adds
    ``C[r*t : (r+1)*t]`` to the state."""
    return _generate(t)[0]


def mds_matrix(t: int) -> tuple[tuple[int, ...], ...]:
    """The ``t × t`` MDS matrix: a round ends with ``state[i] = Σ_j M[i][j] * state[j]``."""
    return _generate(t)[1]

"""Poseidon over BN254, exactly as circomlib's ``Poseidon(nInputs)`` template and
circomlibjs's ``buildPoseidon`` compute it, for 1 … 16 inputs.

Parameters (Grassi et al., "Poseidon", USENIX Security 2021, eprint 2019/458): width
``t = nInputs + 1``, S-box ``x^5``, 8 full rounds (4 + 4) and circomlib's partial-round counts,
constants from :mod:`zk.protocol.poseidon_constants`. The state starts as ``[0, in_1, …, in_n]`` and
the hash is ``state[0]`` after the permutation. Each round: add the round constants, apply
the S-box (to every element in a full round, to ``state[0]`` only in a partial round), multiply
by the MDS matrix.

No PyPI package covered the whole range when this was written: ``light-poseidon-python``
agrees with circomlibjs but stops at 12 inputs (and its simple API takes 64-bit integers only),
as does ``light-poseidon``; ``poseidon-py`` computes Starknet's Poseidon. So this is
pure Python, made fast by the standard rewriting of the partial rounds (the paper's appendix B,
as in circomlibjs's ``poseidon_opt.js``), which the tests compare against the plain
definition (:func:`poseidon_reference`) and against circomlibjs.

Inputs must be canonical field elements (``0 <= x < p``); circomlibjs would reduce larger
values modulo p, which would let two different inputs collide, so they are refused here. Map
signed integers with :func:`zk.protocol.field.to_field` first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from operator import mul
from typing import SupportsIndex

from zk.protocol.field import FIELD_MODULUS, check_field_element
from zk.protocol.poseidon_constants import MAX_INPUTS, N_ROUNDS_F, N_ROUNDS_P, mds_matrix, round_constants

__all__ = ["MAX_INPUTS", "poseidon", "poseidon_reference"]

_P = FIELD_MODULUS


def _check_inputs(inputs: Sequence[SupportsIndex]) -> list[int]:
    n = len(inputs)
    if not 1 <= n <= MAX_INPUTS:
        raise ValueError(f"Poseidon takes 1 to {MAX_INPUTS} inputs, got {n}")
    return [check_field_element(x, f"Poseidon input {i}") for i, x in enumerate(inputs)]


def poseidon_reference(inputs: Sequence[SupportsIndex]) -> int:
    """Poseidon by the letter of the definition (circomlibjs's ``poseidon_reference.js``).

    Slow (a full matrix product every round); kept as the executable specification that the
    fast :func:`poseidon` is tested against.
    """
    state = [0, *_check_inputs(inputs)]
    t = len(state)
    c, m = round_constants(t), mds_matrix(t)
    r_p = N_ROUNDS_P[t - 2]
    half = N_ROUNDS_F // 2
    for r in range(N_ROUNDS_F + r_p):
        state = [(x + c[r * t + i]) % _P for i, x in enumerate(state)]
        if r < half or r >= half + r_p:
            state = [pow(x, 5, _P) for x in state]
        else:
            state[0] = pow(state[0], 5, _P)
        state = [sum(map(mul, row, state)) % _P for row in m]
    return state[0]


@dataclass(frozen=True)
class _Plan:
    """Precomputed constants of the fast evaluation for one width t.

    Partial rounds are rewritten (see :func:`_plan`) as: ``state[0] += alpha[j]``, S-box on
    ``state[0]``, then a sparse matrix ``[[m00, v_j], [w_j, I]]``; after the last one the
    dense block ``tail`` multiplies ``state[1:]``.
    """

    t: int
    first_constants: tuple[tuple[int, ...], ...]  # the 4 full rounds before
    alpha: tuple[int, ...]  # one scalar constant a partial round
    m00: int
    v: tuple[tuple[int, ...], ...]  # first row (without m00) of each sparse matrix
    w: tuple[tuple[int, ...], ...]  # first column (without m00) of each sparse matrix
    tail: tuple[tuple[int, ...], ...]  # (t-1) × (t-1) block applied after the partial rounds
    last_constants: tuple[tuple[int, ...], ...]  # the 4 full rounds after (carry folded in)
    mds: tuple[tuple[int, ...], ...]


def _mat_vec(m: Sequence[Sequence[int]], x: Sequence[int]) -> list[int]:
    return [sum(map(mul, row, x)) % _P for row in m]


def _mat_mul(a: Sequence[Sequence[int]], b: Sequence[Sequence[int]]) -> list[list[int]]:
    cols = list(zip(*b))
    return [[sum(map(mul, row, col)) % _P for col in cols] for row in a]


def _mat_inv(a: Sequence[Sequence[int]]) -> list[list[int]]:
    """Inverse modulo p by Gauss-Jordan elimination (``a`` is a square block of an MDS
    matrix, hence invertible)."""
    n = len(a)
    aug = [list(row) + [int(i == j) for j in range(n)] for i, row in enumerate(a)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if aug[r][col] % _P)
        aug[col], aug[pivot] = aug[pivot], aug[col]
        inv = pow(aug[col][col], -1, _P)
        aug[col] = [x * inv % _P for x in aug[col]]
        for r in range(n):
            if r != col and aug[r][col]:
                f = aug[r][col]
                aug[r] = [(x - f * y) % _P for x, y in zip(aug[r], aug[col])]
    return [row[n:] for row in aug]


@cache
def _plan(t: int) -> _Plan:
    """Rewrite the partial rounds of width ``t`` (derivation in the comments).

    1. Constants: in a partial round only ``state[0]`` goes through the S-box, so the round
       constants of elements 1 … t-1 pass linearly: ``M·(S(x + (a, g))) = M·S(x + (a, 0)) +
       M·(0, g)``. Each round's tail ``g`` is pushed into the next round's constants; what is
       left after the last partial round joins the first full round after them.
    2. Matrices: write ``A_1 = M``. Split ``A_j = P_j · S_j`` with ``P_j = diag(1, Â_j)``,
       ``Â_j`` the lower-right block of ``A_j``, and the sparse ``S_j = [[A_j[0,0],
       A_j[0,1:]], [Â_j⁻¹·A_j[1:,0], I]]``. ``P_j`` leaves element 0 alone, so it commutes
       with the next round's constant addition and S-box, and moves on: ``A_{j+1} = M·P_j``.
       Hence ``Â_j = M̂^j``, ``A_j[1:,0] = M[1:,0]``, ``A_j[0,1:] = M[0,1:]·M̂^(j-1)``, and
       after the last partial round ``P_{R_P}`` (``M̂^R_P`` on the tail) is applied once.
    """
    c, m = round_constants(t), mds_matrix(t)
    r_p = N_ROUNDS_P[t - 2]
    half = N_ROUNDS_F // 2
    rounds = [list(c[r * t : (r + 1) * t]) for r in range(N_ROUNDS_F + r_p)]

    alpha = []
    carry = [0] * t
    for r in range(half, half + r_p):
        k = [(x + y) % _P for x, y in zip(rounds[r], carry)]
        alpha.append(k[0])
        carry = _mat_vec(m, [0, *k[1:]])
    rounds[half + r_p] = [(x + y) % _P for x, y in zip(rounds[half + r_p], carry)]

    m_hat = [list(row[1:]) for row in m[1:]]
    m_hat_inv = _mat_inv(m_hat)
    v_row = list(m[0][1:])  # M[0,1:] · M̂^(j-1)
    w_col = [row[0] for row in m[1:]]  # M̂^(-j) · M[1:,0]
    power = [[int(i == j) for j in range(t - 1)] for i in range(t - 1)]
    vs, ws = [], []
    for _ in range(r_p):
        w_col = _mat_vec(m_hat_inv, w_col)
        vs.append(tuple(v_row))
        ws.append(tuple(w_col))
        v_row = [sum(map(mul, v_row, col)) % _P for col in zip(*m_hat)]
        power = _mat_mul(m_hat, power)
    return _Plan(
        t=t,
        first_constants=tuple(tuple(x) for x in rounds[:half]),
        alpha=tuple(alpha),
        m00=m[0][0],
        v=tuple(vs),
        w=tuple(ws),
        tail=tuple(tuple(row) for row in power),
        last_constants=tuple(tuple(x) for x in rounds[half + r_p :]),
        mds=m,
    )


def _sbox(x: int) -> int:
    x2 = x * x % _P
    return x2 * x2 % _P * x % _P


def poseidon(inputs: Sequence[SupportsIndex]) -> int:
    """``Poseidon(nInputs)`` of circomlib on ``inputs`` (1 … 16 field elements)."""
    state = [0, *_check_inputs(inputs)]
    plan = _plan(len(state))
    mds = plan.mds
    p = _P
    for consts in plan.first_constants:
        state = [_sbox((x + k) % p) for x, k in zip(state, consts)]
        state = [sum(map(mul, row, state)) % p for row in mds]
    m00 = plan.m00
    for a, v, w in zip(plan.alpha, plan.v, plan.w):
        x0 = _sbox((state[0] + a) % p)
        rest = state[1:]
        state = [(m00 * x0 + sum(map(mul, v, rest))) % p]
        state += [(wi * x0 + xi) % p for wi, xi in zip(w, rest)]
    state = [state[0], *(sum(map(mul, row, state[1:])) % p for row in plan.tail)]
    for consts in plan.last_constants[:-1]:
        state = [_sbox((x + k) % p) for x, k in zip(state, consts)]
        state = [sum(map(mul, row, state)) % p for row in mds]
    state = [_sbox((x + k) % p) for x, k in zip(state, plan.last_constants[-1])]
    out: int = sum(map(mul, mds[0], state)) % p  # only state[0] of the last round is needed
    return out

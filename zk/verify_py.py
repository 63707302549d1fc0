"""An independent Groth16 verifier over BN254 in pure Python (py_ecc), for audits and tests.

It shares no code with groth16py or the Solidity verifier, so no single library's verifier
is trusted alone. It takes the verification key as snarkjs writes it
(``verification_key.json``: G1 points ``[x, y, "1"]``, G2 points ``[[x_c0, x_c1], [y_c0,
y_c1], ["1", "0"]]``), the 256-byte proof the contracts take (``a.x a.y | b.x.c1 b.x.c0 b.y.c1
b.y.c0 | c.x c.y``, 32-byte big-endian words, the EVM precompiles' Fp2 order) and the public
inputs, and checks

    e(A, B) = e(α, β) · e(vk_x, γ) · e(C, δ),   vk_x = IC_0 + Σ x_i · IC_i

as one product of four Miller loops and a single final exponentiation (~0.5 s). Like the EVM
it refuses coordinates ≥ q, points off their curve, a B outside the order-r subgroup of G2,
and public inputs ≥ r; the all-zero encoding is the point at infinity.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from py_ecc.optimized_bn128 import (
    FQ,
    FQ2,
    FQ12,
    add,
    b,
    b2,
    curve_order,
    field_modulus,
    is_inf,
    is_on_curve,
    multiply,
    neg,
)
from py_ecc.optimized_bn128.optimized_pairing import cast_point_to_fq12, final_exponentiate, miller_loop, twist

from zk.exceptions import ZkError

__all__ = ["PROOF_LENGTH", "Groth16Proof", "MalformedProofError", "VerificationKey", "decode_proof", "verify"]

PROOF_LENGTH = 256


class MalformedProofError(ZkError, ValueError):
    """The proof or key bytes do not decode to valid curve points."""


G1Point = tuple[FQ, FQ, FQ]
G2Point = tuple[FQ2, FQ2, FQ2]


def _g1(x: int, y: int) -> G1Point:
    if not (0 <= x < field_modulus and 0 <= y < field_modulus):
        raise MalformedProofError("a G1 coordinate is not below the base field modulus q")
    if x == 0 and y == 0:
        return (FQ(1), FQ(1), FQ(0))
    point = (FQ(x), FQ(y), FQ(1))
    if not is_on_curve(point, b):
        raise MalformedProofError("a G1 point is not on the curve")
    return point


def _g2(x_c0: int, x_c1: int, y_c0: int, y_c1: int, *, subgroup: bool) -> G2Point:
    coords = (x_c0, x_c1, y_c0, y_c1)
    if not all(0 <= c < field_modulus for c in coords):
        raise MalformedProofError("a G2 coordinate is not below the base field modulus q")
    if not any(coords):
        return (FQ2.one(), FQ2.one(), FQ2.zero())
    point = (FQ2([x_c0, x_c1]), FQ2([y_c0, y_c1]), FQ2.one())
    if not is_on_curve(point, b2):
        raise MalformedProofError("a G2 point is not on the twist curve")
    if subgroup and not is_inf(multiply(point, curve_order)):
        raise MalformedProofError("a G2 point is not in the order-r subgroup")
    return point


class VerificationKey:
    """A Groth16 verification key read from snarkjs's ``verification_key.json`` format."""

    def __init__(self, data: dict[str, Any]) -> None:
        try:
            if data.get("protocol", "groth16") != "groth16" or data.get("curve", "bn128") not in ("bn128", "bn254"):
                raise MalformedProofError("not a BN254 Groth16 verification key")
            self.alpha = self._g1(data["vk_alpha_1"])
            self.beta = self._g2(data["vk_beta_2"])
            self.gamma = self._g2(data["vk_gamma_2"])
            self.delta = self._g2(data["vk_delta_2"])
            self.ic = [self._g1(p) for p in data["IC"]]
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, MalformedProofError):
                raise
            raise MalformedProofError(f"unreadable verification key: {exc}") from None
        self.n_public = len(self.ic) - 1
        self._alpha_beta: FQ12 | None = None
        if "nPublic" in data and int(data["nPublic"]) != self.n_public:
            raise MalformedProofError(f"nPublic = {data['nPublic']} but {len(self.ic)} IC points")

    @property
    def alpha_beta(self) -> FQ12:
        """The Miller loop of e(α, β), the same for every proof: computed once per key."""
        if self._alpha_beta is None:
            self._alpha_beta = _miller(self.beta, self.alpha)
        return self._alpha_beta

    @staticmethod
    def _g1(p: Sequence[Any]) -> G1Point:
        x, y, z = (int(v) for v in p)
        if z != 1:
            raise MalformedProofError("G1 points of the key must be affine (z = 1)")
        return _g1(x, y)

    @staticmethod
    def _g2(p: Sequence[Sequence[Any]]) -> G2Point:
        (x0, x1), (y0, y1), (z0, z1) = ((int(a), int(c)) for a, c in p)
        if (z0, z1) != (1, 0):
            raise MalformedProofError("G2 points of the key must be affine (z = 1)")
        return _g2(x0, x1, y0, y1, subgroup=True)

    @classmethod
    def from_json(cls, source: str | Path | dict[str, Any]) -> "VerificationKey":
        """From a dict, a JSON string or a path to ``verification_key.json``. A committed key
        document (``zk/keys/*.vk.json``) is accepted too: its ``verificationKey`` is used."""
        if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("{")):
            source = Path(source).read_text()
        data = json.loads(source) if isinstance(source, str) else source
        if "verificationKey" in data:
            data = data["verificationKey"]
        return cls(data)


class Groth16Proof:
    """A decoded proof: A, C in G1, B in G2."""

    def __init__(self, a: G1Point, b_point: G2Point, c: G1Point) -> None:
        self.a, self.b, self.c = a, b_point, c


def decode_proof(proof: bytes) -> Groth16Proof:
    """Decode the contracts' 256-byte proof; :class:`MalformedProofError` when it is not one."""
    if not isinstance(proof, (bytes, bytearray)):
        raise MalformedProofError(f"a proof is {PROOF_LENGTH} bytes, got {type(proof).__name__}")
    if len(proof) != PROOF_LENGTH:
        raise MalformedProofError(f"a proof is {PROOF_LENGTH} bytes, got {len(proof)}")
    w = [int.from_bytes(proof[32 * i:32 * (i + 1)], "big") for i in range(8)]
    return Groth16Proof(_g1(w[0], w[1]), _g2(w[3], w[2], w[5], w[4], subgroup=True), _g1(w[6], w[7]))


def _miller(q: G2Point, p: G1Point) -> FQ12:
    if is_inf(q) or is_inf(p):
        return FQ12.one()
    return miller_loop(twist(q), cast_point_to_fq12(p), final_exponentiate=False)


def verify(vk: VerificationKey | dict | str | Path, proof: bytes, public_inputs: Sequence[int]) -> bool:
    """True when ``proof`` verifies for ``public_inputs`` under ``vk``; False for a wrong
    proof, malformed proof bytes, the wrong number of inputs or an input ≥ r."""
    if not isinstance(vk, VerificationKey):
        vk = VerificationKey.from_json(vk)
    if len(public_inputs) != vk.n_public:
        return False
    inputs = [int(x) for x in public_inputs]
    if any(not 0 <= x < curve_order for x in inputs):
        return False
    try:
        p = decode_proof(bytes(proof))
    except MalformedProofError:
        return False
    vk_x = vk.ic[0]
    for x, point in zip(inputs, vk.ic[1:]):
        if x:
            vk_x = add(vk_x, multiply(point, x))
    f = _miller(p.b, neg(p.a)) * vk.alpha_beta * _miller(vk.gamma, vk_x) * _miller(vk.delta, p.c)
    return final_exponentiate(f) == FQ12.one()

"""zk/verify_py.py, the independent py_ecc Groth16 verifier: it agrees with groth16py and refuses
what the EVM refuses (coordinates >= q, points off their curve, B outside G2's subgroup, inputs
>= r), answering False rather than raising for a bad proof."""

from __future__ import annotations

import json

import groth16py
import pytest
from py_ecc.optimized_bn128 import FQ2, b2, curve_order, field_modulus, is_inf, is_on_curve, multiply, normalize

from tests.zk.round_cases import RoundCase, active
from zk.round_circuit import RoundShape
from zk.solidity import committed_vk_path
from zk.verify_py import MalformedProofError, VerificationKey, decode_proof, verify

K = 4


@pytest.fixture(scope="module")
def proved(round_keys):
    case = RoundCase([active([2, 7, 1, 8]), active([2, 8, 1, 8]), active([-2, 8, 4, 5])], K)
    return case, case.prove(round_keys)


@pytest.fixture(scope="module")
def vk(round_keys) -> VerificationKey:
    return VerificationKey.from_json(round_keys.vk_json)


def _word(x: int) -> bytes:
    return x.to_bytes(32, "big")


def _sqrt_fq2(a: FQ2) -> FQ2 | None:
    """A square root in Fp2 (p = 3 mod 4; Adj and Rodríguez-Henríquez, algorithm 9), or None."""
    p = field_modulus
    a1 = a ** ((p - 3) // 4)
    alpha = a1 * a1 * a
    a0 = alpha ** p * alpha
    if a0 == FQ2([p - 1, 0]):
        return None
    x0 = a1 * a
    if alpha == FQ2([p - 1, 0]):
        return FQ2([0, 1]) * x0
    return (FQ2.one() + alpha) ** ((p - 1) // 2) * x0


def _twist_point_outside_g2() -> tuple[FQ2, FQ2]:
    """A point on the twist curve y² = x³ + b2 that is not in the order-r subgroup."""
    for x0 in range(1, 100):
        x = FQ2([x0, 1])
        y = _sqrt_fq2(x ** 3 + b2)
        if y is not None and y * y == x ** 3 + b2:
            point = (x, y, FQ2.one())
            assert is_on_curve(point, b2)
            if not is_inf(multiply(point, curve_order)):
                return normalize(point)
    raise AssertionError("no point found")


def test_verify_py_agrees_with_groth16py(round_keys, vk, proved):
    case, proof = proved
    public = case.public(round_keys)
    wrong = list(public)
    wrong[-1] = (wrong[-1] + 1) % curve_order
    native = groth16py.Verifier(round_keys.verifying_key)
    assert verify(vk, proof.proof, public) is native.verify(proof.proof, public) is True
    assert verify(vk, proof.proof, wrong) is native.verify(proof.proof, wrong) is False


def test_verify_py_reads_key_files_and_documents(round_keys, proved, tmp_path):
    case, proof = proved
    path = tmp_path / "verification_key.json"
    path.write_text(json.dumps(round_keys.vk_json))
    assert verify(path, proof.proof, case.public(round_keys))
    assert verify(str(path), proof.proof, case.public(round_keys))
    assert VerificationKey.from_json(committed_vk_path(RoundShape(16, 32))).n_public == 26


def test_verify_py_refuses_bad_public_inputs(round_keys, vk, proved):
    case, proof = proved
    public = case.public(round_keys)
    assert not verify(vk, proof.proof, public[:-1])
    assert not verify(vk, proof.proof, public + [0])
    shifted = list(public)
    shifted[0] += curve_order  # the same residue, but not canonical: the EVM refuses it too
    assert not verify(vk, proof.proof, shifted)


@pytest.mark.parametrize("kind", ["short", "a.x=q", "a-off-curve", "b-off-twist", "b-outside-subgroup",
                                  "c-off-curve"])
def test_verify_py_refuses_malformed_proofs(round_keys, vk, proved, kind):
    # Prepare
    case, proof = proved
    p = proof.proof
    if kind == "short":
        bad = p[:-32]
    elif kind == "a.x=q":
        bad = _word(field_modulus) + p[32:]
    elif kind == "a-off-curve":
        bad = _word(1) + _word(1) + p[64:]
    elif kind == "b-off-twist":
        bad = p[:64] + _word(1) * 4 + p[192:]
    elif kind == "b-outside-subgroup":
        x, y = _twist_point_outside_g2()
        bad = p[:64] + b"".join(_word(int(c)) for c in (x.coeffs[1], x.coeffs[0], y.coeffs[1], y.coeffs[0])) + p[192:]
    else:
        bad = p[:192] + _word(1) + _word(1)

    # Execute / Assert
    with pytest.raises(MalformedProofError):
        decode_proof(bad)
    assert verify(vk, bad, case.public(round_keys)) is False


def test_verify_py_refuses_a_garbled_key():
    with pytest.raises(MalformedProofError):
        VerificationKey({"protocol": "plonk"})
    with pytest.raises(MalformedProofError):
        VerificationKey({"vk_alpha_1": ["1", "1", "1"]})

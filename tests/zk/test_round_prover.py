"""The round circuit proves the provable rule, edge cases included, and nothing else.

Proofs for Round(4, 4) with a session DEVELOPMENT key; each is checked by groth16py's verifier
and by the independent py_ecc verifier (zk/verify_py.py). A witness whose values break the rule
yields no proof: the prover raises UnsatisfiableWitnessError.
"""

from __future__ import annotations

import random

import groth16py
import pytest

from tests.zk.round_cases import B, RoundCase, absent, active, rejected, uncommitted, with_result
from zk import round_circuit
from zk.exceptions import TooManySlotsError, UnsatisfiableWitnessError, WitnessInputError
from zk.protocol.rule import score_accepted
from zk.prover import prove_round
from zk.verify_py import VerificationKey, verify

K = 4
RNG = random.Random(20261124)


def rand_sketch(scale: int = 10**6) -> list[int]:
    return [RNG.randint(-scale, scale) for _ in range(K)]


def near(center: list[int], spread: int = 1000) -> list[int]:
    return [c + RNG.randint(-spread, spread) for c in center]


CENTER = [400_000, -250_000, 90_000, 1_000]
STEP = [1_000, -700, 500, 300]

EDGE_CASES = {
    # a center, two neighbours on either side and one update far above: m is the center, D the
    # neighbours' distance, and only the far one is flagged
    "honest-with-outlier": lambda: RoundCase([active(CENTER), active([c + d for c, d in zip(CENTER, STEP)]),
                                              active([c - d for c, d in zip(CENTER, STEP)]),
                                              active([c + 5_000_000 for c in CENTER])], K),
    "one-trainer": lambda: RoundCase([active(rand_sketch())], K),
    "all-rejected": lambda: RoundCase([rejected(rand_sketch()), rejected(rand_sketch()), uncommitted(K)], K),
    "empty-slots": lambda: RoundCase([active(near(CENTER)), absent(), active(near(CENTER)), absent()], K),
    "no-submissions": lambda: RoundCase([absent(), absent()], K),
    "mixed-marks": lambda: RoundCase([uncommitted(K), active(near(CENTER)), rejected(rand_sketch()),
                                      active(near(CENTER))], K),
    "zero-sketch": lambda: RoundCase([active([0] * K), active(near(CENTER)), active(near(CENTER))], K),
    "extremes": lambda: RoundCase([active([B, -B, B, -B]), active([-B, B, -B, B]), active([B] * K),
                                   active([-B] * K)], K),
    "extremes-one-outlier": lambda: RoundCase([active([B] * K), active([B] * K), active([B, B, B, B - 1]),
                                               active([-B] * K)], K),
    # D = 0 (a duplicated majority equals the median): nobody is flagged
    "median-distance-zero": lambda: RoundCase([active([0] * K), active([0] * K), active([9, -9, 9, -9])], K),
    # a negative inner product scores 0; floor division leaves remainders
    "negative-score-and-remainders": lambda: RoundCase([active([10] * K), active([10] * K), active([-1] * K)], K),
    "negative-sums": lambda: RoundCase([active([-5, -6, -7, -8]), active([-6, -6, -6, -6]),
                                        active([7, 0, -1, 2])], K),
    # τ = 1/2: the slot at distance D is itself flagged; here every slot is
    "all-flagged-tau-half": lambda: RoundCase([active([1, 0, 0, 0]), active([0, 1, 0, 0]),
                                               active([-1, -1, 0, 0])], K, tau=(1, 2)),
    "tau-fraction": lambda: RoundCase([active(near(CENTER, 10)), active(near(CENTER, 1000)),
                                       active(near(CENTER, 100_000)), active(near(CENTER, 30))], K,
                                      tau=(3141, 1000)),
}


@pytest.fixture(scope="module")
def py_vk(round_keys) -> VerificationKey:
    return VerificationKey.from_json(round_keys.vk_json)


def test_round_prover_honest_round_verifies_in_both_verifiers(round_keys, py_vk):
    # Prepare
    case = EDGE_CASES["honest-with-outlier"]()
    assert case.result.flags == (False, False, False, True)

    # Execute
    proof = case.prove(round_keys)

    # Assert
    assert len(proof.proof) == 256
    assert proof.public_inputs == case.public(round_keys)
    assert groth16py.Verifier(round_keys.verifying_key).verify(proof.proof, proof.public_inputs)
    assert verify(py_vk, proof.proof, proof.public_inputs)
    assert "DEVELOPMENT" in proof.key_label


@pytest.mark.parametrize("name", [n for n in EDGE_CASES if n != "honest-with-outlier"])
def test_round_prover_edge_case_verifies(round_keys, name):
    # Prepare
    case = EDGE_CASES[name]()

    # Execute
    proof = case.prove(round_keys)

    # Assert
    assert groth16py.Verifier(round_keys.verifying_key).verify(proof.proof, case.public(round_keys))


def test_round_prover_edge_cases_mean_what_they_say():
    assert not any(EDGE_CASES["all-rejected"]().result.active)
    assert EDGE_CASES["all-flagged-tau-half"]().result.flags == (True, True, True)
    assert EDGE_CASES["all-flagged-tau-half"]().result.accepted_count == 0
    zero = EDGE_CASES["median-distance-zero"]().result
    assert zero.median_distance == 0 and zero.distances[2] > 0 and not any(zero.flags)
    neg = EDGE_CASES["negative-score-and-remainders"]().result
    assert neg.inner_products[2] < 0 and neg.scores[2] == 0 and any(neg.remainders)
    assert min(EDGE_CASES["negative-sums"]().result.aggregate) < 0
    extreme = EDGE_CASES["extremes-one-outlier"]().result
    assert extreme.flags == (False, False, False, True)
    assert 1 << 81 < max(extreme.scores) <= K * B * B < 1 << 126  # near the largest score


def test_round_prover_python_verifier_accepts_edge_case_proofs(round_keys, py_vk):
    for name in ("all-rejected", "extremes", "all-flagged-tau-half"):
        case = EDGE_CASES[name]()
        assert verify(py_vk, case.prove(round_keys).proof, case.public(round_keys)), name


# --- witnesses that break the rule -------------------------------------------------------------
def _broken(result, what: str):
    """The honest result with one value of the rule changed."""
    if what == "median":
        return with_result(result, median=(result.median[0] + 1, *result.median[1:]))
    if what == "median-distance":
        return with_result(result, median_distance=result.median_distance + 1)
    if what == "median-distance-zero":  # claim D = 0 so nobody is flagged
        return with_result(result, median_distance=0, flags=(False,) * 4)
    if what == "aggregate":
        return with_result(result, aggregate=(result.aggregate[0] + 1, *result.aggregate[1:]))
    if what == "aggregate-and-remainder":  # c·g + r still equals the sum, but r < 0
        c = result.accepted_count
        return with_result(result, aggregate=(result.aggregate[0] + 1, *result.aggregate[1:]),
                           remainders=(result.remainders[0] - c, *result.remainders[1:]))
    if what == "remainder":
        return with_result(result, remainders=(result.remainders[0] + 1, *result.remainders[1:]))
    if what == "flag-an-honest-slot":
        return with_result(result, flags=(True, *result.flags[1:]))
    if what == "unflag-the-outlier":
        return with_result(result, flags=result.flags[:3] + (False,))
    if what == "score-inflated":
        return with_result(result, scores=(result.scores[0] + 1, *result.scores[1:]))
    if what == "score-for-flagged":
        return with_result(result, scores=result.scores[:3] + (12345,))
    raise AssertionError(what)


@pytest.mark.parametrize("what", [
    "median", "median-distance", "median-distance-zero", "aggregate", "aggregate-and-remainder", "remainder",
    "flag-an-honest-slot", "unflag-the-outlier", "score-inflated", "score-for-flagged",
])
def test_round_prover_refuses_a_witness_that_breaks_the_rule(round_keys, what):
    # Prepare
    case = EDGE_CASES["honest-with-outlier"]()
    broken = _broken(case.result, what)

    # Execute / Assert
    with pytest.raises(UnsatisfiableWitnessError):
        case.prove(round_keys, broken)


def test_round_prover_refuses_another_g_with_consistent_scores(round_keys):
    # Prepare: the outlier kept in G, g and scores computed consistently for that wrong G
    case = EDGE_CASES["honest-with-outlier"]()
    sketches = [s.sketch for s in case.slots]
    wrong = score_accepted(sketches, [True] * 4, k=K)
    broken = with_result(case.result, flags=(False,) * 4, accepted=(True,) * 4, accepted_count=4,
                         aggregate=wrong.aggregate, remainders=wrong.remainders, scores=wrong.scores)

    # Execute / Assert
    with pytest.raises(UnsatisfiableWitnessError):
        case.prove(round_keys, broken)


@pytest.mark.parametrize("value", [B + 1, -(B + 1), 1 << 41], ids=["B+1", "-(B+1)=-2^40", "2^41"])
def test_round_circuit_range_checks_sketch_values(round_keys, monkeypatch, value):
    # Prepare: a trainer committed to a value beyond ±(2^40 - 1); lift the prover's own check
    # so that the circuit has to refuse it
    case = RoundCase([active([value, 0, 0, 0]), active([1, 2, 3, 4])], K)
    with pytest.raises(WitnessInputError, match="outside"):
        case.prove(round_keys)
    monkeypatch.setattr(round_circuit, "VALUE_BOUND", 1 << 60)

    # Execute / Assert
    with pytest.raises(UnsatisfiableWitnessError):
        case.prove(round_keys)


def test_round_prover_refuses_a_sketch_that_does_not_open_the_commitment(round_keys):
    case = RoundCase([active([1, 2, 3, 4]), active([5, 6, 7, 8])], K)
    case.slots[0].salt += 1  # the stored commitment was made with the old salt
    with pytest.raises(WitnessInputError, match="do not open"):
        case.prove(round_keys)


def test_round_prover_refuses_missing_openings_and_inconsistent_marks(round_keys):
    case = RoundCase([active([1, 2, 3, 4]), active([5, 6, 7, 8])], K)
    kwargs = dict(commitments=case.commitments, rejections=case.rejections)
    with pytest.raises(WitnessInputError, match="missing"):
        prove_round(round_keys, case.result, sketches=[None, case.slots[1].sketch],
                    salts=[s.salt for s in case.slots], **kwargs)
    with pytest.raises(WitnessInputError, match="A must be"):
        prove_round(round_keys, case.result, commitments=case.commitments, rejections=[True, False],
                    sketches=[s.sketch for s in case.slots], salts=[s.salt for s in case.slots])


def test_round_prover_refuses_more_slots_than_the_circuit(round_keys):
    case = RoundCase([active([i, 0, 0, 0]) for i in range(5)], K)
    with pytest.raises(TooManySlotsError, match="N = 4"):
        case.prove(round_keys)


def test_round_proof_of_one_round_does_not_verify_another(round_keys):
    first = EDGE_CASES["honest-with-outlier"]()
    second = EDGE_CASES["honest-with-outlier"]()  # fresh salts and sketches
    proof = first.prove(round_keys)
    assert not groth16py.Verifier(round_keys.verifying_key).verify(proof.proof, second.public(round_keys))


# --- the aggregator's Prover ------------------------------------------------------------------
def _outcome(case: RoundCase, **changes):
    from aggregator.round_pipeline import RoundOutcome

    r = case.result
    values = dict(flags=list(r.flags), rejections=list(case.rejections), scores=list(r.scores),
                  aggregate=list(r.aggregate), aggregate_commitment=case.aggregate_commitment, labels=[], provable=r,
                  new_global={}, accepted=list(r.accepted))
    values.update(changes)
    return RoundOutcome(**values)


def _intakes(case: RoundCase):
    from aggregator.intake import IntakeResult

    out = []
    for i, slot in enumerate(case.slots):
        if not slot.submitted:
            out.append(None)
        elif slot.rejected:
            out.append(IntakeResult(slot=i, trainer=f"0x{i:040x}", reason="sketch-mismatch"))
        else:
            out.append(IntakeResult(slot=i, trainer=f"0x{i:040x}", sketch=slot.sketch, salt=slot.salt))
    return out


def test_make_round_prover_proves_an_aggregator_outcome(round_keys, py_vk):
    # Prepare: an outcome and intake results as the aggregator service has them
    from zk.prover import make_round_prover

    case = RoundCase([active([1, 2, 3, 4]), absent(), rejected([9, 9, 9, 9]), active([2, 3, 4, 5])], K)
    lines: list[str] = []
    prover = make_round_prover(n=4, k=4, keys=round_keys, log=lines.append)

    # Execute
    proof = prover(7, 0, _outcome(case), case.commitments, 12345, _intakes(case))
    prover(7, 1, _outcome(case), case.commitments, 12345, _intakes(case))

    # Assert: a line before each proof (the second names the first's time) and one after
    assert prover.last.public_inputs == case.public(round_keys)
    assert verify(py_vk, proof, case.public(round_keys))
    assert [line.split(": ")[1].split()[0] for line in lines] == ["proving", "proved", "proving", "proved"], lines
    assert lines[0].startswith("task 7 round 0: proving with the") and "the last took" in lines[2]


def test_make_round_prover_refuses_an_outcome_of_another_detector(round_keys):
    from zk.prover import make_round_prover

    case = RoundCase([active([1, 2, 3, 4]), active([2, 3, 4, 5])], K)
    prover = make_round_prover(n=4, k=4, keys=round_keys)
    other = _outcome(case, flags=[True, False], scores=[0, case.scores[1]])
    with pytest.raises(WitnessInputError, match="provable"):
        prover(7, 0, other, case.commitments, 0, _intakes(case))
    with pytest.raises(WitnessInputError, match="intake"):
        prover(7, 0, _outcome(case), case.commitments, 0, _intakes(case)[:1])

"""The root-of-trust circuit proves reference_round's output, edge cases included, and nothing else.

ReferenceRound(4, 4) and (5, 3) with h = 1/2 and a DEVELOPMENT key each, made once per module
in a temporary cache. A witness built from :func:`zk.protocol.reference_rule.reference_round`'s
result proves (groth16py proves and verifies it); one whose values break the rule yields no
proof: the prover raises UnsatisfiableWitnessError. The submission order is a public input: a
duplicate pair flags only its later member, and a witness flagging the earlier one, both, or
claiming another order is refused.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from zk.exceptions import CircuitShapeError, TooManySlotsError, UnsatisfiableWitnessError, WitnessInputError
from zk.keys import development_keys
from zk.protocol.commitment import aggregate_commitment, random_salt, sketch_commitment
from zk.protocol.field import FIELD_MODULUS, to_field
from zk.protocol.reference_rule import (
    SKETCH_BOUND as B,
)
from zk.protocol.reference_rule import (
    FlagReason,
    ReferenceRoundResult,
    ReferenceRuleParams,
    reference_round,
    score_constants,
)
from zk.prover import prove_witness
from zk.reference_circuit import (
    MAX_REFERENCE_SLOTS,
    ReferenceShape,
    pack_order,
    pack_params,
    reference_public_inputs,
    reference_witness_input,
    unpack_order,
)

SHIFT = 1 << 126
GAMMA = ReferenceRuleParams(cos_num=1, cos_den=2)        # γ = 1/2
NO_DUP = ReferenceRuleParams(dup_num=1, dup_den=1)       # δ = 1: the duplicate flag off


@dataclass
class Slot:
    """``sketch`` None: no submission; ``rejected``: intake refused it (commitment kept)."""

    sketch: list[int] | None
    rejected: bool = False
    salt: int = field(default_factory=random_salt)

    @property
    def commitment(self) -> int:
        return 0 if self.sketch is None else sketch_commitment(self.sketch, self.salt)


@dataclass
class Case:
    slots: list[Slot]
    reference: list[int]
    params: ReferenceRuleParams = ReferenceRuleParams()  # noqa: RUF009 (frozen)
    reference_salt: int = field(default_factory=random_salt)
    order: list[int] | None = None      # rank per slot; None: slot order

    def result(self, reference: list[int] | None = None, order: list[int] | None = None) -> ReferenceRoundResult:
        return reference_round([s.sketch for s in self.slots], [s.rejected for s in self.slots],
                               reference=self.reference if reference is None else reference, params=self.params,
                               order=self.order if order is None else order)

    def witness(self, shape: ReferenceShape, result: ReferenceRoundResult | None = None) -> tuple[dict[str, Any], list[int]]:
        return reference_witness_input(
            shape, self.result() if result is None else result, commitments=[s.commitment for s in self.slots],
            rejections=[s.rejected for s in self.slots], sketches=[s.sketch for s in self.slots],
            salts=[s.salt for s in self.slots], reference=self.reference, reference_salt=self.reference_salt)


def _near(rng: random.Random, center: list[int], spread: int) -> list[int]:
    return [max(-B, min(B, c + rng.randint(-spread, spread))) for c in center]


def _chain_order(rng: random.Random, slots: list[Slot]) -> list[int]:
    """Ranks as the Marketplace records them: a shuffle over the slots that submitted (rejected
    ones too), 0 for a slot that did not."""
    submitted = [i for i, s in enumerate(slots) if s.sketch is not None]
    ranks = [0] * len(slots)
    for rank, i in enumerate(rng.sample(submitted, len(submitted))):
        ranks[i] = rank
    return ranks


def _cases(n: int, k: int) -> dict[str, Callable[[random.Random], Case]]:
    """Named case builders for n slots of k values (each uses at most n slots)."""
    def r(rng: random.Random) -> list[int]:
        return [rng.randint(-10**6, 10**6) for _ in range(k)]

    def aligned(rng: random.Random, ref: list[int], count: int) -> list[Slot]:
        return [Slot(_near(rng, ref, 10**6)) for _ in range(count)]

    def anti(rng: random.Random, ref: list[int]) -> Slot:
        return Slot([-v for v in _near(rng, ref, 10**4)])

    def case(build: Callable[[random.Random, list[int]], list[Slot]], **kw: Any) -> Callable[[random.Random], Case]:
        def make(rng: random.Random) -> Case:
            ref = r(rng)
            return Case(build(rng, ref), ref, **kw)
        return make

    return {
        "honest": case(lambda g, ref: aligned(g, ref, n)),
        "c0-all-flagged": case(lambda g, ref: [anti(g, ref) for _ in range(n)]),
        "c1": case(lambda g, ref: aligned(g, ref, 1) + [anti(g, ref) for _ in range(n - 1)]),
        "c2-absent-rejected": case(lambda g, ref: [*aligned(g, ref, 2), Slot(None), Slot(r(g), rejected=True)][:n]),
        "duplicate-pair": case(lambda g, ref: [Slot(ref[:]), Slot(ref[:]), *aligned(g, ref, n - 2)]),
        "duplicate-pair-slot-1-first": case(lambda g, ref: [Slot(ref[:]), Slot(ref[:]), *aligned(g, ref, n - 2)],
                                            order=list(range(n))[::-1]),
        "three-copies-chain-order": case(lambda g, ref: [Slot(ref[:]), Slot(None), Slot(ref[:]), Slot(ref[:]),
                                                         *aligned(g, ref, n - 4)], order=[0, 0, 2, 1, 3][:n]),
        "duplicates-off": case(lambda g, ref: [Slot(ref[:]), Slot(ref[:]), *aligned(g, ref, n - 2)], params=NO_DUP),
        "oversized-and-gamma": case(lambda g, ref: [Slot([5 * v for v in ref]), Slot(_near(g, ref, 3 * 10**6)),
                                                    *aligned(g, ref, n - 2)], params=GAMMA),
        "rho-zero": lambda g: Case(aligned(g, r(g), n), [0] * k),
        "fewer-slots-than-n": case(lambda g, ref: aligned(g, ref, n - 1)),
        "extremes": lambda g: Case([Slot([B] * k), Slot([B, -B] * (k // 2) + [B] * (k % 2)), Slot([-B] * k),
                                    *[Slot(None)] * (n - 3)], [B] * k, params=NO_DUP),
        "negative-score": lambda g: Case([Slot([10**6] * k), Slot([10**6 + 1] * k), Slot([1] + [0] * (k - 1)),
                                          *[Slot(None)] * (n - 3)], [10**6] * k, params=NO_DUP),
    }


SHAPES = [(4, 4), (5, 3)]


@pytest.fixture(scope="module")
def key_for(tmp_path_factory) -> Callable[[tuple[int, int]], Any]:
    """DEVELOPMENT keys for ReferenceRound(n, k, 1, 2), each made once, in a temporary cache."""
    cache = tmp_path_factory.mktemp("ref-key-cache")
    made: dict[tuple[int, int], Any] = {}

    def get(nk: tuple[int, int]) -> Any:
        if nk not in made:
            made[nk] = development_keys(ReferenceShape(*nk), cache=cache)
        return made[nk]
    return get


@pytest.fixture(params=SHAPES, ids=[f"{n}x{k}" for n, k in SHAPES])
def keys(request, key_for):
    """Each test shape's key (the proving tests run on both)."""
    return key_for(request.param)


@pytest.fixture
def small_keys(key_for):
    """The (4, 4) key (the refusal tests: each refusal costs a proof, so one shape)."""
    return key_for((4, 4))


def _prove(keys, inputs: dict[str, Any], public: list[int]) -> None:
    prove_witness(keys, inputs, public)


def _refused(keys, inputs: dict[str, Any], public: list[int]) -> None:
    """No proof: the witness generator stops at a failed constraint, or the proof made over an
    unsatisfied R1CS does not verify against these public inputs."""
    assert _public_of(inputs) == public  # only the values tampered with differ from an honest round
    with pytest.raises(UnsatisfiableWitnessError):
        prove_witness(keys, inputs, public)


def _public_of(inputs: dict[str, Any]) -> list[int]:
    return [*inputs["commitments"], inputs["referenceCommitment"], inputs["order"], inputs["marks"],
            inputs["params"], *inputs["packedScores"], inputs["aggregateCommitment"]]


def _case(keys, name: str) -> Case:
    shape = keys.shape
    return _cases(shape.n, shape.k)[name](random.Random(f"{shape.name}:{name}"))


@pytest.mark.parametrize("name", sorted(_cases(4, 4)))
def test_reference_circuit_proves_the_rule(keys, name: str) -> None:
    case = _case(keys, name)
    result = case.result()
    inputs, public = case.witness(keys.shape)
    assert _public_of(inputs) == public and len(public) == keys.shape.public_count
    _prove(keys, inputs, public)
    expect = {"c0-all-flagged": 0, "c1": 1, "c2-absent-rejected": 2}
    if name in expect:
        assert result.accepted_count == expect[name]
    if name == "duplicate-pair":  # slot order: only the later slot 1
        assert result.reasons[:2] == (FlagReason.NONE, FlagReason.DUPLICATE)
    if name == "duplicate-pair-slot-1-first":
        assert result.reasons[:2] == (FlagReason.DUPLICATE, FlagReason.NONE)
        assert unpack_order(public[keys.shape.n + 1], keys.shape.n) == case.order
    if name == "three-copies-chain-order":  # ranks 0, 2, 1: slot 0 first, slots 3 and 2 flagged
        assert [r is FlagReason.DUPLICATE for r in result.reasons[:4]] == [False, False, True, True]
    if name == "oversized-and-gamma":
        assert result.reasons[0] is FlagReason.OVERSIZED and FlagReason.MISALIGNED in result.reasons
    if name == "rho-zero":
        assert not any(result.flags) and not any(result.scores) and any(result.numerators)
    if name in ("honest", "duplicates-off"):
        assert sum(result.scores) > 0
    if name == "negative-score":
        assert min(result.numerators) < 0 and 0 in result.scores


@pytest.mark.parametrize("seed", range(2))
def test_reference_circuit_proves_random_rounds(keys, seed: int) -> None:
    rng = random.Random(seed)
    n, k = keys.shape.n, keys.shape.k
    ref = [rng.randint(-10**5, 10**5) for _ in range(k)]
    slots = []
    for _ in range(rng.randint(1, n)):
        kind = rng.random()
        sketch = _near(rng, [rng.choice([1, -1, 2]) * v for v in ref], rng.choice([10, 10**5, 10**6]))
        slots.append(Slot(None) if kind < 0.15 else Slot(sketch, rejected=kind < 0.3))
    params = rng.choice([ReferenceRuleParams(), GAMMA, NO_DUP, ReferenceRuleParams(norm_num=3, norm_den=2)])
    if len(slots) > 1 and slots[0].sketch is not None:
        slots[1] = Slot(slots[0].sketch[:], rejected=slots[1].rejected)  # a copy, flagged when it comes later
    _prove(keys, *Case(slots, ref, params, order=_chain_order(rng, slots)).witness(keys.shape))


def _score_slot(result: ReferenceRoundResult) -> int:
    return next(i for i, s in enumerate(result.scores) if s > 0)


def _with_score(keys, inputs: dict[str, Any], public: list[int], slot: int, delta: int) -> tuple[dict, list[int]]:
    n, q = keys.shape.n, slot // 2
    value = (public[n + 4 + q] + delta * (SHIFT if slot % 2 else 1)) % FIELD_MODULUS
    public = public[:n + 4 + q] + [value] + public[n + 5 + q:]
    return {**inputs, "packedScores": public[n + 4:n + 4 + keys.shape.packed_scores]}, public


@pytest.mark.parametrize("delta", [1, -1])
def test_reference_circuit_refuses_a_wrong_score(small_keys, delta: int) -> None:
    case = _case(small_keys, "c2-absent-rejected")
    inputs, public = case.witness(small_keys.shape)
    _refused(small_keys, *_with_score(small_keys, inputs, public, _score_slot(case.result()), delta))
    _refused(small_keys, *_with_score(small_keys, inputs, public, 3, delta))  # a slot outside G (score 0)


def _with_marks(inputs: dict[str, Any], public: list[int], n: int, marks: int) -> tuple[dict, list[int]]:
    return {**inputs, "marks": marks}, [*public[:n + 2], marks, *public[n + 3:]]


def _with_order(inputs: dict[str, Any], public: list[int], n: int, order: int) -> tuple[dict, list[int]]:
    return {**inputs, "order": order}, [*public[:n + 1], order, *public[n + 2:]]


@pytest.mark.parametrize("name,slot", [("honest", 0), ("c1", 2), ("duplicate-pair", 1), ("duplicate-pair", 0),
                                       ("rho-zero", 0), ("c2-absent-rejected", 3)])
def test_reference_circuit_refuses_a_flipped_flag(small_keys, name: str, slot: int) -> None:
    inputs, public = _case(small_keys, name).witness(small_keys.shape)
    n = small_keys.shape.n
    _refused(small_keys, *_with_marks(inputs, public, n, public[n + 2] ^ (1 << slot)))


def test_reference_circuit_refuses_flagging_the_earlier_member_of_a_pair(small_keys) -> None:
    # Prepare: slot 0 submitted first (slot order); the values of a round where slot 0 came later
    case = _case(small_keys, "duplicate-pair")
    n = small_keys.shape.n
    swapped = case.result(order=[1, 0, 2, 3])
    assert swapped.reasons[:2] == (FlagReason.DUPLICATE, FlagReason.NONE) and swapped.scores != case.result().scores
    inputs, public = case.witness(small_keys.shape, swapped)
    # Execute, Assert: every value consistent with flagging slot 0, under the chain's true order
    _refused(small_keys, *_with_order(inputs, public, n, pack_order([0, 1, 2, 3])))


def test_reference_circuit_refuses_flagging_both_members_of_a_pair(small_keys) -> None:
    # Prepare: the old rule's round (both copies flagged): G, g and the scores of the others alone
    case = _case(small_keys, "duplicate-pair")
    honest = case.result()
    others = reference_round([None, None, *[s.sketch for s in case.slots[2:]]], reference=case.reference,
                             params=case.params)
    both = dataclasses.replace(
        others, active=honest.active, alignments=honest.alignments, norms=honest.norms,
        flags=(True, True, *others.flags[2:]), reasons=(FlagReason.DUPLICATE,) * 2 + others.reasons[2:])
    assert both.flags_mask == honest.flags_mask | 0b01 and both.scores != honest.scores
    # Execute, Assert
    _refused(small_keys, *case.witness(small_keys.shape, both))


def test_reference_circuit_refuses_a_wrong_order(small_keys) -> None:
    inputs, public = _case(small_keys, "duplicate-pair").witness(small_keys.shape)
    n = small_keys.shape.n
    # slot 1 flagged as the later copy, but the order says slot 1 came first
    _refused(small_keys, *_with_order(inputs, public, n, pack_order([1, 0, 2, 3])))
    # an order with a rank past slot N - 1 (bit 6N) is no order of this circuit
    _refused(small_keys, *_with_order(inputs, public, n, public[n + 1] | 1 << 6 * n))


def _with_reference(inputs: dict[str, Any], public: list[int], n: int, ref: list[int], salt: int,
                    commitment: int) -> tuple[dict, list[int]]:
    changed = {**inputs, "reference": [to_field(v) for v in ref], "referenceSalt": salt,
               "referenceCommitment": commitment}
    return changed, [*public[:n], commitment, *public[n + 1:]]


def test_reference_circuit_refuses_another_reference(small_keys) -> None:
    case = _case(small_keys, "honest")
    inputs, public = case.witness(small_keys.shape)
    other = [v + 5 * 10**5 if j == 0 else v for j, v in enumerate(case.reference)]
    salt = random_salt()
    assert case.result(other).scores != case.result().scores  # the scores do depend on r
    n = small_keys.shape.n
    # another reference with its own valid commitment, the scores computed for r
    _refused(small_keys, *_with_reference(inputs, public, n, other, salt, sketch_commitment(other, salt)))
    # r with a salt that does not open the reference commitment; another r under r's commitment
    _refused(small_keys, *_with_reference(inputs, public, n, case.reference, salt, public[n]))
    _refused(small_keys, *_with_reference(inputs, public, n, other, case.reference_salt, public[n]))


def test_reference_circuit_refuses_a_wrong_aggregate(small_keys) -> None:
    inputs, public = _case(small_keys, "honest").witness(small_keys.shape)
    wrong = list(inputs["aggregate"])
    wrong[0] = (wrong[0] + 1) % FIELD_MODULUS
    signed = [v if v < FIELD_MODULUS // 2 else v - FIELD_MODULUS for v in wrong]
    # a wrong g under its own (matching) commitment, and the right g under a wrong commitment
    _refused(small_keys, {**inputs, "aggregate": wrong, "aggregateCommitment": aggregate_commitment(signed)},
             [*public[:-1], aggregate_commitment(signed)])
    _refused(small_keys, {**inputs, "aggregateCommitment": public[-1] + 1}, [*public[:-1], public[-1] + 1])


def test_reference_circuit_refuses_wrong_hints_and_params(small_keys) -> None:
    case = _case(small_keys, "honest")
    inputs, public = case.witness(small_keys.shape)
    n = small_keys.shape.n
    quotient = [(inputs["quotient"][0] + 1) % FIELD_MODULUS, *inputs["quotient"][1:]]
    _refused(small_keys, {**inputs, "quotient": quotient}, public)
    remainder = [inputs["scoreRemainder"][0] + case.result().denominator, *inputs["scoreRemainder"][1:]]
    _refused(small_keys, {**inputs, "scoreRemainder": remainder}, public)
    # h is fixed by the circuit: marks naming another h are refused
    _refused(small_keys, *_with_marks(inputs, public, n, public[n + 2] + (1 << 2 * n)))
    zero_den = pack_params(ReferenceRuleParams()) & ~((1 << 32) - 1 << 32)  # γ = 0/0: no flag changes
    _refused(small_keys, {**inputs, "params": zero_den}, [*public[:n + 3], zero_den, *public[n + 4:]])


def test_reference_circuit_constraint_counts(keys, capsys) -> None:
    # groth16py's circom (--O2) counts, recorded by the setup; docs/reference_circuit.md lists them
    with capsys.disabled():
        print(f"\n{keys.shape.name}: {keys.meta['constraints']} constraints, {keys.meta['wires']} wires, "
              f"setup {keys.meta['setupSeconds']} s")
    assert 0 < keys.meta["constraints"] < 20_000


def test_reference_shape_layout_and_constants() -> None:
    shape = ReferenceShape(16, 32)
    assert shape.name == "ref16x32h1-2" and shape.public_count == 29
    assert shape.constants[3] == (*score_constants(3, 1, 2).coefficients, score_constants(3, 1, 2).denominator)
    assert "ReferenceRound(16, 32, 1, 2)" in shape.main_source()
    assert shape.circuit_hash() != ReferenceShape(16, 32, 1, 1).circuit_hash()
    assert shape.numerator_bits() <= 251 and shape.denominator_bits() <= 124
    with pytest.raises(CircuitShapeError):
        ReferenceShape(41, 32)  # N_i and D · 2^126 no longer fit one field element (40 still do)
    with pytest.raises(CircuitShapeError):
        ReferenceShape(4, 4, 0, 1)
    with pytest.raises(CircuitShapeError, match=rf"\[1, {MAX_REFERENCE_SLOTS}\]"):
        ReferenceShape(43, 1)  # the order's 6N bits no longer fit one field element (D already stops 41)


def test_pack_order_round_trips_and_refuses_what_the_chain_cannot_record() -> None:
    ranks = [3, 0, 63, 1, 2]
    word = pack_order(ranks)
    assert word == 3 | 63 << 12 | 1 << 18 | 2 << 24 and unpack_order(word, 5) == ranks
    assert unpack_order(word, 7) == [*ranks, 0, 0] and pack_order([]) == 0
    assert unpack_order(pack_order(list(range(42))), 42) == list(range(42))
    for bad in ([64], [-1], [True], [1.0]):
        with pytest.raises(WitnessInputError):
            pack_order(bad)
    with pytest.raises(TooManySlotsError):
        pack_order([0] * 43)
    with pytest.raises(TooManySlotsError):
        unpack_order(0, 43)
    with pytest.raises(WitnessInputError):
        unpack_order(1 << 252, 1)


def test_reference_witness_input_refuses_what_does_not_fit() -> None:
    shape = ReferenceShape(4, 4)
    case = _cases(4, 4)["c2-absent-rejected"](random.Random(1))
    case.witness(shape)
    with pytest.raises(TooManySlotsError):
        dataclasses.replace(case, slots=case.slots + [Slot(None)]).witness(shape)
    with pytest.raises(WitnessInputError):
        reference_witness_input(shape, case.result(), commitments=[s.commitment for s in case.slots],
                                rejections=[s.rejected for s in case.slots], sketches=[s.sketch for s in case.slots],
                                salts=[s.salt + 1 for s in case.slots], reference=case.reference,
                                reference_salt=case.reference_salt)
    with pytest.raises(WitnessInputError):  # the result was computed for another reference
        reference_witness_input(shape, case.result([1, 2, 3, 4]), commitments=[s.commitment for s in case.slots],
                                rejections=[s.rejected for s in case.slots], sketches=[s.sketch for s in case.slots],
                                salts=[s.salt for s in case.slots], reference=case.reference,
                                reference_salt=case.reference_salt)
    with pytest.raises(WitnessInputError):  # h = 1 against a circuit for h = 1/2
        dataclasses.replace(case, params=ReferenceRuleParams(h_num=1, h_den=1)).witness(shape)


def test_reference_witness_input_publishes_the_chains_order_when_it_sorts_a_alike() -> None:
    # Prepare: slots 0, 1 active, 2 absent, 3 rejected; the result computed in slot order
    shape = ReferenceShape(4, 4)
    case = _cases(4, 4)["c2-absent-rejected"](random.Random(1))
    kw = dict(commitments=[s.commitment for s in case.slots], rejections=[s.rejected for s in case.slots],
              sketches=[s.sketch for s in case.slots], salts=[s.salt for s in case.slots],
              reference=case.reference, reference_salt=case.reference_salt)
    result = case.result()
    # Execute: the chain's ranks (the rejected slot 3 submitted first, slot 2 never)
    inputs, public = reference_witness_input(shape, result, order=[1, 2, 0, 0], **kw)
    # Assert
    assert public[shape.n + 1] == inputs["order"] == pack_order([1, 2, 0, 0])
    assert reference_witness_input(shape, result, **kw)[1][shape.n + 1] == pack_order([0, 1, 2, 3])
    with pytest.raises(WitnessInputError, match="another submission order"):
        reference_witness_input(shape, result, order=[2, 1, 0, 0], **kw)
    with pytest.raises(WitnessInputError, match="ranks"):
        reference_witness_input(shape, result, order=[0, 1], **kw)


def test_reference_public_inputs_refuse_an_order_beyond_n() -> None:
    shape = ReferenceShape(4, 4)
    kw = dict(commitments=[1], reference_commitment=1, flags=0, rejections=0, params=ReferenceRuleParams(),
              scores=[0], aggregate_commitment=0)
    assert reference_public_inputs(shape, order=(1 << 24) - 1, **kw)[5] == (1 << 24) - 1
    with pytest.raises(TooManySlotsError):
        reference_public_inputs(shape, order=1 << 24, **kw)
    for bad in (-1, True):
        with pytest.raises(WitnessInputError):
            reference_public_inputs(shape, order=bad, **kw)

"""The protocol's parameters (:mod:`zk.protocol.params`): the deployment records of the round
verifiers per size, from which `task post --verifier auto` picks the smallest that fits."""

from __future__ import annotations

from zk.protocol.params import (
    ROUND_VERIFIER,
    RoundParameters,
    check_task_fits,
    round_verifier_name,
    round_verifier_slots,
)


def test_round_verifiers_are_found_by_size_for_the_specs_sketch_length():
    recorded = {"Marketplace": "0xM", ROUND_VERIFIER: "0xB", round_verifier_name(4, 32): "0xA",
                round_verifier_name(16, 32): "0xB", round_verifier_name(8, 16): "0xC", "RoundVerifierXx32": "0xD",
                "ReferenceRoundVerifier": "0xR"}
    assert round_verifier_slots(recorded, k=32) == {4: "0xA", 16: "0xB"}
    assert round_verifier_slots(recorded, k=16) == {8: "0xC"}
    assert round_verifier_slots({}, k=32) == {}


def test_a_task_with_more_trainers_than_slots_does_not_fit():
    four = RoundParameters(n=4, k=32, tau_num=4, tau_den=1)
    assert check_task_fits(four, sketch_k=32, tau=(4, 1), max_trainers=4) == []
    assert check_task_fits(four, sketch_k=32, tau=(4, 1), max_trainers=5) == ["--max-trainers 5 exceeds the verifier's 4 slots"]

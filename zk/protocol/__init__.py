"""The protocol core: what every party computes identically, defined once.

:mod:`~zk.protocol.field` (BN254 scalars), :mod:`~zk.protocol.poseidon` (circomlib's Poseidon),
:mod:`~zk.protocol.sketch` (the exact integer ±1 projection of an update),
:mod:`~zk.protocol.commitment` (sketch and aggregate commitments), :mod:`~zk.protocol.rule`
(the paid rule: flags and scores from the committed sketches), :mod:`~zk.protocol.reference_rule`
(its root-of-trust successor: flags from a reference sketch, the exact Shapley value of a
diminishing-returns utility), :mod:`~zk.protocol.params` (the
one source of N, K, τ defaults), :mod:`~zk.protocol.phase` (the round phase, one function of
task, round and time), :mod:`~zk.protocol.actions` (what a node did, as a value) and
:mod:`~zk.protocol.transcript` (the round's audit transcript, a typed record).

Layer: above the market core, below the proving half of ``zk`` and everything else; it imports
only ``market`` core modules and :mod:`zk.exceptions`, never torch or a prover. Nothing is
imported here: import the submodules you use.
"""

__all__ = [
    "actions",
    "commitment",
    "field",
    "params",
    "phase",
    "poseidon",
    "poseidon_constants",
    "reference_rule",
    "reference_shapley",
    "rule",
    "sketch",
    "step_loop",
    "transcript",
]

"""Zero-knowledge side of the market, in two layers (docs/DESIGN.md).

**Protocol core**, :mod:`zk.protocol` (numpy, never torch; imports only the market core and
:mod:`zk.exceptions`): the field, Poseidon as circomlib computes it, the sketch of an update and
its commitment, the paid rule (:mod:`zk.protocol.rule`), the protocol's parameters
(:mod:`zk.protocol.params`), the round phase, node actions and the audit transcript. Defined once
and used by the trainer, the aggregator, the audit and the witness builder alike;
``zk/README.md`` has the exact definitions. The most used names are re-exported here, and this
``__init__`` imports nothing else: it runs whenever a ``zk.protocol`` module is imported.

**Proving half**, imported explicitly (groth16py, py_ecc, web3; never trainers, aggregator or
torch): :mod:`zk.round_circuit` (shape, public inputs, witness), :mod:`zk.keys` (development and
ceremony keys), :mod:`zk.prover` (``make_round_prover``), :mod:`zk.solidity` (the generated
verifier), :mod:`zk.deploy` (``deploy_round_verifier``), :mod:`zk.verify_py` (a pure-Python
Groth16 verifier), :mod:`zk.onchain` (a deployed verifier read back, a published proof checked
again) and :mod:`zk.verifier_params` (a task checked against its verifier's N, k, τ at post
time). The ``market deploy`` command is :mod:`zk.cli` (app layer).
"""

from zk.exceptions import FieldRangeError, SketchInputError, ZkError
from zk.protocol.commitment import (
    AGGREGATE_TAG,
    aggregate_commitment,
    chain_hash,
    commitment_calls,
    random_salt,
    sketch_commitment,
)
from zk.protocol.field import FIELD_MODULUS, from_field, to_field
from zk.protocol.poseidon import poseidon
from zk.protocol.sketch import SketchParams, flatten_update, project, project_fixed, quantize, sketch_update

__all__ = [
    "AGGREGATE_TAG",
    "FIELD_MODULUS",
    "FieldRangeError",
    "SketchInputError",
    "SketchParams",
    "ZkError",
    "aggregate_commitment",
    "chain_hash",
    "commitment_calls",
    "flatten_update",
    "from_field",
    "poseidon",
    "project",
    "project_fixed",
    "quantize",
    "random_salt",
    "sketch_commitment",
    "sketch_update",
    "to_field",
]

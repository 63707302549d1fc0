"""Zero-knowledge side of the market: the sketch of an update, its Poseidon commitment over
BN254 (as circomlib computes it), and the circuits that check them.

The sketch and the commitment are defined once, here, and used by the trainer, the aggregator
and the witness builder alike; ``zk/README.md`` has the exact definitions. This package uses
numpy, never torch.

The round proof lives in submodules imported explicitly (they need groth16py, py_ecc, web3):
:mod:`zk.round_circuit` (shape, public inputs, witness), :mod:`zk.keys` (development and
ceremony keys), :mod:`zk.prover` (``make_round_prover``), :mod:`zk.deploy`
(``deploy_round_verifier``), :mod:`zk.solidity` (the generated verifier) and
:mod:`zk.verify_py` (a pure-Python Groth16 verifier).
"""

from zk.protocol.commitment import (
    AGGREGATE_TAG,
    aggregate_commitment,
    chain_hash,
    commitment_calls,
    random_salt,
    sketch_commitment,
)
from zk.exceptions import FieldRangeError, SketchInputError, ZkError
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

"""Re-check a published root-of-trust round's proof in Python (the ``ReferenceRoundVerifier`` side
of :mod:`zk.onchain`).

The same audit as :func:`zk.onchain.check_published_proof`, for a task whose verifier is a
``ReferenceRoundVerifier`` adapter (``usesReference()`` true):

1. reads the adapter: its Groth16 verifier's address, N, K, h (``hNumerator / hDenominator``)
   and the packed flag thresholds ``params``, unpacked into
   :class:`~zk.protocol.reference_rule.ReferenceRuleParams`;
2. finds the key document whose generated verifier is the deployed code, byte for byte
   (:func:`zk.onchain.matching_key_document`; candidates: files the auditor names, the
   transcript's, the local development key cache of that
   :class:`~zk.reference_circuit.ReferenceShape`; none is committed);
3. builds the public inputs from chain data (the stored commitments, the round's stored
   reference commitment, the round's submission order, the posted flags, rejections, scores and
   aggregate commitment) with
   :func:`zk.reference_circuit.reference_public_inputs`, and checks the proof with
   :mod:`zk.verify_py` (py_ecc).

:func:`check_reference_proof` does steps 1–3 from values already read, so it needs no
Marketplace; :func:`check_published_reference_proof` reads them from one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from market.artifacts import load_artifact
from zk.exceptions import ZkError
from zk.onchain import (
    NotARoundVerifierError,
    ProofCheck,
    candidate_key_documents,
    matching_key_document,
    published_round,
)
from zk.protocol.reference_rule import ReferenceRuleParams
from zk.reference_circuit import PART_BITS, ReferenceShape, reference_public_inputs
from zk.verify_py import VerificationKey, verify

__all__ = [
    "OnChainReferenceVerifier",
    "check_published_reference_proof",
    "check_reference_proof",
    "read_reference_verifier",
    "unpack_params",
    "uses_reference",
]

REFERENCE_ADAPTER_ARTIFACT = "ReferenceRoundVerifier"
_USES_REFERENCE_ABI = [{"type": "function", "name": "usesReference", "stateMutability": "view", "inputs": [],
                        "outputs": [{"name": "", "type": "bool"}]}]


@dataclass(frozen=True)
class OnChainReferenceVerifier:
    """What a deployed ``ReferenceRoundVerifier`` adapter says about itself."""

    address: str
    groth16_verifier: str
    shape: ReferenceShape
    params: ReferenceRuleParams


def uses_reference(web3: Web3, address: str) -> bool:
    """``usesReference()`` of the verifier at ``address``; False when it has none (or no code)."""
    try:
        contract = web3.eth.contract(address=Web3.to_checksum_address(address), abi=_USES_REFERENCE_ABI)
        return bool(contract.functions.usesReference().call())
    except Exception:  # no code, no such function, a revert: not a reference verifier
        return False


def unpack_params(packed: int, *, h_num: int, h_den: int) -> ReferenceRuleParams:
    """The inverse of :func:`zk.reference_circuit.pack_params`, with the circuit's h; raises
    :class:`~zk.exceptions.RuleInputError` when a part is out of range."""
    if not 0 <= packed < 1 << 6 * PART_BITS:
        raise ValueError(f"params {packed:#x} has bits at or above 2^{6 * PART_BITS}")
    mask = (1 << PART_BITS) - 1
    parts = [(packed >> (PART_BITS * t)) & mask for t in range(6)]
    return ReferenceRuleParams(h_num, h_den, *parts)


def read_reference_verifier(web3: Web3, address: str) -> OnChainReferenceVerifier:
    """Read the adapter at ``address``; :class:`~zk.onchain.NotARoundVerifierError` if it is not a
    ``ReferenceRoundVerifier`` (or names a shape or thresholds no circuit has)."""
    address = Web3.to_checksum_address(address)
    adapter = web3.eth.contract(address=address, abi=load_artifact(REFERENCE_ADAPTER_ARTIFACT)["abi"])
    try:
        f = adapter.functions
        groth16 = f.groth16Verifier().call()
        n, k = int(f.slots().call()), int(f.sketchLength().call())
        h_num, h_den = int(f.hNumerator().call()), int(f.hDenominator().call())
        shape = ReferenceShape(n, k, h_num, h_den)
        params = unpack_params(int(f.params().call()), h_num=h_num, h_den=h_den)
    except Exception as exc:  # no code, another contract, a revert, an impossible shape: not an adapter
        raise NotARoundVerifierError(
            f"the verifier {address} is not a ReferenceRoundVerifier adapter ({exc})") from None
    return OnChainReferenceVerifier(address, Web3.to_checksum_address(groth16), shape, params)


def check_reference_proof(web3: Web3, address: str, *, proof: bytes, commitments: Sequence[int],
                          reference_commitment: int, flags: int, rejections: int, scores: Sequence[int],
                          aggregate_commitment: int, order: int = 0, transcript_key: dict | None = None,
                          keys: Iterable[dict | str | Path] = (), cache: Path | str | None = None) -> ProofCheck:
    """Verify ``proof`` with py_ecc for these chain values against the key behind the
    ``ReferenceRoundVerifier`` at ``address`` (see the module). ``keys``: key documents the
    auditor names; ``transcript_key``: the one the round's transcript names; ``cache``: the key
    cache root (local development keys, compiled verifiers); ``order``: the round's packed
    submission order as the chain records it (``RoundInfo.order``)."""
    try:
        verifier = read_reference_verifier(web3, address)
    except NotARoundVerifierError as exc:
        return ProofCheck(False, str(exc))
    shape = verifier.shape
    candidates = candidate_key_documents(shape, transcript_key=transcript_key, extra=keys, cache=cache)
    match = matching_key_document(web3, verifier, candidates, cache=cache)
    if match is None:
        return ProofCheck(False, f"no known key generates the verifier at {verifier.groth16_verifier} "
                                 f"(ReferenceRound {shape.name}); name its key document with --vk FILE")
    source, doc = match
    if int(reference_commitment) == 0:
        return ProofCheck(False, "the round has no reference commitment on chain", source)
    try:
        inputs = reference_public_inputs(shape, commitments=list(commitments),
                                         reference_commitment=int(reference_commitment), order=int(order),
                                         flags=int(flags), rejections=int(rejections), params=verifier.params,
                                         scores=[int(s) for s in scores],
                                         aggregate_commitment=int(aggregate_commitment))
    except ZkError as exc:
        return ProofCheck(False, f"the posted values are not public inputs of ReferenceRound {shape.name}: {exc}",
                          source)
    ok = verify(VerificationKey.from_json(doc), proof, inputs)
    label = doc.get("label", "")
    return ProofCheck(ok, f"{'verifies' if ok else 'DOES NOT verify'} under the key of {source}"
                          f"{f' ({label})' if label else ''}", source)


def check_published_reference_proof(market: Any, task_id: int, round_: int, *, transcript_key: dict | None = None,
                                    keys: Iterable[dict | str | Path] = (),
                                    cache: Path | str | None = None) -> ProofCheck:
    """:func:`check_reference_proof` for round ``round_`` of task ``task_id``, every value read
    from the Marketplace: the proof from the publishRound calldata, the scores from its
    RoundPublished event, the rest (the submission order too) from ``getRound`` and ``getCommitments``."""
    task = market.get_task(task_id)
    try:
        event, proof = published_round(market, task_id, round_)
    except ZkError as exc:
        return ProofCheck(False, str(exc))
    info = market.get_round(task_id, round_)
    return check_reference_proof(
        market.web3, task.config.verifier, proof=proof, commitments=market.get_commitments(task_id, round_),
        reference_commitment=info.reference_commitment, flags=info.flags, rejections=info.rejections,
        scores=[int(s) for s in event["args"]["scores"]], aggregate_commitment=info.aggregate_commitment,
        order=info.order, transcript_key=transcript_key, keys=keys, cache=cache)

"""Re-check a published round's proof in Python, against the key the chain itself verifies with.

``market audit`` must not trust one library's verifier alone, nor the aggregator's word about
which key it proves with. So, for a zk-verified task, this module:

1. reads the task's ``RoundVerifier`` adapter (its Groth16 verifier's address, N, K and τ);
2. finds the verification key *that verifier was generated from*: each candidate key document
   (the one the aggregator's transcript names, the committed ``zk/keys/round-<N>x<K>.vk.json``,
   the local development key cache, a file the auditor names) is turned into its verifier source with the same
   generator, compiled with the project's solc and settings (or taken from ``contracts/build``
   when it is the committed one), and its runtime bytecode compared, byte for byte, with the
   code at the verifier's address;
3. reads the proof from the ``publishRound`` transaction's calldata (not from the transcript);
4. builds the public inputs from chain data (the commitments the Marketplace stored, the posted
   flags, rejections, scores and aggregate commitment, the adapter's τ) with
   :func:`zk.round_circuit.public_inputs`, and checks the pairing equation with
   :mod:`zk.verify_py` (py_ecc), which shares no code with groth16py or the EVM.

A task whose verifier is a ``ReferenceRoundVerifier`` (``usesReference()`` true: the
root-of-trust rule) is checked the same way by :mod:`zk.onchain_reference`, which
:func:`check_published_proof` hands it to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from market.artifacts import load_artifact
from zk.exceptions import KeyMissingError, ZkError
from zk.keys import development_keys
from zk.reference_circuit import ReferenceShape
from zk.round_circuit import RoundShape, public_inputs
from zk.solidity import (
    REFERENCE_CIRCUIT,
    AnyShape,
    committed_vk,
    committed_vk_path,
    compiled_verifier,
    generate_verifier_source,
    vk_document,
)
from zk.verify_py import VerificationKey, verify

__all__ = [
    "NotARoundVerifierError",
    "OnChainRoundVerifier",
    "ProofCheck",
    "candidate_key_documents",
    "check_published_proof",
    "matching_key_document",
    "published_proof",
    "published_round",
    "read_round_verifier",
]

ADAPTER_ARTIFACT = "RoundVerifier"


class NotARoundVerifierError(ZkError):
    """The task's verifier is not a RoundVerifier adapter: its proofs cannot be re-checked here."""


@dataclass(frozen=True)
class OnChainRoundVerifier:
    """What a deployed ``RoundVerifier`` adapter says about itself."""

    address: str
    groth16_verifier: str
    shape: RoundShape
    tau_num: int
    tau_den: int


@dataclass(frozen=True)
class ProofCheck:
    """The outcome of :func:`check_published_proof`: ``ok`` and one line saying why."""

    ok: bool
    detail: str
    key_source: str | None = None


def read_round_verifier(web3: Web3, address: str) -> OnChainRoundVerifier:
    """Read the adapter at ``address``; :class:`NotARoundVerifierError` if it is not one."""
    address = Web3.to_checksum_address(address)
    adapter = web3.eth.contract(address=address, abi=load_artifact(ADAPTER_ARTIFACT)["abi"])
    try:
        f = adapter.functions
        groth16 = f.groth16Verifier().call()
        n, k = int(f.slots().call()), int(f.sketchLength().call())
        tau = (int(f.tauNumerator().call()), int(f.tauDenominator().call()))
    except Exception as exc:  # no code, another contract, a revert: all mean "not an adapter"
        raise NotARoundVerifierError(f"the verifier {address} is not a RoundVerifier adapter ({exc})") from None
    return OnChainRoundVerifier(address, Web3.to_checksum_address(groth16), RoundShape(n, k), *tau)


def _runtime_code(document: dict, shape: AnyShape, cache: Path | str | None) -> str:
    """The runtime bytecode of the verifier generated from a key document (hex, no 0x)."""
    source = generate_verifier_source(shape, document["verificationKey"], origin=document["origin"],
                                      circuit_hash=document["circuitHash"])
    return compiled_verifier(shape, source, cache=cache)["deployedBytecode"].removeprefix("0x").lower()


def candidate_key_documents(shape: AnyShape, *, transcript_key: dict | None = None,
                            extra: Iterable[dict | str | Path] = (),
                            cache: Path | str | None = None) -> list[tuple[str, dict]]:
    """Key documents (``vk_document`` shape) that may be the one behind a verifier of
    ``shape``, each with where it came from: files the auditor names first, then the one the
    transcript names (``transcript_key``, its ``verifier`` field), the committed key, the local
    development key."""
    found: list[tuple[str, dict]] = []
    for item in extra:
        doc = item if isinstance(item, dict) else json.loads(Path(item).read_text())
        found.append((f"file {item}" if not isinstance(item, dict) else "given key", doc))
    if isinstance(transcript_key, dict):
        found.append(("the aggregator's transcript", transcript_key))
    committed = committed_vk(shape)
    if committed is not None:
        found.append((f"committed zk/keys/{committed_vk_path(shape).name}", committed))
    try:
        local = development_keys(shape, cache=cache, create=False)
    except KeyMissingError:
        pass
    else:
        found.append((f"the local key cache ({local.directory})", vk_document(local)))
    return found


def _document_fits(doc: dict, shape: AnyShape) -> bool:
    """Whether a key document is for ``shape``: its N and K, and its circuit (a root-of-trust
    document names ``"circuit": "ReferenceRound"`` and its h; a round-circuit one names none)."""
    if (int(doc["n"]), int(doc["k"])) != (shape.n, shape.k):
        return False
    if isinstance(shape, ReferenceShape):
        return doc.get("circuit") == REFERENCE_CIRCUIT and (int(doc["hNum"]), int(doc["hDen"])) == (
            shape.h_num, shape.h_den)
    return doc.get("circuit") is None


def matching_key_document(web3: Web3, verifier: Any, candidates: Iterable[tuple[str, dict]], *,
                          cache: Path | str | None = None) -> tuple[str, dict] | None:
    """The first candidate whose generated verifier is exactly the code deployed at
    ``verifier.groth16_verifier`` (``verifier`` an :class:`OnChainRoundVerifier` or a
    :class:`zk.onchain_reference.OnChainReferenceVerifier`); None when none is. Verifiers not
    committed are compiled once and kept in ``cache`` (the key cache root; default
    ``$MARKET_ZK_CACHE``)."""
    deployed = bytes(web3.eth.get_code(verifier.groth16_verifier)).hex().lower()
    if not deployed:
        return None
    seen: set[str] = set()
    for source, doc in candidates:
        try:
            if not _document_fits(doc, verifier.shape):
                continue
            fingerprint = json.dumps(doc, sort_keys=True)
            if fingerprint in seen:
                continue
            seen.add(fingerprint)
            if _runtime_code(doc, verifier.shape, cache) == deployed:
                return source, doc
        except (KeyError, TypeError, ValueError, ZkError):
            continue  # a malformed candidate is simply not the key
    return None


def published_proof(market: Any, tx_hash: str) -> bytes:
    """The ``proof`` argument of the publishRound transaction ``tx_hash``."""
    tx = market.web3.eth.get_transaction(tx_hash)
    if tx["to"] is None or Web3.to_checksum_address(tx["to"]) != market.address:
        raise ZkError(f"transaction {tx_hash} did not call the Marketplace directly; its proof is not in the calldata")
    function, args = market.contract.decode_function_input(tx["input"])
    if function.fn_name != "publishRound":
        raise ZkError(f"transaction {tx_hash} called {function.fn_name}, not publishRound")
    return bytes(args["proof"])


def published_round(market: Any, task_id: int, round_: int) -> tuple[Any, bytes]:
    """The RoundPublished event of round ``round_`` and the proof from its transaction's calldata;
    :class:`ZkError` when the round is not published or the proof cannot be read."""
    events = [e for e in market.events("RoundPublished", taskId=task_id) if e["args"]["round"] == round_]
    if not events:
        raise ZkError(f"round {round_} of task {task_id} has no RoundPublished event")
    return events[0], published_proof(market, events[0]["tx_hash"])


def check_published_proof(market: Any, task_id: int, round_: int, *, transcript_key: dict | None = None,
                          keys: Iterable[dict | str | Path] = (), cache: Path | str | None = None) -> ProofCheck:
    """Verify round ``round_`` of a zk task again with py_ecc, from chain data (see the module).
    ``transcript_key``: the key document the round's transcript names
    (:attr:`zk.protocol.transcript.RoundTranscript.verifier`), a candidate like any other;
    ``cache``: the key cache root (local development keys, compiled verifiers). A task whose
    verifier uses a reference goes to :func:`zk.onchain_reference.check_published_reference_proof`."""
    from zk.onchain_reference import check_published_reference_proof, uses_reference

    task = market.get_task(task_id)
    if task.trusted_aggregator:
        return ProofCheck(False, "the task runs in trusted-aggregator mode: there is no proof")
    if uses_reference(market.web3, task.config.verifier):
        return check_published_reference_proof(market, task_id, round_, transcript_key=transcript_key, keys=keys,
                                               cache=cache)
    try:
        verifier = read_round_verifier(market.web3, task.config.verifier)
    except NotARoundVerifierError as exc:
        return ProofCheck(False, str(exc))
    candidates = candidate_key_documents(verifier.shape, transcript_key=transcript_key, extra=keys, cache=cache)
    match = matching_key_document(market.web3, verifier, candidates, cache=cache)
    if match is None:
        return ProofCheck(False, f"no known key generates the verifier at {verifier.groth16_verifier} "
                                 f"(Round {verifier.shape.name}); name its key document with --vk FILE")
    source, doc = match
    try:
        event, proof = published_round(market, task_id, round_)
    except ZkError as exc:
        return ProofCheck(False, str(exc), source)
    info = market.get_round(task_id, round_)
    commitments = market.get_commitments(task_id, round_)
    try:
        inputs = public_inputs(verifier.shape, commitments=commitments, flags=info.flags,
                               rejections=info.rejections, tau_num=verifier.tau_num, tau_den=verifier.tau_den,
                               scores=[int(s) for s in event["args"]["scores"]],
                               aggregate_commitment=info.aggregate_commitment)
    except ZkError as exc:
        return ProofCheck(False, f"the posted values are not public inputs of Round {verifier.shape.name}: {exc}",
                          source)
    ok = verify(VerificationKey.from_json(doc), proof, inputs)
    label = doc.get("label", "")
    return ProofCheck(ok, f"{'verifies' if ok else 'DOES NOT verify'} under the key of {source}"
                          f"{f' ({label})' if label else ''}", source)

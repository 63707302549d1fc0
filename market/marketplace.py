"""Typed Python binding of ``contracts/Marketplace.sol``.

Every transaction is signed locally with an eth-account key (a keystore wallet or a development
account), so the same code runs on the embedded chain, anvil, ganache or a remote node. A revert
with one of the contract's custom errors becomes a :class:`~market.exceptions.ContractRevert`
whose message says what is wrong; every mined transaction returns a :class:`TxResult` with its
gas and decoded events, and is recorded in an optional :class:`~market.gas.GasReport`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from eth_utils import ValidationError as EthValidationError
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, TimeExhausted, Web3RPCError

from market.artifacts import load_artifact
from market.chain.base import ChainBackend
from market.exceptions import ChainError, TransactionFailed
from market.failpoints import failpoint
from market.gas import GasReport
from market.reverts import RevertDecoder
from market.tracing import traced

try:  # the embedded chain raises its own exception type on reverts
    from eth_tester.exceptions import TransactionFailed as EthTesterTransactionFailed
except ImportError:  # pragma: no cover - eth-tester is a dependency
    EthTesterTransactionFailed = ContractLogicError  # type: ignore[misc,assignment]
from market.types import (
    RoundInfo,
    RoundPublication,
    SubmissionInfo,
    TaskConfig,
    TaskInfo,
    TaskState,
    TrainerInfo,
    TxResult,
    VerifierInfo,
)

REVERTS = (ContractCustomError, ContractLogicError, ContractPanicError, EthTesterTransactionFailed)
PROOF_GAS_LIMIT = 1_500_000
"""Gas limit of a publishRound that carries a proof: sent without estimating, because estimating
re-runs the pairing check many times (slow on py-evm). Comfortably above a 16-trainer round."""
GAS_MARGIN = 1.25
"""Gas limit = estimate × this (+ 20k): estimates on some nodes run a little short."""
RECEIPT_TIMEOUT = 120.0
"""Seconds a sent transaction may take to be mined before :class:`ChainError` (a transport
error: the nodes retry, and their next step sees whether it landed)."""


class Marketplace:
    """A deployed Marketplace on ``chain`` at ``address``."""

    ARTIFACT = "Marketplace"

    def __init__(self, chain: ChainBackend, address: str, *, gas_report: GasReport | None = None) -> None:
        artifact = load_artifact(self.ARTIFACT)
        self.chain = chain
        self.web3: Web3 = chain.web3
        self.address = Web3.to_checksum_address(address)
        self.contract = self.web3.eth.contract(address=self.address, abi=artifact["abi"])
        self.gas_report = gas_report
        self.decoder = RevertDecoder(artifact["abi"])
        self._event_names: dict[bytes, str] = {
            Web3.keccak(text=_event_signature(e)): e["name"] for e in artifact["abi"] if e.get("type") == "event"
        }

    # --- deployment ------------------------------------------------------------------------
    @classmethod
    def deploy(cls, chain: ChainBackend, deployer: LocalAccount, *, gas_report: GasReport | None = None) -> "Marketplace":
        """Deploy a new Marketplace from ``deployer``; returns its binding."""
        result = deploy_contract(chain, cls.ARTIFACT, deployer, gas_report=gas_report)
        return cls(chain, cast(str, result.contract_address), gas_report=gas_report)  # set on a deployment

    # --- transactions ----------------------------------------------------------------------
    def create_task(self, owner: LocalAccount, config: TaskConfig, reward_wei: int) -> tuple[int, TxResult]:
        """Post a task escrowing ``reward_wei``; returns the new task id and the transaction."""
        result = self._transact(owner, "createTask", config.to_abi(), value=reward_wei)
        return int(result.event("TaskCreated")["taskId"]), result

    def join(self, trainer: LocalAccount, task_id: int, stake_wei: int | None = None) -> TxResult:
        """Join ``task_id``; the stake defaults to the task's."""
        if stake_wei is None:
            stake_wei = self.get_task(task_id).config.stake_wei
        return self._transact(trainer, "join", task_id, value=stake_wei)

    def leave(self, trainer: LocalAccount, task_id: int) -> TxResult:
        """Leave a task that has not started; the stake is credited back."""
        return self._transact(trainer, "leave", task_id)

    def allow_trainers(self, owner: LocalAccount, task_id: int, accounts: Iterable[str]) -> TxResult:
        """Allow ``accounts`` to join the owner's allowlist-only task."""
        return self._transact(owner, "allowTrainers", task_id, [Web3.to_checksum_address(a) for a in accounts])

    def register_aggregator_key(self, aggregator: LocalAccount, public_key: bytes) -> TxResult:
        """Register ``aggregator``'s X25519 public key (tasks naming it must carry this key)."""
        return self._transact(aggregator, "registerAggregatorKey", _bytes32(public_key))

    def approve_verifier(self, registrar: LocalAccount, verifier: str) -> TxResult:
        """Approve ``verifier`` for tasks (the registrar: the Marketplace's deployer)."""
        return self._transact(registrar, "approveVerifier", Web3.to_checksum_address(verifier))

    def start(self, sender: LocalAccount, task_id: int) -> TxResult:
        return self._transact(sender, "start", task_id)

    def cancel(self, sender: LocalAccount, task_id: int) -> TxResult:
        return self._transact(sender, "cancel", task_id)

    @traced("marketplace.submit_update")
    def submit_update(self, trainer: LocalAccount, task_id: int, round_: int, update_cid: str, digest: bytes) -> TxResult:
        return self._transact(trainer, "submitUpdate", task_id, round_, update_cid, _bytes32(digest))

    @traced("marketplace.close_submissions")
    def close_submissions(self, sender: LocalAccount, task_id: int, round_: int) -> TxResult:
        return self._transact(sender, "closeSubmissions", task_id, round_)

    @traced("marketplace.commit_sketch")
    def commit_sketch(self, trainer: LocalAccount, task_id: int, round_: int, commitment: int) -> TxResult:
        return self._transact(trainer, "commitSketch", task_id, round_, int(commitment))

    @traced("marketplace.publish_round")
    def publish_round(self, aggregator: LocalAccount, task_id: int, round_: int, publication: RoundPublication) -> TxResult:
        p = publication
        return self._transact(
            aggregator, "publishRound", task_id, round_, p.global_model_cid, p.flags_mask, p.rejections_mask,
            [int(s) for s in p.scores], int(p.aggregate_commitment), bytes(p.proof), p.transcript_cid,
            gas=PROOF_GAS_LIMIT if p.proof else None,
        )

    @traced("marketplace.reveal_evidence_key")
    def reveal_evidence_key(self, aggregator: LocalAccount, task_id: int, round_: int, trainer: str, key: bytes) -> TxResult:
        return self._transact(aggregator, "revealEvidenceKey", task_id, round_, trainer, _bytes32(key))

    @traced("marketplace.commit_reference")
    def commit_reference(self, aggregator: LocalAccount, task_id: int, round_: int, digest: bytes) -> TxResult:
        """Fix the round's reference update by its digest (before the round's first submission)."""
        return self._transact(aggregator, "commitReference", task_id, round_, _bytes32(digest))

    def commit_reference_sketch(self, aggregator: LocalAccount, task_id: int, round_: int,
                                commitment: int) -> TxResult:
        """Commit to the reference's sketch under the round's seed (after closeSubmissions)."""
        return self._transact(aggregator, "commitReferenceSketch", task_id, round_, int(commitment))

    @traced("marketplace.contest_rejection")
    def contest_rejection(self, trainer: LocalAccount, task_id: int, round_: int, key: bytes) -> TxResult:
        """Contest the caller's rejection in a published round by revealing its own envelope key."""
        return self._transact(trainer, "contestRejection", task_id, round_, _bytes32(key))

    def finalize(self, sender: LocalAccount, task_id: int) -> TxResult:
        return self._transact(sender, "finalize", task_id)

    def abort(self, sender: LocalAccount, task_id: int) -> TxResult:
        return self._transact(sender, "abort", task_id)

    def withdraw(self, account: LocalAccount) -> TxResult:
        return self._transact(account, "withdraw")

    # --- views -----------------------------------------------------------------------------
    def task_count(self) -> int:
        return int(self._call("taskCount"))

    def get_task(self, task_id: int) -> TaskInfo:
        (config, owner, reward, held, state, current, published, count, trusted, reference) = self._call(
            "getTask", task_id)
        return TaskInfo(
            task_id=task_id, config=TaskConfig.from_abi(config), owner=owner, reward_wei=reward, held_wei=held,
            state=TaskState(state), current_round=current, published_rounds=published, trainer_count=count,
            trusted_aggregator=trusted, uses_reference=bool(reference),
        )

    def aggregator_key_of(self, aggregator: str) -> bytes:
        """The X25519 key ``aggregator`` registered (32 zero bytes when none)."""
        return bytes(self._call("aggregatorKeyOf", Web3.to_checksum_address(aggregator)))

    def verifier_info(self, verifier: str) -> VerifierInfo:
        """``verifier``'s registry entry (not approved: all zero)."""
        approved, code_hash, slots = self._call("verifierInfo", Web3.to_checksum_address(verifier))
        return VerifierInfo(approved=bool(approved), code_hash=bytes(code_hash), slots=int(slots))

    def registrar(self) -> str:
        """The account that approves verifiers (the deployer)."""
        return Web3.to_checksum_address(self._call("registrar"))

    def is_allowed(self, task_id: int, account: str) -> bool:
        """Whether ``account`` passes the task's admission (always, unless allowlist-only)."""
        return bool(self._call("isAllowed", task_id, Web3.to_checksum_address(account)))

    def get_trainers(self, task_id: int) -> list[str]:
        return list(self._call("getTrainers", task_id))

    def get_trainer(self, task_id: int, trainer: str) -> TrainerInfo:
        return TrainerInfo(*self._call("getTrainer", task_id, trainer))

    def get_round(self, task_id: int, round_: int) -> RoundInfo:
        return RoundInfo.from_abi(self._call("getRound", task_id, round_))

    def get_submission(self, task_id: int, round_: int, trainer: str) -> SubmissionInfo:
        cid, digest, commitment = self._call("getSubmission", task_id, round_, trainer)
        return SubmissionInfo(update_cid=cid, update_digest=bytes(digest), sketch_commitment=commitment)

    def get_commitments(self, task_id: int, round_: int) -> list[int]:
        return [int(c) for c in self._call("getCommitments", task_id, round_)]

    def credit_of(self, account: str) -> int:
        return int(self._call("creditOf", account))

    def total_credits(self) -> int:
        return int(self._call("totalCredits"))

    def slash_sink(self) -> str:
        """The address slashed stakes are credited to (``SLASH_SINK``; nobody can withdraw them)."""
        return Web3.to_checksum_address(self._call("SLASH_SINK"))

    def balance(self) -> int:
        """Wei the contract holds."""
        return int(self.web3.eth.get_balance(self.address))

    def events(self, name: str, *, from_block: int = 0, to_block: int | str = "latest", **filters: Any) -> list[dict]:
        """Decoded ``name`` events, optionally filtered on indexed arguments (``taskId=3``)."""
        event = getattr(self.contract.events, name)
        try:
            logs = event().get_logs(from_block=from_block, to_block=to_block, argument_filters=filters or None)
        except Web3RPCError as exc:
            raise ChainError(f"reading {name} events failed: {exc}") from exc
        return [_plain(log) for log in logs]

    def round_keys(self, event: str, task_id: int, round_: int) -> dict[str, bytes]:
        """``{trainer: key}`` of a round's ``EvidenceKeyRevealed`` (the aggregator's reveals) or
        ``RejectionContested`` (the trainers' contests) events."""
        if event not in ("EvidenceKeyRevealed", "RejectionContested"):
            raise ValueError(f"{event} carries no evidence keys")
        return {e["args"]["trainer"]: bytes(e["args"]["key"]) for e in self.events(event, taskId=task_id)
                if e["args"]["round"] == round_}

    # --- plumbing --------------------------------------------------------------------------
    @traced("marketplace.call")
    def _call(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self.contract.functions, name)(*args).call()
        except REVERTS as exc:
            raise self._revert(exc, name) from None

    def _revert(self, exc: Exception, function: str) -> Exception:
        decoded = self.decoder.decode(revert_data(exc))
        if decoded is not None:
            return decoded
        return TransactionFailed(f"{function} reverted: {exc}")

    def _transact(self, sender: LocalAccount, function: str, *args: Any, value: int = 0, gas: int | None = None) -> TxResult:
        call = getattr(self.contract.functions, function)(*args)
        result = send_transaction(self.chain, sender, call, function, value=value, revert=self._revert, gas=gas)
        result.events = self.decode_events(result.receipt["logs"])
        if self.gas_report is not None:
            self.gas_report.record(function, result.gas_used)
        return result

    def decode_events(self, logs: Iterable[Any]) -> list[dict]:
        """Decode the Marketplace events among ``logs``."""
        events = []
        for log in logs:
            if Web3.to_checksum_address(log["address"]) != self.address or not log["topics"]:
                continue
            name = self._event_names.get(bytes(log["topics"][0]))
            if name is not None:
                events.append(_plain(getattr(self.contract.events, name)().process_log(log)))
        return events


def send_transaction(chain: ChainBackend, sender: LocalAccount, call: Any, function: str, *, value: int = 0,
                     revert: Any = None, gas: int | None = None) -> TxResult:
    """Estimate (unless ``gas`` is given), sign with ``sender``'s key, send and wait for ``call``
    (a contract function call or constructor). Reverts become exceptions by ``revert(exc, function)``."""
    web3 = chain.web3
    revert = revert or (lambda exc, fn: TransactionFailed(f"{fn} reverted: {exc}"))
    with chain.serialized():
        params = {"from": sender.address, "value": value, "nonce": web3.eth.get_transaction_count(sender.address, "pending"),
                  "chainId": chain.chain_id}
        try:
            # simulated on the pending block, where the transaction will run: a call judged on "latest"
            # sees latest's block number (closeSubmissions refuses the block of the last submission)
            if gas is None:
                limit = int(call.estimate_gas(params, block_identifier=chain.simulation_block) * GAS_MARGIN) + 20_000
            else:  # one dry run instead of an estimate's many: a revert is still caught and decoded here
                call.call({**params, "gas": gas}, block_identifier=chain.simulation_block)
                limit = gas
            tx = call.build_transaction({**params, "gas": limit})
        except REVERTS as exc:
            raise revert(exc, function) from None
        except (Web3RPCError, EthValidationError) as exc:
            raise _rpc_error(exc, function, sender) from None
        signed = sender.sign_transaction(tx)
        try:
            tx_hash = web3.eth.send_raw_transaction(signed.raw_transaction)
        except (Web3RPCError, EthValidationError) as exc:
            raise _rpc_error(exc, function, sender) from None
        failpoint(f"tx.sent.{function}")  # crash tests: sent, its receipt never seen
        try:
            receipt = web3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT)
        except TimeExhausted:
            raise ChainError(f"{function}: transaction 0x{bytes(tx_hash).hex()} was not mined within "
                             f"{RECEIPT_TIMEOUT:.0f}s (it may still be; the node retries)") from None
    if receipt["status"] != 1:
        try:  # replay to recover the reason
            call.call({**params, "gas": tx["gas"]}, block_identifier=receipt["blockNumber"])
        except REVERTS as exc:
            raise revert(exc, function) from None
        raise TransactionFailed(f"{function} failed in block {receipt['blockNumber']} (tx {tx_hash.hex()})")
    return TxResult(function=function, tx_hash="0x" + bytes(tx_hash).hex(), gas_used=int(receipt["gasUsed"]),
                    block_number=int(receipt["blockNumber"]), receipt=receipt,
                    contract_address=receipt.get("contractAddress"))


def deploy_contract(chain: ChainBackend, name: str, deployer: LocalAccount, *args: Any,
                    gas_report: GasReport | None = None) -> TxResult:
    """Deploy the compiled contract ``name`` with constructor ``args``."""
    artifact = load_artifact(name)
    factory = chain.web3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    result = send_transaction(chain, deployer, factory.constructor(*args), f"deploy {name}")
    if gas_report is not None:
        gas_report.record(f"deploy {name}", result.gas_used)
    return result


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data carried by ``exc`` or the exceptions chained to it: web3's
    ``ContractCustomError.data`` (hex) on RPC nodes, the bytes eth-tester raises in process."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        data = getattr(current, "data", None)
        if isinstance(data, dict):  # ganache: {"result": "0x…", "message": …}
            data = data.get("result") or data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        if isinstance(data, bytes):
            return data
        if current.args and isinstance(current.args[0], bytes):
            return current.args[0]
        if current.args and isinstance(current.args[0], str):  # eth-tester: "execution reverted: b'…'"
            text = current.args[0].removeprefix("execution reverted: ")
            if text.startswith(("b'", 'b"')):
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    value = None
                if isinstance(value, bytes):
                    return value
        current = current.__cause__ or current.__context__
    return None


def _rpc_error(exc: Exception, function: str, sender: LocalAccount) -> ChainError:
    text = str(exc)
    if "insufficient funds" in text.lower() or "enough balance" in text.lower():
        return ChainError(f"{sender.address} cannot pay for {function} (insufficient funds): fund the wallet first")
    return ChainError(f"{function}: the node refused the transaction: {text}")


def _bytes32(value: bytes | str) -> bytes:
    if isinstance(value, str):
        value = bytes.fromhex(value.removeprefix("0x"))
    if len(value) != 32:
        raise ValueError(f"expected 32 bytes, got {len(value)}")
    return value


def _event_signature(entry: dict) -> str:
    from market.reverts import _abi_type

    return f"{entry['name']}({','.join(_abi_type(i) for i in entry['inputs'])})"


def _plain(log: Any) -> dict:
    return {
        "event": log["event"],
        "args": dict(log["args"]),
        "block_number": int(log["blockNumber"]),
        "tx_hash": "0x" + bytes(log["transactionHash"]).hex(),
        "log_index": int(log["logIndex"]),
    }

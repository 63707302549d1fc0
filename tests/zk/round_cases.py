"""Round cases for the round-circuit tests: slots, their commitments, the rule's result, proofs,
and a small market on the embedded chain that publishes them through the real verifier.

A :class:`RoundCase` is a list of :class:`Slot` (active, absent, rejected, submitted without a
commitment) and a τ; it knows the stored commitments, the provable rule's result
(:func:`aggregator.detectors.provable.provable_round`, the aggregator's own copy) and the public
inputs. :class:`ZkMarket` runs one case as a round of a fresh task and publishes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from market.chain import EmbeddedChain
from market.exceptions import TransactionFailed
from market.marketplace import REVERTS, Marketplace, revert_data
from market.types import TaskConfig, TxResult
from zk.keys import RoundKeys
from zk.protocol.commitment import aggregate_commitment, random_salt, sketch_commitment
from zk.protocol.rule import ProvableRoundResult, provable_round
from zk.prover import RoundProof, prove_round
from zk.round_circuit import public_inputs

B = (1 << 40) - 1
"""The largest sketch value the circuit accepts."""
PUBLISH_GAS = 3_000_000


@dataclass
class Slot:
    """One trainer slot: ``sketch`` None = no submission; a submitted slot stores a commitment
    unless ``committed`` is false (then it must be rejected)."""

    sketch: list[int] | None = None
    committed: bool = True
    rejected: bool = False
    salt: int = field(default_factory=random_salt)

    @property
    def submitted(self) -> bool:
        return self.sketch is not None

    @property
    def commitment(self) -> int:
        if self.sketch is None or not self.committed:
            return 0
        return sketch_commitment(self.sketch, self.salt)


def active(sketch: Sequence[int]) -> Slot:
    return Slot(list(sketch))


def absent() -> Slot:
    return Slot(None)


def rejected(sketch: Sequence[int]) -> Slot:
    return Slot(list(sketch), rejected=True)


def uncommitted(k: int) -> Slot:
    """Submitted, never committed a sketch: rejected, commitment 0."""
    return Slot([0] * k, committed=False, rejected=True)


@dataclass
class RoundCase:
    """The slots of one round and τ; ``result`` is the provable rule's outcome."""

    slots: list[Slot]
    k: int
    tau: tuple[int, int] = (4, 1)

    def __post_init__(self) -> None:
        self.commitments = [s.commitment for s in self.slots]
        self.rejections = [s.rejected for s in self.slots]
        self.result: ProvableRoundResult = provable_round(
            [s.sketch if s.submitted and s.committed else None for s in self.slots], self.rejections,
            tau_num=self.tau[0], tau_den=self.tau[1], k=self.k)

    @property
    def n(self) -> int:
        return len(self.slots)

    @property
    def flags_mask(self) -> int:
        return self.result.flags_mask

    @property
    def rejections_mask(self) -> int:
        return sum(1 << i for i, r in enumerate(self.rejections) if r)

    @property
    def scores(self) -> list[int]:
        return list(self.result.scores)

    @property
    def aggregate_commitment(self) -> int:
        return aggregate_commitment(self.result.aggregate)

    def prove(self, keys: RoundKeys, result: ProvableRoundResult | None = None) -> RoundProof:
        return prove_round(keys, result or self.result, commitments=self.commitments, rejections=self.rejections,
                           sketches=[s.sketch for s in self.slots], salts=[s.salt for s in self.slots])

    def public(self, keys: RoundKeys, **changes) -> list[int]:
        """The public inputs (optionally with one value changed: commitments, flags,
        rejections, scores, aggregate_commitment)."""
        values = dict(commitments=self.commitments, flags=self.flags_mask, rejections=self.rejections_mask,
                      tau_num=self.tau[0], tau_den=self.tau[1], scores=self.scores,
                      aggregate_commitment=self.aggregate_commitment)
        values.update(changes)
        return public_inputs(keys.shape, **values)


def with_result(result: ProvableRoundResult, **changes) -> ProvableRoundResult:
    """A copy of ``result`` with fields replaced (to build witnesses that break the rule)."""
    return dataclasses.replace(result, **changes)


@dataclass
class Publication:
    """What a ZkMarket round produced."""

    task_id: int
    commitments: list[int]
    proof: RoundProof
    flags: int
    rejections: int
    scores: list[int]
    aggregate: int


class ZkMarket:
    """A Marketplace on an embedded chain, a trainer per slot, rounds published with proofs."""

    def __init__(self, chain: EmbeddedChain, market: Marketplace, keys: RoundKeys) -> None:
        self.chain = chain
        self.market = market
        self.keys = keys
        accounts = chain.dev_accounts()
        self.owner: LocalAccount = accounts[0]
        self.aggregator: LocalAccount = accounts[1]
        self.trainers: list[LocalAccount] = accounts[2:]

    def _travel_past(self, deadline: int) -> None:
        gap = deadline - self.chain.timestamp() + 1
        if gap > 0:
            self.chain.increase_time(gap)

    def prepare(self, case: RoundCase, verifier: str) -> int:
        """A task with one trainer per slot, round 0 closed and committed as ``case`` says."""
        n = case.n
        config = TaskConfig(spec_cid="bafy-zk-round-test", aggregator=self.aggregator.address,
                            join_deadline=self.chain.timestamp() + 1000, aggregator_key=b"\x42" * 32,
                            verifier=verifier, stake_wei=10**15, submission_window=100, sketch_window=50,
                            publish_grace=100, rounds=2, min_trainers=1, max_trainers=n)
        task_id, _ = self.market.create_task(self.owner, config, 10**18)
        trainers = self.trainers[:n]
        for t in trainers:
            self.market.join(t, task_id, 10**15)
        self.market.start(self.owner, task_id)
        for i, (t, slot) in enumerate(zip(trainers, case.slots)):
            if slot.submitted:
                self.market.submit_update(t, task_id, 0, f"bafy-update-{i}", keccak(text=f"{task_id}/{i}"))
        info = self.market.get_round(task_id, 0)
        if info.submissions < n:
            self._travel_past(info.submission_deadline)
        self.market.close_submissions(self.owner, task_id, 0)
        for t, slot in zip(trainers, case.slots):
            if slot.submitted and slot.committed:
                self.market.commit_sketch(t, task_id, 0, slot.commitment)
        if any(s.submitted and not s.committed for s in case.slots):
            self._travel_past(self.market.get_round(task_id, 0).sketch_deadline)
        return task_id

    def publish(self, task_id: int, *, flags: int, rejections: int, scores: Sequence[int], aggregate: int,
                proof: bytes) -> TxResult:
        """``publishRound`` with a fixed gas limit. The binding estimates gas first, and on
        py-evm each estimate re-runs the pure-Python pairing precompile some 20 times (~20 s);
        one execution here (~1.5 s), and a replay to decode a revert."""
        call = self.market.contract.functions.publishRound(task_id, 0, "bafy-global-0", flags, rejections,
                                                            [int(s) for s in scores], aggregate, proof, "")
        web3 = self.chain.web3
        params = {"from": self.aggregator.address, "chainId": self.chain.chain_id, "gas": PUBLISH_GAS,
                  "nonce": web3.eth.get_transaction_count(self.aggregator.address)}
        tx = call.build_transaction(params)
        tx_hash = web3.eth.send_raw_transaction(self.aggregator.sign_transaction(tx).raw_transaction)
        receipt = web3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            try:
                call.call({"from": self.aggregator.address, "gas": PUBLISH_GAS},
                          block_identifier=receipt["blockNumber"])
            except REVERTS as exc:
                raise self.market.decoder.decode(revert_data(exc)) or TransactionFailed(str(exc)) from None
            raise TransactionFailed("publishRound failed without a revert reason")
        result = TxResult(function="publishRound", tx_hash="0x" + bytes(tx_hash).hex(),
                          gas_used=int(receipt["gasUsed"]), block_number=int(receipt["blockNumber"]), receipt=receipt)
        result.events = self.market.decode_events(receipt["logs"])
        if self.market.gas_report is not None:
            self.market.gas_report.record(f"publishRound (zk Round({self.keys.shape.n}, {self.keys.shape.k}))",
                                          result.gas_used)
        return result

    def run(self, case: RoundCase, verifier: str) -> tuple[Publication, TxResult]:
        """Prepare the round, prove it from the commitments the chain stored, publish it."""
        task_id = self.prepare(case, verifier)
        stored = self.market.get_commitments(task_id, 0)
        assert stored == case.commitments
        proof = case.prove(self.keys)
        pub = Publication(task_id, stored, proof, case.flags_mask, case.rejections_mask, case.scores,
                          case.aggregate_commitment)
        result = self.publish(task_id, flags=pub.flags, rejections=pub.rejections, scores=pub.scores,
                              aggregate=pub.aggregate, proof=proof.proof)
        return pub, result

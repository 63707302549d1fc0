"""Fixtures and helpers for the Marketplace contract suite.

Every test here starts from the same state: one embedded chain for the folder, reverted before
each test to a snapshot taken right after dev account 0 deployed the Marketplace and a
HashCheckVerifier (``embedded_chain``, ``marketplace``/``market``; gas goes to the session's gas
report, written to ``out/gas-report.md``).

- :class:`Actors` names the dev accounts by role: owner, aggregator, trainers, outsider.
- ``make_task(...)`` posts a task with short windows; any :class:`TaskConfig` field can be
  overridden by keyword.
- ``drive(state, ...)`` takes a new task to ``joined``, ``started``, ``submitted``, ``closed``,
  ``committed``, ``published`` or ``finalized`` and returns a :class:`TaskFlow` to go on with.
- ``hash_verifier`` deploys the HashCheckVerifier harness; :func:`hash_proof` computes the
  "proof" it accepts from the commitments and seed stored on chain.
- ``reverts(name, **args)`` asserts a custom error, its key arguments, and that nothing was mined.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import eth_abi
import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from market.chain import EmbeddedChain
from market.chain.base import ChainBackend
from market.exceptions import ContractRevert, TransactionFailed
from market.gas import GasReport
from market.marketplace import Marketplace, deploy_contract, revert_data, send_transaction
from market.types import RoundInfo, RoundPublication, TaskConfig, TaskInfo, TxResult

FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617
"""The BN254 scalar field modulus (``Marketplace.SNARK_SCALAR_FIELD``)."""
MAX_SCORE = 2**128
MAX_TRAINERS = 64
MAX_ROUNDS = 1000
MAX_CID_LENGTH = 128
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

AGGREGATOR_KEY = b"\x42" * 32
"""The X25519 key the aggregator (and the outsider, for tests naming it aggregator) registered."""
REWARD = 10**18
STAKE = 10**16
JOIN_WINDOW = 1_000
SUBMISSION_WINDOW = 100
SKETCH_WINDOW = 50
PUBLISH_GRACE = 100

STATES = ("created", "joined", "started", "submitted", "closed", "committed", "published", "finalized")


@dataclass(frozen=True)
class Actors:
    """The embedded chain's dev accounts by role."""

    owner: LocalAccount  # also the Marketplace deployer
    aggregator: LocalAccount
    trainers: tuple[LocalAccount, ...]
    outsider: LocalAccount
    other_owner: LocalAccount

    @property
    def everyone(self) -> tuple[LocalAccount, ...]:
        return (self.owner, self.aggregator, *self.trainers, self.outsider, self.other_owner)


def actors_of(chain: ChainBackend) -> Actors:
    accounts = chain.dev_accounts()
    return Actors(
        owner=accounts[0], aggregator=accounts[1], trainers=tuple(accounts[2:8]), outsider=accounts[8],
        other_owner=accounts[9],
    )


def digest_of(*parts: object) -> bytes:
    """A nonzero 32-byte update digest derived from ``parts``."""
    return keccak(text="/".join(str(p) for p in parts))


def commitment_of(task_id: int, round_: int, slot: int) -> int:
    """A nonzero field element standing in for a trainer's sketch commitment."""
    return int.from_bytes(keccak(text=f"sketch/{task_id}/{round_}/{slot}"), "big") % (FIELD - 1) + 1


def hash_proof(market: Marketplace, task_id: int, round_: int, *, flags: int, rejections: int,
               scores: Sequence[int], aggregate: int, commitments: Sequence[int] | None = None,
               seed: int | None = None, reference: int | None = None) -> bytes:
    """The 32-byte "proof" HashCheckVerifier accepts: keccak256(abi.encode(commitments, seed,
    flags, rejections, scores, aggregateCommitment)), with the round's reference commitment after
    the seed when it has one. Commitments, seed and reference are read from the chain unless given
    (to build a proof over other values)."""
    if commitments is None:
        commitments = market.get_commitments(task_id, round_)
    info = market.get_round(task_id, round_)
    seed = info.seed if seed is None else seed
    reference = info.reference_commitment if reference is None else reference
    if reference:
        return keccak(eth_abi.encode(
            ["uint256[]", "uint256", "uint256", "uint256", "uint256", "uint256[]", "uint256"],
            [list(commitments), seed, reference, flags, rejections, list(scores), aggregate]))
    encoded = eth_abi.encode(
        ["uint256[]", "uint256", "uint256", "uint256", "uint256[]", "uint256"],
        [list(commitments), seed, flags, rejections, list(scores), aggregate],
    )
    return keccak(encoded)


def bits(slots: Iterable[int], n: int) -> list[bool]:
    """Slots → one bool per slot (the list grows past ``n`` if a slot >= n is named)."""
    slots = set(slots)
    size = max([n, *(s + 1 for s in slots)])
    return [i in slots for i in range(size)]


def mask(slots: Iterable[int]) -> int:
    return sum(1 << s for s in set(slots))


def travel_past(chain: ChainBackend, deadline: int, margin: int = 1) -> None:
    """Move the clock so the next block's timestamp is past ``deadline`` (by ``margin``+)."""
    gap = deadline - chain.timestamp() + margin
    if gap > 0:
        chain.increase_time(gap)


def credits_by_kind(result: TxResult) -> list[tuple[str, int, int]]:
    """(account, amount, kind) of every PaymentCredited event of ``result``."""
    return [(e["args"]["account"], e["args"]["amount"], e["args"]["kind"])
            for e in result.events if e["event"] == "PaymentCredited"]


def event_names(result: TxResult) -> list[str]:
    return [e["event"] for e in result.events]


def round_budget(reward: int, round_: int, rounds: int) -> int:
    """Python model of a round's budget: ``reward·(r+1)//R − reward·r//R`` (they sum to the reward)."""
    return reward * (round_ + 1) // rounds - reward * round_ // rounds


def round_pay(budget: int, scores: Sequence[int], withheld_slots: Sequence[int] = (), submissions: int | None = None):
    """Python model of ``Marketplace._settleRound``: ``(pays, withheld, refunded)``. Accepted slot i
    earns ``budget·s_i // Z``, ``Z = Σs + w·max(s)`` with w the rejected or flagged slots; their
    reserve ``budget·w·max(s) // Z`` is withheld; Z = 0 withholds the budget unless nobody submitted
    (then it is refunded)."""
    submissions = len(scores) if submissions is None else submissions
    top, w = max(scores, default=0), len(set(withheld_slots))
    z = sum(scores) + w * top
    if z == 0:
        return [0] * len(scores), (budget if submissions else 0), (0 if submissions else budget)
    return [budget * s // z for s in scores], budget * w * top // z, 0


def settlement(reward: int, rounds: Sequence[tuple[Sequence[int], Sequence[int]]], slashed: Sequence[bool],
               stake: int, *, of_rounds: int | None = None) -> dict:
    """Python model of the whole settlement: per round ``(scores, withheld slots)`` settled by
    :func:`round_pay` with its budget (of ``of_rounds`` rounds, default ``len(rounds)``: fewer
    published rounds model an abort); a slashed trainer keeps what it earned; stakes back to the
    unslashed; slashed stakes and withheld reserves to the sink; the dust of the published rounds'
    budgets to the owner."""
    total_rounds = of_rounds or len(rounds)
    rewards = [0] * len(slashed)
    withheld = refunded = pool = 0
    for r, (scores, withheld_slots) in enumerate(rounds):
        budget = round_budget(reward, r, total_rounds)
        pool += budget
        pays, held, back = round_pay(budget, scores, withheld_slots)
        rewards = [a + b for a, b in zip(rewards, pays)]
        withheld, refunded = withheld + held, refunded + back
    stakes = [0 if s else stake for s in slashed]
    slashed_wei = stake * sum(slashed)
    dust = pool - sum(rewards) - withheld - refunded
    return {"rewards": rewards, "stakes": stakes, "dust": dust, "slashed": slashed_wei, "withheld": withheld,
            "sink": slashed_wei + withheld, "refunded": refunded, "reward_paid": sum(rewards)}


@dataclass
class TaskFlow:
    """One task on chain and the steps that drive it. Trainers are in slot (join) order."""

    market: Marketplace
    chain: ChainBackend
    actors: Actors
    task_id: int
    config: TaskConfig
    reward: int
    owner: LocalAccount
    trainers: list[LocalAccount] = field(default_factory=list)
    results: list[TxResult] = field(default_factory=list)

    # --- views -------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.trainers)

    @property
    def aggregator(self) -> LocalAccount:
        return self.actors.aggregator

    def task(self) -> TaskInfo:
        return self.market.get_task(self.task_id)

    def round(self, round_: int | None = None) -> RoundInfo:
        return self.market.get_round(self.task_id, self.current if round_ is None else round_)

    @property
    def current(self) -> int:
        return self.task().current_round

    def _r(self, round_: int | None) -> int:
        return self.current if round_ is None else round_

    def _keep(self, result: TxResult) -> TxResult:
        self.results.append(result)
        return result

    # --- steps -------------------------------------------------------------------------
    def join(self, trainers: Iterable[LocalAccount]) -> list[TxResult]:
        out = []
        for trainer in trainers:
            out.append(self._keep(self.market.join(trainer, self.task_id, self.config.stake_wei)))
            self.trainers.append(trainer)
        return out

    def start(self, sender: LocalAccount | None = None) -> TxResult:
        return self._keep(self.market.start(sender or self.owner, self.task_id))

    def submit(self, round_: int | None = None, trainers: Iterable[LocalAccount] | None = None) -> list[TxResult]:
        r = self._r(round_)
        return [
            self._keep(self.market.submit_update(t, self.task_id, r, self.update_cid(r, t),
                                                 digest_of(self.task_id, r, t.address)))
            for t in (self.trainers if trainers is None else trainers)
        ]

    def update_cid(self, round_: int, trainer: LocalAccount) -> str:
        return f"bafy-update-{self.task_id}-{round_}-{self.slot(trainer)}"

    def slot(self, trainer: LocalAccount) -> int:
        return self.trainers.index(trainer)

    def close(self, round_: int | None = None, sender: LocalAccount | None = None) -> TxResult:
        r = self._r(round_)
        info = self.round(r)
        if info.submissions < self.n:
            travel_past(self.chain, info.submission_deadline)
        return self._keep(self.market.close_submissions(sender or self.actors.outsider, self.task_id, r))

    def commit(self, round_: int | None = None, trainers: Iterable[LocalAccount] | None = None) -> list[TxResult]:
        r = self._r(round_)
        if trainers is None:
            trainers = [t for t in self.trainers
                        if self.market.get_submission(self.task_id, r, t.address).submitted]
        return [
            self._keep(self.market.commit_sketch(t, self.task_id, r, commitment_of(self.task_id, r, self.slot(t))))
            for t in trainers
        ]

    def publication(self, round_: int | None = None, *, scores: Sequence[int] | None = None,
                    flags: Iterable[int] = (), rejections: Iterable[int] = (), aggregate: int = 0,
                    proof: bytes | None = None, cid: str | None = None, transcript: str = "") -> RoundPublication:
        """A publication; scores default to 1 per accepted submitter; with a verifier the proof
        defaults to the HashCheckVerifier proof over the stored commitments and seed."""
        r = self._r(round_)
        flags, rejections = set(flags), set(rejections)
        if scores is None:
            scores = [
                1 if (i not in flags and i not in rejections
                      and self.market.get_submission(self.task_id, r, t.address).submitted) else 0
                for i, t in enumerate(self.trainers)
            ]
        if proof is None:
            proof = b""
            if self.config.verifier != ZERO_ADDRESS:
                proof = hash_proof(self.market, self.task_id, r, flags=mask(flags), rejections=mask(rejections),
                                   scores=scores, aggregate=aggregate)
        return RoundPublication(
            global_model_cid=cid if cid is not None else f"bafy-global-{self.task_id}-{r}",
            flags=bits(flags, self.n), rejections=bits(rejections, self.n), scores=list(scores),
            aggregate_commitment=aggregate, proof=proof, transcript_cid=transcript,
        )

    def publish(self, round_: int | None = None, *, sender: LocalAccount | None = None, **kwargs) -> TxResult:
        r = self._r(round_)
        pub = self.publication(r, **kwargs)
        return self._keep(self.market.publish_round(sender or self.aggregator, self.task_id, r, pub))

    def run_round(self, *, scores: Sequence[int] | None = None, flags: Iterable[int] = (),
                  rejections: Iterable[int] = ()) -> TxResult:
        """Every trainer submits and commits; the aggregator publishes."""
        self.submit()
        self.close()
        self.commit()
        return self.publish(scores=scores, flags=flags, rejections=rejections)

    def finalize(self, sender: LocalAccount | None = None) -> TxResult:
        return self._keep(self.market.finalize(sender or self.actors.outsider, self.task_id))

    def abort(self, sender: LocalAccount | None = None) -> TxResult:
        return self._keep(self.market.abort(sender or self.actors.outsider, self.task_id))

    def cancel(self, sender: LocalAccount | None = None) -> TxResult:
        return self._keep(self.market.cancel(sender or self.owner, self.task_id))

    # --- clock -------------------------------------------------------------------------
    def pass_join_deadline(self) -> None:
        travel_past(self.chain, self.config.join_deadline)

    def pass_submission_deadline(self, round_: int | None = None) -> None:
        travel_past(self.chain, self.round(round_).submission_deadline)

    def pass_sketch_deadline(self, round_: int | None = None) -> None:
        travel_past(self.chain, self.round(round_).sketch_deadline)

    def pass_publish_deadline(self, round_: int | None = None) -> None:
        travel_past(self.chain, self.round(round_).publish_deadline)


# --- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def contracts_base(gas_report: GasReport) -> Iterator[tuple[EmbeddedChain, str, str, int]]:
    """One embedded chain for the whole folder, with a Marketplace and a HashCheckVerifier
    deployed (and approved by the owner, the registrar), the aggregator's key
    :data:`AGGREGATOR_KEY` registered, and a snapshot of that state: (chain, marketplace,
    verifier, snapshot id). Every test starts from the snapshot (a fresh chain and deploy per
    test cost ~0.4 s)."""
    chain = EmbeddedChain()
    roles = actors_of(chain)
    owner = roles.owner
    market = Marketplace.deploy(chain, owner, gas_report=gas_report)
    verifier = deploy_contract(chain, "HashCheckVerifier", owner).contract_address
    market.approve_verifier(owner, verifier)
    for account in (roles.aggregator, roles.outsider):
        market.register_aggregator_key(account, AGGREGATOR_KEY)
    snapshot = chain.tester.take_snapshot()
    yield chain, market.address, Web3.to_checksum_address(verifier), snapshot
    chain.close()


@pytest.fixture
def embedded_chain(contracts_base) -> EmbeddedChain:
    """The folder's chain, reverted to the freshly deployed state (overrides the root fixture)."""
    chain, _, _, snapshot = contracts_base
    chain.tester.revert_to_snapshot(snapshot)
    chain.tester.mine_blocks(1)  # block timestamps follow the wall clock: bring "latest" to now
    return chain


@pytest.fixture
def marketplace(embedded_chain: EmbeddedChain, contracts_base, gas_report: GasReport) -> Marketplace:
    """The Marketplace deployed in the snapshot, gas recorded (overrides the root fixture)."""
    return Marketplace(embedded_chain, contracts_base[1], gas_report=gas_report)


@pytest.fixture
def chain(embedded_chain: EmbeddedChain) -> EmbeddedChain:
    return embedded_chain


@pytest.fixture
def actors(embedded_chain: EmbeddedChain) -> Actors:
    return actors_of(embedded_chain)


@pytest.fixture
def market(marketplace: Marketplace) -> Marketplace:
    """The Marketplace under test (fresh state per test, gas recorded)."""
    return marketplace


@pytest.fixture
def hash_verifier(contracts_base, embedded_chain: EmbeddedChain) -> str:
    """Address of the HashCheckVerifier deployed in the snapshot."""
    return contracts_base[2]


@pytest.fixture
def task_config(chain: EmbeddedChain, actors: Actors) -> Callable[..., TaskConfig]:
    """``task_config(**overrides)``: a valid config with short windows, join deadline 1000 s ahead."""

    def _config(**overrides) -> TaskConfig:
        values = dict(
            spec_cid="bafy-task-spec", aggregator=actors.aggregator.address,
            join_deadline=chain.timestamp() + JOIN_WINDOW, aggregator_key=AGGREGATOR_KEY, stake_wei=STAKE,
            submission_window=SUBMISSION_WINDOW, sketch_window=SKETCH_WINDOW, publish_grace=PUBLISH_GRACE,
            rounds=1, min_trainers=2, max_trainers=4, strikes_to_slash=1,
        )
        values.update(overrides)
        return TaskConfig(**values)

    return _config


@pytest.fixture
def make_task(market: Marketplace, chain: EmbeddedChain, actors: Actors,
              task_config: Callable[..., TaskConfig]) -> Callable[..., TaskFlow]:
    """``make_task(reward=REWARD, owner=actors.owner, **config_overrides)`` → a posted task."""

    def _make(*, reward: int = REWARD, owner: LocalAccount | None = None, **overrides) -> TaskFlow:
        owner = owner or actors.owner
        config = task_config(**overrides)
        task_id, result = market.create_task(owner, config, reward)
        flow = TaskFlow(market=market, chain=chain, actors=actors, task_id=task_id, config=config,
                        reward=reward, owner=owner)
        flow.results.append(result)
        return flow

    return _make


@pytest.fixture
def drive(make_task: Callable[..., TaskFlow], actors: Actors) -> Callable[..., TaskFlow]:
    """``drive(state, trainers=2, scores=None, flags=(), rejections=(), **task_overrides)``.

    Takes a new task through ``created → joined → started → submitted → closed → committed →
    published → finalized`` and stops at ``state``. Steps after ``started`` act on round 0;
    every trainer submits and commits; ``published`` publishes round 0 with ``scores`` (default
    1 each), ``flags`` and ``rejections`` (slots)."""

    def _drive(state: str, *, trainers: int = 2, scores: Sequence[int] | None = None,
               flags: Iterable[int] = (), rejections: Iterable[int] = (), **overrides) -> TaskFlow:
        assert state in STATES, f"unknown state {state}"
        stop = STATES.index(state)
        overrides.setdefault("min_trainers", min(2, trainers) or 1)
        overrides.setdefault("max_trainers", max(4, trainers))
        flow = make_task(**overrides)
        if stop >= STATES.index("joined"):
            flow.join(actors.trainers[:trainers])
        if stop >= STATES.index("started"):
            flow.start()
        if stop >= STATES.index("submitted"):
            flow.submit(0)
        if stop >= STATES.index("closed"):
            flow.close(0)
        if stop >= STATES.index("committed"):
            flow.commit(0)
        if stop >= STATES.index("published"):
            flow.publish(0, scores=scores, flags=flags, rejections=rejections)
        if stop >= STATES.index("finalized"):
            for _ in range(1, flow.config.rounds):
                flow.run_round()
            flow.finalize()
        return flow

    return _drive


@pytest.fixture
def reverts(chain: EmbeddedChain) -> Callable[..., contextlib.AbstractContextManager]:
    """``with reverts("MarketplaceX", arg=value, ...) as info:`` — the body must raise
    :class:`ContractRevert` with that error name and those arguments, and mine nothing."""

    @contextlib.contextmanager
    def _reverts(name: str, **expected) -> Iterator[pytest.ExceptionInfo]:
        block = chain.block_number()
        with pytest.raises(ContractRevert) as info:
            yield info
        assert info.value.name == name, f"expected {name}, got {info.value.name}: {info.value}"
        for key, value in expected.items():
            assert key in info.value.args_by_name, f"{name} has no argument {key}: {info.value.args_by_name}"
            assert info.value.args_by_name[key] == value, (
                f"{name}.{key}: expected {value!r}, got {info.value.args_by_name[key]!r}")
        assert chain.block_number() == block, "a reverted call mined a block"

    return _reverts


# --- harness contracts -------------------------------------------------------------------
class Harness:
    """A deployed test-harness contract, called through the same signing path as the binding;
    reverts are decoded with the Marketplace's errors (they bubble up through the harness)."""

    def __init__(self, market: Marketplace, name: str, address: str) -> None:
        from market.artifacts import load_artifact

        self.market = market
        self.address = Web3.to_checksum_address(address)
        self.contract = market.web3.eth.contract(address=self.address, abi=load_artifact(name)["abi"])

    def transact(self, sender: LocalAccount, function: str, *args, value: int = 0) -> TxResult:
        call = getattr(self.contract.functions, function)(*args)

        def decode(exc: Exception, fn: str) -> Exception:
            return self.market.decoder.decode(revert_data(exc)) or TransactionFailed(f"{fn} reverted: {exc}")

        result = send_transaction(self.market.chain, sender, call, function, value=value, revert=decode)
        result.events = self.market.decode_events(result.receipt["logs"])
        return result

    def call(self, function: str, *args):
        return getattr(self.contract.functions, function)(*args).call()

    def balance(self) -> int:
        return int(self.market.web3.eth.get_balance(self.address))


@pytest.fixture
def reentrant_trainer(market: Marketplace, chain: EmbeddedChain, actors: Actors) -> Harness:
    """A ReentrantTrainer pointed at ``market`` (accepts ether, does not re-enter until configured)."""
    result = deploy_contract(chain, "ReentrantTrainer", actors.outsider, market.address)
    return Harness(market, "ReentrantTrainer", result.contract_address)


def assert_money_conserved(market: Marketplace, task_ids: Iterable[int]) -> None:
    """Contract balance == Σ held + totalCredits, to the wei."""
    held = sum(market.get_task(t).held_wei for t in task_ids)
    assert market.balance() == held + market.total_credits()


__all__ = [
    "Actors", "FIELD", "Harness", "MAX_CID_LENGTH", "MAX_ROUNDS", "MAX_SCORE", "MAX_TRAINERS", "PUBLISH_GRACE",
    "REWARD", "SKETCH_WINDOW", "STAKE", "SUBMISSION_WINDOW", "TaskFlow", "ZERO_ADDRESS", "actors_of",
    "assert_money_conserved", "bits", "commitment_of", "credits_by_kind", "digest_of", "event_names", "hash_proof",
    "mask", "settlement", "travel_past",
]

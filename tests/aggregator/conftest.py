"""A small task on the embedded chain for the aggregator service, audit and intake tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from aggregator.evaluation import make_evaluator, make_reference_trainer
from aggregator.service import AggregatorNode
from market.chain import EmbeddedChain
from market.encryption import EnvelopeContext, generate_private_key, public_key_bytes
from market.marketplace import Marketplace
from market.root_set import RootSet, seal_root_set
from market.storage import EmbeddedStorage
from market.task_spec import ReferenceSection, ScoringSection, TaskSpec
from market.types import TaskConfig
from trainers.attacks import AttackPlan
from trainers.data import digits_train_test
from trainers.models import build_model, model_to_bytes
from trainers.node import TrainerNode
from trainers.partition import partition_iid
from zk.protocol.actions import NodeAction

torch.set_num_threads(1)


@dataclass
class SmallTask:
    chain: EmbeddedChain
    market: Marketplace
    storage: EmbeddedStorage
    spec: TaskSpec
    key: object
    task_id: int
    owner: object
    aggregator_account: object
    trainers: list
    nodes: list
    state_dir: Path
    validation: object

    root: RootSet | None = None

    def aggregator(self, **kw) -> AggregatorNode:
        return AggregatorNode(market=self.market, storage=self.storage, account=self.aggregator_account,
                              encryption_key=self.key, task_id=self.task_id, state_dir=self.state_dir,
                              evaluate_factory=lambda s: make_evaluator(s, self.validation),
                              reference_factory=make_reference_trainer, **kw)

    def trainers_step(self, slots=None) -> list[NodeAction]:
        return [n.step() for i, n in enumerate(self.nodes) if slots is None or i in slots]

    def context(self, slot: int, round_: int = 0) -> EnvelopeContext:
        """The envelope context of trainer ``slot``'s submission in ``round_``."""
        return EnvelopeContext(chain_id=self.chain.chain_id, contract=self.market.address, task_id=self.task_id,
                               round=round_, trainer=self.trainers[slot].address)


def make_small_task(tmp_path: Path, *, n: int = 4, rounds: int = 2, attacks: dict[int, str] | None = None,
                    strikes: int = 1, stake: int = 10**16, initial_model: bool = True, reference: bool = False,
                    verifier: str | None = None) -> SmallTask:
    """``initial_model=False``: the spec names no initial model CID (round 0 starts from the
    seed-built model, which the aggregator must be given a way to build). ``reference``: the
    root-of-trust rule, with a root set of 10 per class of the test split (sealed to the
    aggregator); ``verifier``: the task's verifier (default: none, trusted aggregator)."""
    chain = EmbeddedChain(accounts=n + 2)
    accounts = chain.dev_accounts()
    owner, agg, trainers = accounts[0], accounts[1], accounts[2 : 2 + n]
    market = Marketplace.deploy(chain, owner)
    storage = EmbeddedStorage(tmp_path / "blocks")
    spec = TaskSpec.example_digits(epochs=2)
    spec = spec.model_copy(update={"training": spec.training.model_copy(update={"learning_rate": 0.3, "batch_size": 16})})
    if initial_model:
        spec = spec.with_initial_model(storage.put(model_to_bytes(build_model(spec.model))))
    key = generate_private_key()
    market.register_aggregator_key(agg, public_key_bytes(key))
    train, test = digits_train_test((64,))
    root = None
    if reference:
        root = RootSet.balanced_sample(test.X[200:], test.y[200:], per_class=10, num_classes=10, seed=0)
        envelope, _, digest = seal_root_set(root, public_key_bytes(key))
        section = ReferenceSection(root_set_cid=storage.put(envelope), root_set_digest=digest, per_class=10)
        spec = spec.model_copy(update={"scoring": ScoringSection(detector="reference", reference=section)})
    config = TaskConfig(spec_cid=storage.put(spec.to_json()), aggregator=agg.address,
                        aggregator_key=public_key_bytes(key), join_deadline=chain.timestamp() + 600, stake_wei=stake,
                        rounds=rounds, min_trainers=n, max_trainers=n, submission_window=300, sketch_window=300,
                        publish_grace=600, strikes_to_slash=strikes,
                        **({"verifier": verifier} if verifier else {}))
    task_id, _ = market.create_task(owner, config, 10**18)
    shares = partition_iid(train.y, n, seed=0)
    nodes = []
    for slot, account in enumerate(trainers):
        market.join(account, task_id)
        plan = AttackPlan.parse((attacks or {}).get(slot), seed=slot)
        nodes.append(TrainerNode(market=market, storage=storage, account=account, task_id=task_id,
                                 dataset=train.subset(shares[slot][:150]), state_dir=tmp_path / "trainers",
                                 device="cpu", attack=plan, seed=slot, progress=False))
    market.start(owner, task_id)
    return SmallTask(chain, market, storage, spec, key, task_id, owner, agg, trainers, nodes, tmp_path / "agg",
                     test.subset(range(200)), root)


@pytest.fixture
def small_task(tmp_path) -> SmallTask:
    return make_small_task(tmp_path)

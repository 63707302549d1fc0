"""The trainer loop on the embedded chain: submits once per round across restarts, commits the
sketch of what it submitted, and notices a missed window."""

from __future__ import annotations

import pytest

from market.chain import EmbeddedChain
from market.encryption import EnvelopeContext, decrypt, generate_private_key, public_key_bytes
from market.marketplace import Marketplace
from market.storage import EmbeddedStorage
from market.task_spec import TaskSpec
from market.types import TaskConfig
from market.update_package import load_update_package
from trainers.data import digits_train_test
from trainers.exceptions import TrainerError
from trainers.models import param_spec
from trainers.node import TrainerNode
from zk.protocol.actions import ActionKind, NodeAction
from zk.protocol.commitment import sketch_commitment
from zk.protocol.sketch import SketchParams, sketch_update


def _setup(tmp_path, *, public_key: bytes | None = None, initial_model: bytes | None = None):
    chain = EmbeddedChain()
    owner, aggregator, alice, bob = chain.dev_accounts()[:4]
    market = Marketplace.deploy(chain, owner)
    storage = EmbeddedStorage(tmp_path / "blocks")
    spec = TaskSpec.example_digits(epochs=1)
    if initial_model is not None:
        spec = spec.with_initial_model(storage.put(initial_model))
    key = generate_private_key()
    public_key = public_key or public_key_bytes(key)
    market.register_aggregator_key(aggregator, public_key)
    config = TaskConfig(spec_cid=storage.put(spec.to_json()), aggregator=aggregator.address,
                        aggregator_key=public_key, join_deadline=chain.timestamp() + 600, rounds=2,
                        min_trainers=2, submission_window=300, sketch_window=300, publish_grace=300)
    task_id, _ = market.create_task(owner, config, 10**18)
    for t in (alice, bob):
        market.join(t, task_id)
    market.start(owner, task_id)
    train, _test = digits_train_test((64,))
    return dict(chain=chain, market=market, storage=storage, spec=spec, key=key, task_id=task_id,
                owner=owner, aggregator=aggregator, alice=alice, bob=bob, data=train.subset(range(300)))


@pytest.fixture
def setup(tmp_path):
    return _setup(tmp_path)


def _node(s, tmp_path, account=None):
    return TrainerNode(market=s["market"], storage=s["storage"], account=account or s["alice"], task_id=s["task_id"],
                       dataset=s["data"], state_dir=tmp_path / "state", device="cpu", progress=False)


def test_trainer_restarted_after_submit_does_not_submit_twice(setup, tmp_path):
    s = setup
    # Execute: a first run submits, then "dies"; a second run over the same state takes over
    assert _node(s, tmp_path).step() == NodeAction(ActionKind.SUBMITTED, 0)
    second = _node(s, tmp_path)
    actions = [second.step() for _ in range(3)]

    # Assert: one submission on chain; the restarted node waits for the seed
    events = s["market"].events("UpdateSubmitted", taskId=s["task_id"])
    assert [e["args"]["trainer"] for e in events] == [s["alice"].address]
    assert actions == [NodeAction(ActionKind.WAITING, 0, "the seed")] * 3
    assert str(actions[0]) == "round 0: waiting for the seed"


def test_trainer_killed_between_packaging_and_submit_resubmits_the_same_envelope(setup, tmp_path):
    s = setup
    # Prepare: the first run trains and writes the envelope, then dies before storing or submitting
    first = _node(s, tmp_path)
    record = first._prepare(s["market"].get_task(s["task_id"]), 0)

    # Execute
    second = _node(s, tmp_path)
    assert second.step() == NodeAction(ActionKind.SUBMITTED, 0)

    # Assert: the digest on chain is the one packaged before the crash (no retraining)
    sub = s["market"].get_submission(s["task_id"], 0, s["alice"].address)
    assert sub.update_digest.hex() == record.digest
    assert s["storage"].get(sub.update_cid) == (first.dir / "round0.envelope").read_bytes()


def test_trainer_commits_the_sketch_of_what_it_submitted(setup, tmp_path):
    s = setup
    node = _node(s, tmp_path)
    node.step()
    _node(s, tmp_path, s["bob"]).step()
    s["market"].close_submissions(s["aggregator"], s["task_id"], 0)

    # Execute
    assert node.step() == NodeAction(ActionKind.COMMITTED, 0)

    # Assert: what the aggregator decrypts reproduces the commitment on chain
    sub = s["market"].get_submission(s["task_id"], 0, s["alice"].address)
    context = EnvelopeContext(chain_id=s["chain"].chain_id, contract=s["market"].address, task_id=s["task_id"],
                              round=0, trainer=s["alice"].address)
    package = load_update_package(decrypt(s["storage"].get(sub.update_cid), s["key"], context),
                                  param_spec(s["spec"].model))
    seed = s["market"].get_round(s["task_id"], 0).seed
    sketch = sketch_update(package.tensors, seed, SketchParams(k=s["spec"].scoring.sketch_k))
    salt = int.from_bytes(package.metadata.salt, "big")
    assert sketch_commitment(sketch, salt) == sub.sketch_commitment
    assert package.metadata.trainer == s["alice"].address and package.metadata.round == 0
    assert node.step() == NodeAction(ActionKind.WAITING, 0, "publication")


def test_trainer_that_wakes_after_the_deadline_marks_the_round_missed(setup, tmp_path):
    s = setup
    s["chain"].increase_time(301)
    node = _node(s, tmp_path)
    assert node.step() == NodeAction(ActionKind.MISSED, 0)
    assert s["market"].get_round(s["task_id"], 0).submissions == 0
    assert node.report().missed_rounds == [0]


def test_trainer_state_file_is_versioned_and_the_old_layout_still_loads(setup, tmp_path):
    import json

    from trainers.node import STATE_VERSION, RoundStage

    s = setup
    node = _node(s, tmp_path)
    node.step()
    saved = json.loads((node.dir / "state.json").read_text())
    assert saved["version"] == STATE_VERSION
    assert saved["rounds"]["0"]["stage"] == "submitted"

    # Execute: the unversioned layout (a "phase" string per round) written by older trainers
    old = {"task_id": s["task_id"], "address": s["alice"].address,
           "rounds": {"0": {**{k: v for k, v in saved["rounds"]["0"].items() if k != "stage"}, "phase": "committed"},
                      "1": {"round": 1, "phase": "missed"}}}
    (node.dir / "state.json").write_text(json.dumps(old))
    reloaded = _node(s, tmp_path)

    # Assert
    assert reloaded.rounds[0].stage is RoundStage.COMMITTED and reloaded.rounds[0].cid == saved["rounds"]["0"]["cid"]
    assert reloaded.rounds[1].stage is RoundStage.MISSED


def test_trainer_refuses_a_low_order_aggregator_key_before_training(tmp_path):
    # Prepare: a task whose aggregator registered a low-order X25519 point (every shared secret is zero)
    s = _setup(tmp_path, public_key=(1).to_bytes(32, "little"))
    node = _node(s, tmp_path)
    # Execute / Assert: a clear, typed error; nothing trained, written or submitted
    with pytest.raises(TrainerError, match="aggregator key is unusable: .*low-order"):
        node.step()
    assert not (node.dir / "round0.envelope").exists()
    assert s["market"].get_round(s["task_id"], 0).submissions == 0


def test_trainer_stops_with_a_clear_error_on_a_global_model_over_its_bound(tmp_path):
    # Prepare: the spec's initial model CID names 2 MiB (the bound: the model's tensors + 1 MiB of header)
    s = _setup(tmp_path, initial_model=b"\0" * (2 << 20))
    node = _node(s, tmp_path)
    # Execute / Assert
    with pytest.raises(TrainerError, match="round 0: the global model cannot be read: .*over the limit"):
        node.step()

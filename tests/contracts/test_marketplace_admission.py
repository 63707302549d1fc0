"""Who may post what and who may join (issue 12, findings 1, 5, 6, 7, 8): the aggregator's key is the
one it registered, the verifier is one the registrar approved and big enough, windows and deadlines
are bounded, a trainer may leave a task that has not started, and an allowlist-only task admits
only the accounts its owner allowed. Each attack of the security review is performed here."""

from __future__ import annotations

from market.marketplace import deploy_contract
from market.types import CreditKind, TaskState
from tests.contracts.conftest import AGGREGATOR_KEY, REWARD, STAKE, credits_by_kind

MAX_WINDOW = 30 * 24 * 3600
MAX_JOIN_PERIOD = 365 * 24 * 3600


# --- the aggregator's key (finding 1) ----------------------------------------------------------
def test_admission_owner_cannot_substitute_the_aggregators_key(market, actors, task_config, reverts):
    # Prepare: the owner names the aggregator but hands trainers an X25519 key of its own
    owners_key = b"\x07" * 32
    config = task_config(aggregator_key=owners_key)

    # Execute / Assert: refused, naming the key the aggregator registered
    with reverts("MarketplaceAggregatorKeyNotRegistered", aggregator=actors.aggregator.address, key=owners_key,
                 registered=AGGREGATOR_KEY):
        market.create_task(actors.owner, config, REWARD)


def test_admission_an_aggregator_without_a_key_cannot_be_named(market, actors, task_config, reverts):
    config = task_config(aggregator=actors.other_owner.address)
    with reverts("MarketplaceAggregatorKeyNotRegistered", registered=b"\x00" * 32):
        market.create_task(actors.owner, config, REWARD)


def test_admission_register_key_records_and_emits(market, actors):
    result = market.register_aggregator_key(actors.other_owner, b"\x09" * 32)
    assert market.aggregator_key_of(actors.other_owner.address) == b"\x09" * 32
    assert [e["event"] for e in result.events] == ["AggregatorKeyRegistered"]
    assert result.events[0]["args"]["aggregator"] == actors.other_owner.address


def test_admission_a_zero_key_cannot_be_registered(market, actors, reverts):
    with reverts("MarketplaceInvalidAggregatorKey"):
        market.register_aggregator_key(actors.other_owner, b"\x00" * 32)


def test_admission_a_replaced_key_leaves_posted_tasks_their_key(market, actors, make_task):
    flow = make_task()
    market.register_aggregator_key(actors.aggregator, b"\x11" * 32)
    assert market.get_task(flow.task_id).config.aggregator_key == AGGREGATOR_KEY
    market.register_aggregator_key(actors.aggregator, AGGREGATOR_KEY)  # (the snapshot reverts it anyway)


# --- the verifier registry (findings 5, 6) -----------------------------------------------------
def test_admission_an_unapproved_verifier_is_refused(market, chain, actors, task_config, reverts):
    # Prepare: an owner deploys its own accept-anything verifier (here: an unapproved HashCheckVerifier)
    rogue = deploy_contract(chain, "HashCheckVerifier", actors.other_owner).contract_address

    # Execute / Assert
    with reverts("MarketplaceVerifierNotApproved", verifier=rogue):
        market.create_task(actors.owner, task_config(verifier=rogue), REWARD)


def test_admission_only_the_registrar_approves(market, chain, actors, reverts):
    verifier = deploy_contract(chain, "HashCheckVerifier", actors.other_owner).contract_address
    assert market.registrar() == actors.owner.address
    with reverts("MarketplaceUnauthorized", caller=actors.other_owner.address):
        market.approve_verifier(actors.other_owner, verifier)


def test_admission_approval_records_code_hash_and_slots(market, chain, actors):
    verifier = deploy_contract(chain, "FourSlotHashCheckVerifier", actors.owner).contract_address
    result = market.approve_verifier(actors.owner, verifier)
    info = market.verifier_info(verifier)
    assert info.approved and info.slots == 4
    assert info.code_hash == bytes(chain.web3.keccak(chain.web3.eth.get_code(verifier)))
    assert result.events[0]["event"] == "VerifierApproved" and result.events[0]["args"]["slots"] == 4


def test_admission_approving_twice_reverts(market, actors, hash_verifier, reverts):
    with reverts("MarketplaceVerifierAlreadyApproved", verifier=hash_verifier):
        market.approve_verifier(actors.owner, hash_verifier)


def test_admission_a_contract_without_slots_cannot_be_approved(market, reentrant_trainer, actors, reverts):
    with reverts("MarketplaceInvalidVerifier", verifier=reentrant_trainer.address):
        market.approve_verifier(actors.owner, reentrant_trainer.address)


def test_admission_an_account_without_code_cannot_be_approved(market, actors, reverts):
    with reverts("MarketplaceInvalidVerifier", verifier=actors.outsider.address):
        market.approve_verifier(actors.owner, actors.outsider.address)


def test_admission_more_trainers_than_the_circuit_has_slots_is_refused(market, chain, actors, task_config, reverts):
    # Prepare: an approved verifier whose circuit has 4 slots
    verifier = deploy_contract(chain, "FourSlotHashCheckVerifier", actors.owner).contract_address
    market.approve_verifier(actors.owner, verifier)

    # Execute / Assert: 5 trainers could never be proven; 4 are fine
    with reverts("MarketplaceVerifierTooSmall", verifier=verifier, slots=4, maxTrainers=5):
        market.create_task(actors.owner, task_config(verifier=verifier, max_trainers=5), REWARD)
    task_id, _ = market.create_task(actors.owner, task_config(verifier=verifier, max_trainers=4), REWARD)
    assert market.get_task(task_id).config.verifier == verifier


# --- bounds (finding 7) ------------------------------------------------------------------------
def test_admission_a_join_deadline_too_far_ahead_is_refused(market, chain, actors, task_config, reverts):
    deadline = 2**63
    with reverts("MarketplaceInvalidJoinDeadline", joinDeadline=deadline):
        market.create_task(actors.owner, task_config(join_deadline=deadline), REWARD)
    ok = chain.timestamp() + MAX_JOIN_PERIOD - 60
    task_id, _ = market.create_task(actors.owner, task_config(join_deadline=ok), REWARD)
    assert market.get_task(task_id).config.join_deadline == ok


def test_admission_windows_longer_than_the_limit_are_refused(market, actors, task_config, reverts):
    for field in ("submission_window", "sketch_window", "publish_grace", "contest_window"):
        with reverts("MarketplaceWindowTooLong", window=2**32 - 1, maxWindow=MAX_WINDOW):
            market.create_task(actors.owner, task_config(**{field: 2**32 - 1}), REWARD)
    task_id, _ = market.create_task(actors.owner, task_config(submission_window=MAX_WINDOW), REWARD)
    assert market.get_task(task_id).config.submission_window == MAX_WINDOW


# --- leaving an open task (finding 7) ----------------------------------------------------------
def test_admission_a_trainer_leaves_an_open_task_with_its_stake(market, actors, make_task):
    # Prepare: three trainers joined a task that never starts
    flow = make_task(min_trainers=3)
    a, b, c = actors.trainers[:3]
    flow.join([a, b, c])
    held = market.get_task(flow.task_id).held_wei

    # Execute: the first leaves
    result = market.leave(a, flow.task_id)

    # Assert: stake credited back, the last trainer moved into slot 0, the task holds one stake less
    assert credits_by_kind(result) == [(a.address, STAKE, CreditKind.STAKE_RETURNED)]
    left = [e for e in result.events if e["event"] == "TrainerLeft"][0]["args"]
    assert (left["trainer"], left["slot"], left["movedTrainer"]) == (a.address, 0, c.address)
    assert market.get_trainers(flow.task_id) == [c.address, b.address]
    assert market.get_trainer(flow.task_id, c.address).slot == 0
    assert not market.get_trainer(flow.task_id, a.address).joined
    assert market.get_task(flow.task_id).held_wei == held - STAKE
    assert market.credit_of(a.address) == STAKE


def test_admission_the_last_trainer_leaves(market, actors, make_task):
    flow = make_task()
    flow.join(actors.trainers[:2])
    market.leave(actors.trainers[1], flow.task_id)
    assert market.get_trainers(flow.task_id) == [actors.trainers[0].address]


def test_admission_leave_needs_a_joined_trainer(market, actors, make_task, reverts):
    flow = make_task()
    with reverts("MarketplaceNotTrainer", account=actors.outsider.address):
        market.leave(actors.outsider, flow.task_id)


def test_admission_no_leaving_once_training_started(market, actors, drive, reverts):
    flow = drive("started")
    with reverts("MarketplaceWrongState", state=TaskState.TRAINING, required=TaskState.OPEN):
        market.leave(flow.trainers[0], flow.task_id)


# --- allowlist (finding 8) ---------------------------------------------------------------------
def test_admission_an_allowlist_task_admits_only_allowed_accounts(market, actors, make_task, reverts):
    # Prepare: a sybil farm of fresh accounts tries to join an allowlist-only task
    flow = make_task(allowlist_only=True)
    allowed, sybil = actors.trainers[0], actors.trainers[1]
    result = market.allow_trainers(actors.owner, flow.task_id, [allowed.address])

    # Execute / Assert
    assert [e["event"] for e in result.events] == ["TrainerAllowed"]
    with reverts("MarketplaceNotAllowed", account=sybil.address):
        market.join(sybil, flow.task_id, STAKE)
    market.join(allowed, flow.task_id, STAKE)
    assert market.is_allowed(flow.task_id, allowed.address) and not market.is_allowed(flow.task_id, sybil.address)


def test_admission_an_open_task_admits_anyone(market, actors, make_task):
    flow = make_task()
    assert market.is_allowed(flow.task_id, actors.outsider.address)


def test_admission_only_the_owner_allows(market, actors, make_task, reverts):
    flow = make_task(allowlist_only=True)
    with reverts("MarketplaceUnauthorized", caller=actors.outsider.address):
        market.allow_trainers(actors.outsider, flow.task_id, [actors.outsider.address])


def test_admission_no_allowing_once_started(market, actors, drive, reverts):
    flow = drive("started")
    with reverts("MarketplaceWrongState"):
        market.allow_trainers(actors.owner, flow.task_id, [actors.outsider.address])

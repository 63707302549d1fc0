"""Marketplace.closeSubmissions: when a round's submissions close, and the seed it fixes."""

from __future__ import annotations

from tests.contracts.conftest import FIELD, PUBLISH_GRACE, SKETCH_WINDOW, event_names


def test_close_submissions_after_deadline_fixes_seed_and_windows(drive, market, actors):
    # Prepare: one of two trainers submitted; the deadline passes
    flow = drive("started")
    flow.submit(0, flow.trainers[:1])
    flow.pass_submission_deadline()

    # Execute
    result = market.close_submissions(actors.outsider, flow.task_id, 0)

    # Assert
    block_time = market.web3.eth.get_block(result.block_number)["timestamp"]
    info = flow.round(0)
    assert info.closed
    assert 0 < info.seed < FIELD
    assert info.sketch_deadline == block_time + SKETCH_WINDOW
    assert info.publish_deadline == block_time + SKETCH_WINDOW + PUBLISH_GRACE
    assert event_names(result) == ["SubmissionsClosed"]
    assert result.event("SubmissionsClosed") == {
        "taskId": flow.task_id, "round": 0, "seed": info.seed, "sketchDeadline": info.sketch_deadline,
        "publishDeadline": info.publish_deadline,
    }


def test_close_submissions_early_by_anyone_once_everyone_submitted(drive, market, actors):
    # Prepare
    flow = drive("submitted")
    assert market.chain.timestamp() < flow.round(0).submission_deadline

    # Execute
    market.close_submissions(actors.outsider, flow.task_id, 0)

    # Assert
    assert flow.round(0).closed


def test_close_submissions_reverts_before_deadline_unless_all_submitted(drive, market, actors, reverts):
    # Prepare
    flow = drive("started", trainers=3)
    flow.submit(0, flow.trainers[:2])
    deadline = flow.round(0).submission_deadline

    # Execute / Assert: even the aggregator cannot cut the window short
    for caller in (actors.outsider, actors.aggregator, actors.owner):
        with reverts("MarketplaceSubmissionsStillOpen", taskId=flow.task_id, round=0, deadline=deadline):
            market.close_submissions(caller, flow.task_id, 0)
    assert not flow.round(0).closed


def test_close_submissions_reverts_when_already_closed(drive, market, actors, reverts):
    # Prepare
    flow = drive("closed")
    seed = flow.round(0).seed

    # Execute / Assert
    with reverts("MarketplaceSubmissionsAlreadyClosed", taskId=flow.task_id, round=0):
        market.close_submissions(actors.outsider, flow.task_id, 0)
    assert flow.round(0).seed == seed


def test_close_submissions_reverts_for_other_round(drive, market, actors, reverts):
    flow = drive("submitted", rounds=2)
    with reverts("MarketplaceWrongRound", round=1, currentRound=0):
        market.close_submissions(actors.outsider, flow.task_id, 1)


def test_close_submissions_with_no_submission_after_deadline(drive, market, actors):
    # Prepare
    flow = drive("started")
    flow.pass_submission_deadline()

    # Execute
    market.close_submissions(actors.outsider, flow.task_id, 0)

    # Assert
    info = flow.round(0)
    assert info.closed and info.submissions == 0


def _seed_predictor(market, chain, actors, flow):
    from market.marketplace import deploy_contract
    from tests.contracts.conftest import STAKE, Harness

    deployed = deploy_contract(chain, "SeedPredictor", actors.outsider, market.address)
    harness = Harness(market, "SeedPredictor", deployed.contract_address)
    harness.transact(actors.outsider, "joinTask", flow.task_id, value=STAKE)
    return harness


def test_close_submissions_refused_in_the_block_of_the_last_submission(drive, market, chain, actors, reverts):
    # Prepare: the last trainer is a contract that predicts the seed of a close in its own block
    # (review finding 3: it then shapes its update for that seed and closes at once)
    flow = drive("joined", trainers=1)
    attacker = _seed_predictor(market, chain, actors, flow)
    flow.start()
    flow.submit(0)

    # Execute / Assert: submit + close in one transaction is refused; nothing was recorded
    with reverts("MarketplaceCloseTooEarly", taskId=flow.task_id, round=0):
        attacker.transact(actors.outsider, "submitAndClose", flow.task_id, 0, "bafy-attack", b"\x66" * 32)
    assert flow.round(0).submissions == 1


def test_close_submissions_seed_is_not_the_one_the_last_submitter_could_predict(drive, market, chain, actors):
    # Prepare: the attacker submits last, predicting in that block
    flow = drive("joined", trainers=1)
    attacker = _seed_predictor(market, chain, actors, flow)
    flow.start()
    flow.submit(0)
    attacker.transact(actors.outsider, "submit", flow.task_id, 0, "bafy-attack", b"\x66" * 32)
    predicted_then = attacker.call("predictSeed", flow.task_id, 0)

    # Execute: anyone closes in a later block
    market.close_submissions(actors.outsider, flow.task_id, 0)

    # Assert: the seed comes from the block holding the last submission, unknown when it was sent
    assert flow.round(0).closed
    assert flow.round(0).seed != predicted_then

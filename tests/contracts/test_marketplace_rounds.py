"""Round life across a task: seeds, round opening, the effective publish deadline."""

from __future__ import annotations

from tests.contracts.conftest import FIELD, PUBLISH_GRACE, SKETCH_WINDOW, SUBMISSION_WINDOW


def test_rounds_seed_differs_between_rounds_and_is_a_field_element(drive, market):
    # Prepare / Execute: three rounds run to the end
    flow = drive("published", trainers=2, rounds=3)
    flow.run_round()
    flow.run_round()

    # Assert
    seeds = [flow.round(r).seed for r in range(3)]
    assert len(set(seeds)) == 3
    assert all(0 < s < FIELD for s in seeds)


def test_rounds_seed_differs_between_tasks_in_the_same_round(drive):
    first = drive("closed")
    second = drive("closed")
    assert first.round(0).seed != second.round(0).seed


def test_rounds_next_round_opens_only_after_publication(drive, market):
    # Prepare
    flow = drive("committed", rounds=2)
    assert flow.round(1).submission_deadline == 0
    assert flow.round(1).publish_deadline == 0  # a round that never opened has no deadline

    # Execute
    result = flow.publish(0)

    # Assert
    block_time = market.web3.eth.get_block(result.block_number)["timestamp"]
    opened = flow.round(1)
    assert opened.submission_deadline == block_time + SUBMISSION_WINDOW
    assert opened.publish_deadline == block_time + SUBMISSION_WINDOW + SKETCH_WINDOW + PUBLISH_GRACE
    assert not opened.closed and opened.submissions == 0
    assert flow.task().current_round == 1


def test_rounds_trainers_can_submit_in_the_next_round(drive, market):
    # Prepare
    flow = drive("published", rounds=2)

    # Execute
    flow.submit(1)

    # Assert
    assert flow.round(1).submissions == 2
    assert market.get_submission(flow.task_id, 1, flow.trainers[0].address).update_cid == \
        flow.update_cid(1, flow.trainers[0])
    assert market.get_submission(flow.task_id, 0, flow.trainers[0].address).update_cid == \
        flow.update_cid(0, flow.trainers[0])


def test_rounds_current_round_equals_rounds_after_last_publication(drive):
    flow = drive("published", rounds=2)
    flow.run_round()
    task = flow.task()
    assert (task.current_round, task.published_rounds) == (2, 2)

"""Key substitution at the service (issue 12, finding 1): a task whose ``aggregatorKey`` is not the
public key of the node's private key is refused, logged, and never served, so no trainer's
submission is judged (no rejection, no strike) under a key the aggregator does not hold."""

from __future__ import annotations

import pytest

from aggregator.service import AggregatorKeyMismatch
from market.encryption import generate_private_key, public_key_bytes
from tests.aggregator.conftest import make_small_task


def test_service_refuses_a_task_posted_with_another_key_and_strikes_nobody(tmp_path):
    # Prepare: the task names a key whose private half the node does not hold (an owner's, or a
    # key registered before the node's key was rotated); every trainer submits to it
    task = make_small_task(tmp_path, rounds=1)
    logged: list[str] = []
    node = task.aggregator(log=logged.append)
    node.key = generate_private_key()
    task.trainers_step()

    # Execute: the node is asked to work before and after the deadlines
    with pytest.raises(AggregatorKeyMismatch, match="refusing to serve it"):
        node.step()
    task.chain.increase_time(301)
    with pytest.raises(AggregatorKeyMismatch):
        node.step()

    # Assert: nothing done for the task on chain, a clear log line, no strike for anyone
    m = task.market
    assert m.events("SubmissionsClosed", taskId=task.task_id) == []
    assert m.events("RoundPublished", taskId=task.task_id) == []
    assert any(f"0x{public_key_bytes(node.key).hex()}" in line and "refusing" in line for line in logged)
    assert all(m.get_trainer(task.task_id, t.address).strikes == 0 for t in task.trainers)
    assert node.state.rounds == {}

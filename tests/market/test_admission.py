"""What a trainer is told before it joins: the verifier's standing (trusted, approved with its
slots and code hash), a key the aggregator has since replaced, and an allowlist it is not on."""

from __future__ import annotations

import pytest

from market.admission import Standing, check_before_join, verifier_standing
from market.chain.embedded import EmbeddedChain
from market.exceptions import MarketValueError
from market.marketplace import Marketplace, deploy_contract
from market.types import TaskConfig

KEY, NEW_KEY = b"\x42" * 32, b"\x43" * 32


@pytest.fixture(scope="module")
def world():
    chain = EmbeddedChain()
    owner, agg, alice, bob = chain.dev_accounts()[:4]
    market = Marketplace.deploy(chain, owner)
    verifier = deploy_contract(chain, "HashCheckVerifier", owner).contract_address
    market.approve_verifier(owner, verifier)
    market.register_aggregator_key(agg, KEY)

    def post(**kw) -> int:
        config = TaskConfig(spec_cid="bafyspec", aggregator=agg.address, aggregator_key=KEY,
                            join_deadline=chain.timestamp() + 3600, **kw)
        return market.create_task(owner, config, 10**15)[0]

    return market, post, verifier, owner, agg, alice, bob


def test_a_trusted_task_joins_with_a_warning(world):
    market, post, _, _, _, alice, _ = world
    task = market.get_task(post())
    standing = verifier_standing(market, task)
    assert standing.standing is Standing.TRUSTED and not standing.standing.unsafe
    assert check_before_join(market, task, alice.address) == [standing.text]


def test_an_approved_verifier_shows_its_slots_and_unchanged_code(world):
    market, post, verifier, _, _, alice, _ = world
    task = market.get_task(post(verifier=verifier))
    standing = verifier_standing(market, task)
    assert standing.standing is Standing.APPROVED
    assert "64 slots" in str(standing) and "code unchanged" in str(standing)
    assert check_before_join(market, task, alice.address) == []


def test_an_allowlist_refuses_the_others_and_a_replaced_key_is_a_warning(world):
    market, post, verifier, owner, agg, alice, bob = world
    task_id = post(verifier=verifier, allowlist_only=True)
    market.allow_trainers(owner, task_id, [alice.address])
    market.register_aggregator_key(agg, NEW_KEY)  # the task keeps the key it was posted with
    task = market.get_task(task_id)
    try:
        warnings = check_before_join(market, task, alice.address)
        with pytest.raises(MarketValueError, match="admits only accounts its owner allowed"):
            check_before_join(market, task, bob.address)
    finally:
        market.register_aggregator_key(agg, KEY)
    assert len(warnings) == 1 and "has since registered another key" in warnings[0]

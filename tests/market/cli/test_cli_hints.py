"""Reverts apart from their CLI hints: the core's message states the problem; the ``market``
command adds the flag or command that fixes it (market/cli/hints.py)."""

from __future__ import annotations

import click
from click.testing import CliRunner
from eth_abi import encode
from eth_utils import keccak

from market.artifacts import load_artifact
from market.cli.app import MarketGroup
from market.cli.hints import HINTS, cli_message
from market.exceptions import ChainError, ContractError, ContractRevert, MarketError
from market.reverts import RevertDecoder

REQUIRED = 10**16


def _wrong_stake() -> ContractRevert:
    data = keccak(text="MarketplaceWrongStake(uint256,uint256,uint256)")[:4] + encode(
        ["uint256", "uint256", "uint256"], [7, 5, REQUIRED])
    revert = RevertDecoder(load_artifact("Marketplace")["abi"]).decode(data)
    assert revert is not None
    return revert


def test_contract_revert_is_a_contract_error_not_a_transport_error():
    revert = _wrong_stake()
    assert isinstance(revert, ContractError) and isinstance(revert, MarketError)
    assert not isinstance(revert, ChainError)
    assert revert.exit_code == 5 and revert.name == "MarketplaceWrongStake"
    assert revert.args_by_name == {"taskId": 7, "sent": 5, "required": REQUIRED}


def test_revert_message_names_no_cli_flag():
    message = str(_wrong_stake())
    assert message == "task 7 takes a stake of exactly 0.01 ETH (10000000000000000 wei); 5 wei was sent"
    assert "--" not in message


def test_cli_message_adds_the_hint_formatted_with_the_revert_arguments():
    assert cli_message(_wrong_stake()) == (
        "task 7 takes a stake of exactly 0.01 ETH (10000000000000000 wei); 5 wei was sent: "
        "join with --stake 10000000000000000wei")
    assert cli_message(ChainError("no chain answers")) == "no chain answers"
    unhinted = ContractRevert("MarketplaceAlreadyJoined", {}, "already joined")
    assert "MarketplaceAlreadyJoined" not in HINTS and cli_message(unhinted) == "already joined"


def test_every_hint_names_a_marketplace_error():
    names = {e["name"] for e in load_artifact("Marketplace")["abi"] if e["type"] == "error"}
    assert set(HINTS) <= names


def test_market_group_prints_the_revert_with_its_hint_and_exit_code():
    # Prepare: a command of the market group that hits the revert
    @click.group(cls=MarketGroup)
    def group() -> None:
        """A group as `market` is."""

    @group.command()
    def join() -> None:
        raise _wrong_stake()

    # Execute
    result = CliRunner().invoke(group, ["join"])

    # Assert
    assert result.exit_code == 5
    assert "was sent: join with --stake 10000000000000000wei" in result.output
    assert "Traceback" not in result.output

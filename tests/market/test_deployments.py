"""The deployment file (:mod:`market.deployments`): addresses per chain; a new Marketplace starts
its chain's entry afresh (its predecessor's verifiers are not approved by it)."""

from __future__ import annotations

import pytest

from market.deployments import Deployments
from market.exceptions import DeploymentNotFound


def test_a_new_marketplace_forgets_the_previous_verifiers_of_its_chain_only(tmp_path):
    # Prepare: chain 1 with a Marketplace and a 4-slot verifier, chain 2 with its own
    book = Deployments(tmp_path / "deployments.json")
    book.record(1, "Marketplace", "0xOld", block=1, deployer="0xD")
    book.record(1, "RoundVerifier4x32", "0xV4", block=1, deployer="0xD")
    book.record(2, "Marketplace", "0xOther", block=5, deployer="0xD")
    # Execute: a new Marketplace on chain 1
    book.record(1, "Marketplace", "0xNew", block=9, deployer="0xD", fresh=True)
    # Assert
    assert book.entry(1) == {"Marketplace": "0xNew"} and book.start_block(1) == 9
    assert book.address(2) == "0xOther"
    with pytest.raises(DeploymentNotFound, match="no RoundVerifier4x32 recorded for chain 1"):
        book.address(1, "RoundVerifier4x32")

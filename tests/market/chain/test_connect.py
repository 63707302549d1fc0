"""market.chain.connect and RpcChain: picking a backend, and a node that is not there."""

from __future__ import annotations

import pytest

from market.chain import EmbeddedChain, RpcChain, connect, dev_accounts
from market.chain.nodes import ANVIL_CHAIN_ID, free_port, rpc_ready
from market.exceptions import ChainConnectionError, ChainError


@pytest.mark.parametrize("url", [None, "embedded"])
def test_connect_without_url_gives_embedded_chain(url):
    # Execute
    chain = connect(url)

    # Assert
    assert isinstance(chain, EmbeddedChain)
    assert [a.address for a in chain.dev_accounts()] == [a.address for a in dev_accounts()]


def test_connect_url_gives_rpc_chain_with_dev_accounts_only_when_asked(anvil_node):
    # Execute
    dev = connect(anvil_node.url, dev=True)
    remote = connect(anvil_node.url)

    # Assert
    assert isinstance(dev, RpcChain) and isinstance(remote, RpcChain)
    assert dev.chain_id == remote.chain_id == ANVIL_CHAIN_ID
    assert [a.address for a in dev.dev_accounts()] == [a.address for a in dev_accounts()]
    assert remote.dev_accounts() == []
    assert anvil_node.url in dev.describe()


def test_rpc_chain_raises_connection_error_when_no_node_answers():
    # Prepare
    url = f"http://127.0.0.1:{free_port()}"
    assert not rpc_ready(url)

    # Execute / Assert
    with pytest.raises(ChainConnectionError) as info:
        RpcChain(url, timeout=2)
    assert url in str(info.value)
    assert "market chain up" in str(info.value)
    assert isinstance(info.value, ConnectionError) and isinstance(info.value, ChainError)


def test_serialized_lock_is_reentrant(embedded_chain):
    # Execute: nested use from one thread must not deadlock
    with embedded_chain.serialized():
        with embedded_chain.serialized():
            block = embedded_chain.block_number()

    # Assert
    assert block >= 0

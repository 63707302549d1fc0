"""A chain reached over JSON-RPC: anvil, ganache or any Ethereum node."""

from __future__ import annotations

from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint, RPCResponse

from market.chain.base import ChainBackend
from market.exceptions import ChainConnectionError, ChainError


class _HTTPProvider(HTTPProvider):
    """web3's HTTP provider whose transport failures (refused connection, timeout, a node that
    stopped mid-reply) are :class:`ChainConnectionError`, the :class:`ChainError` the nodes'
    loops retry, instead of a ``requests`` exception that would end them."""

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        try:
            return super().make_request(method, params)
        except (requests.RequestException, OSError) as exc:
            raise ChainConnectionError(
                f"the chain at {self.endpoint_uri} did not answer {method} ({type(exc).__name__}: {exc})") from exc


class RpcChain(ChainBackend):
    """A JSON-RPC node at ``url``. ``accounts`` are the funded keys known for it (a local dev
    node's), empty for a remote chain."""

    name = "rpc"

    def __init__(self, url: str, *, accounts: list[LocalAccount] | None = None, timeout: float = 30.0) -> None:
        super().__init__()
        self.url = url
        self._web3 = Web3(_HTTPProvider(url, request_kwargs={"timeout": timeout}))
        self._accounts = list(accounts or [])
        try:
            self._chain_id = int(self._web3.eth.chain_id)
        except Exception as exc:  # requests' ConnectionError, timeouts, bad replies
            raise ChainConnectionError(
                f"no chain answers at {url} ({type(exc).__name__}): start one with `market chain up` or pass --rpc-url"
            ) from exc

    @property
    def web3(self) -> Web3:
        return self._web3

    @property
    def chain_id(self) -> int:
        return self._chain_id

    def dev_accounts(self) -> list[LocalAccount]:
        return list(self._accounts)

    def now(self) -> int:
        """The pending block's timestamp (anvil: the wall clock plus any ``increase_time``; a node
        without one answers latest's), never before the latest block's: on a chain that mines
        only when a transaction comes, deadlines arrive although no block does."""
        pending = int(self._web3.eth.get_block("pending")["timestamp"])
        return max(pending, self.timestamp())

    def increase_time(self, seconds: int) -> None:
        try:
            self._web3.provider.make_request(RPCEndpoint("evm_increaseTime"), [int(seconds)])
            self._web3.provider.make_request(RPCEndpoint("evm_mine"), [])
        except Exception as exc:
            raise ChainError(f"{self.url} does not let the clock be moved (evm_increaseTime): {exc}") from exc

    def describe(self) -> str:
        return f"{self.url} (chain id {self.chain_id})"

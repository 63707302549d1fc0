"""The chain a market talks to, behind one base class.

Two backends pass the same conformance suite (``tests/market/chain/test_backends.py``):
:class:`~market.chain.embedded.EmbeddedChain`, an in-process eth-tester/py-evm chain for the
demo and the tests, and :class:`~market.chain.rpc.RpcChain`, any JSON-RPC node (anvil, ganache,
a testnet). Both expose a :class:`web3.Web3`, the funded development accounts they know of, and
the clock controls tests and the demo need.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""The well-known development mnemonic anvil uses; the embedded chain and ganache use it too,
so development accounts are the same on every local backend. Never hold real funds with it."""
DEV_ACCOUNT_COUNT = 10


def dev_accounts(count: int = DEV_ACCOUNT_COUNT) -> list[LocalAccount]:
    """The development accounts derived from :data:`DEV_MNEMONIC` (m/44'/60'/0'/0/i)."""
    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)]


class ChainBackend(ABC):
    """A connection to one chain."""

    name: str = "chain"
    simulation_block: str | None = "pending"
    """The block estimates and dry runs are judged on: the pending one, where the transaction will
    run (on "latest" a node reports latest's number, and ``closeSubmissions`` refuses the block of
    the last submission). None: the node's default (eth-tester already simulates on its pending block)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    @property
    @abstractmethod
    def web3(self) -> Web3:
        """The connected :class:`Web3` instance."""

    @property
    def chain_id(self) -> int:
        return int(self.web3.eth.chain_id)

    @abstractmethod
    def dev_accounts(self) -> list[LocalAccount]:
        """Funded accounts whose keys this backend knows (empty for a remote node)."""

    @abstractmethod
    def increase_time(self, seconds: int) -> None:
        """Move the chain's clock forward by ``seconds`` and mine a block (local chains only)."""

    def timestamp(self) -> int:
        """Timestamp of the latest block."""
        return int(self.web3.eth.get_block("latest")["timestamp"])

    def now(self) -> int:
        """The time a transaction sent now runs at, as near as the backend can tell: what deadlines
        are judged by (:func:`zk.protocol.phase.observe_phase`). By default the latest block's
        timestamp (a chain whose clock moves only by its blocks); :class:`~market.chain.rpc.RpcChain`
        reads the pending block, whose time moves on while no block is mined."""
        return self.timestamp()

    def block_number(self) -> int:
        return int(self.web3.eth.block_number)

    @contextlib.contextmanager
    def serialized(self) -> Iterator[None]:
        """Holds a lock around a send-and-wait, for backends that are not thread-safe."""
        with self._lock:
            yield

    def close(self) -> None:
        """Release what the backend holds (nothing by default)."""

    def __enter__(self) -> "ChainBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.name} (chain id {self.chain_id})"

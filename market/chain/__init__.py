"""Chain backends: embedded (eth-tester/py-evm) or any JSON-RPC node, and local node processes."""

from __future__ import annotations

from market.chain.base import DEV_MNEMONIC, ChainBackend, dev_accounts
from market.chain.embedded import EmbeddedChain
from market.chain.rpc import RpcChain

__all__ = ["DEV_MNEMONIC", "ChainBackend", "EmbeddedChain", "RpcChain", "dev_accounts", "connect"]


def connect(url: str | None, *, dev: bool = False) -> ChainBackend:
    """``"embedded"`` or ``None`` with nothing else → the in-process chain; a URL → :class:`RpcChain`.
    ``dev`` marks the node as a local development node whose accounts use :data:`DEV_MNEMONIC`."""
    if url is None or url == "embedded":
        return EmbeddedChain()
    return RpcChain(url, accounts=dev_accounts() if dev else None)

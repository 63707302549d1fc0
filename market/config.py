"""Configuration shared by the CLI and the library: where the market keeps its files, which
chain and which storage backend it talks to.

Every field can come from an environment variable, so scripts and tests can point the CLI
elsewhere without flags:

=====================  ==========================================  ===========================
variable               meaning                                     default
=====================  ==========================================  ===========================
``MARKET_HOME``        folder for wallets, deployments, node state  ``~/.market``
``MARKET_RPC_URL``     JSON-RPC URL of the chain                   the anvil of ``chain up``
``MARKET_STORAGE``     ``embedded`` or ``kubo``                    ``embedded``
``MARKET_IPFS_API``    kubo RPC API URL (with ``kubo``)            ``http://127.0.0.1:5001``
=====================  ==========================================  ===========================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ANVIL_PORT = 8545
DEFAULT_IPFS_API = "http://127.0.0.1:5001"


def _home_from_env() -> Path:
    return Path(os.environ.get("MARKET_HOME", Path.home() / ".market")).expanduser()


@dataclass(frozen=True)
class MarketConfig:
    """Where the market keeps its files and what it talks to."""

    home: Path = field(default_factory=_home_from_env)
    """Folder for keystores, the deployment file, anvil's state and the embedded store."""
    rpc_url: str | None = field(default_factory=lambda: os.environ.get("MARKET_RPC_URL"))
    """JSON-RPC URL; ``None`` means the anvil started by ``market chain up``."""
    storage: str = field(default_factory=lambda: os.environ.get("MARKET_STORAGE", "embedded"))
    """Storage backend: ``embedded`` (local block store) or ``kubo`` (a node's RPC API)."""
    ipfs_api: str = field(default_factory=lambda: os.environ.get("MARKET_IPFS_API", DEFAULT_IPFS_API))
    """Base URL of the kubo RPC API, used when ``storage == "kubo"``."""

    @property
    def keystore_dir(self) -> Path:
        return self.home / "keystore"

    @property
    def deployments_file(self) -> Path:
        return self.home / "deployments.json"

    @property
    def node_dir(self) -> Path:
        """Where ``market chain up`` keeps anvil's PID, log and state file."""
        return self.home / "anvil"

    @property
    def blocks_dir(self) -> Path:
        """The embedded content-addressed store."""
        return self.home / "blocks"

    def with_home(self, home: Path) -> "MarketConfig":
        return MarketConfig(home=home, rpc_url=self.rpc_url, storage=self.storage, ipfs_api=self.ipfs_api)

"""The deployment file: the Marketplace address per chain id, so commands need no address flag.

``<home>/deployments.json``::

    {"31337": {"Marketplace": "0x…", "block": 1, "deployer": "0x…"}}
"""

from __future__ import annotations

import json
from pathlib import Path

from market.exceptions import DeploymentNotFound


class Deployments:
    """Addresses recorded in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, dict]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text())

    def record(self, chain_id: int, name: str, address: str, *, block: int, deployer: str, fresh: bool = False) -> None:
        """Record ``name`` at ``address`` for ``chain_id``; ``fresh`` forgets what the chain had
        before (a new Marketplace: the verifiers its predecessor approved are not approved by it)."""
        data = self._read()
        kept = {} if fresh else data.get(str(chain_id), {})
        data[str(chain_id)] = {**kept, name: address, "block": block, "deployer": deployer}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")

    def address(self, chain_id: int, name: str = "Marketplace") -> str:
        entry = self._read().get(str(chain_id), {})
        if name not in entry:
            raise DeploymentNotFound(
                f"no {name} recorded for chain {chain_id} in {self.path}: run `market deploy` first (or pass --market ADDRESS)"
            )
        return entry[name]

    def entry(self, chain_id: int) -> dict[str, str]:
        """Every contract name → address recorded for ``chain_id`` (empty when none)."""
        return {k: v for k, v in self._read().get(str(chain_id), {}).items() if k not in ("block", "deployer")}

    def start_block(self, chain_id: int) -> int:
        return int(self._read().get(str(chain_id), {}).get("block", 0))

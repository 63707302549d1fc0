"""Compiled contract artifacts (``contracts/build/*.json``, made by ``scripts/compile_contracts.py``)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from market.exceptions import ConfigError

BUILD_DIR = Path(__file__).resolve().parents[1] / "contracts" / "build"


@lru_cache(maxsize=None)
def load_artifact(name: str) -> dict:
    """The artifact of contract ``name`` (ABI, bytecode, compiler settings)."""
    path = BUILD_DIR / f"{name}.json"
    if not path.exists():
        raise ConfigError(f"no compiled artifact {path}: run `python scripts/compile_contracts.py`")
    return json.loads(path.read_text())

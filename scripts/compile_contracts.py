#!/usr/bin/env python3
"""Compile contracts/*.sol with the npm solc into contracts/build/ (committed artifacts).

Run from anywhere: ``python scripts/compile_contracts.py``. Needs ``make install` (npm install)` first.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from market.solc import build_artifacts, write_artifacts  # noqa: E402


def main() -> int:
    started = time.perf_counter()
    artifacts = build_artifacts()
    for path in write_artifacts(artifacts):
        size = (len(artifacts[path.stem]["deployedBytecode"]) - 2) // 2
        print(f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}  runtime {size} bytes")
    print(f"compiled {len(artifacts)} contracts in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

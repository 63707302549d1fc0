#!/usr/bin/env python3
"""Compile contracts/*.sol with the npm solc into contracts/build/ (committed artifacts).

Run from anywhere: ``python scripts/compile_contracts.py``. Needs ``make install`` (npm install) first.
"""

from __future__ import annotations

from market.solc import compile_contracts


def main() -> int:
    compile_contracts()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Meta-test: every custom error of the Marketplace is triggered by at least one test.

A test "names" an error when the error's name is a string literal in it (``reverts("Name", ...)``,
``exc.name == "Name"``) or starts one as a signature (``"Name()"``). A new error in the contract
without a test that names it fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from market.artifacts import load_artifact

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SUITES = [HERE, REPO / "tests" / "market" / "chain"]


def _abi_errors() -> set[str]:
    return {e["name"] for e in load_artifact("Marketplace")["abi"] if e["type"] == "error"}


def _string_literals() -> set[str]:
    literals: set[str] = set()
    for folder in SUITES:
        for path in folder.glob("test_*.py"):
            if path.resolve() == Path(__file__).resolve():
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    literals.add(node.value)
    return literals


def test_errors_every_abi_error_is_named_by_a_test():
    # Prepare
    literals = _string_literals()

    # Execute
    missing = sorted(
        name for name in _abi_errors()
        if name not in literals and not any(lit.startswith(name + "(") for lit in literals)
    )

    # Assert
    assert not missing, f"custom errors no test triggers: {missing}"


def test_errors_interface_declares_what_the_abi_has():
    # Prepare: the errors written in IMarketplace.sol
    source = (REPO / "contracts" / "IMarketplace.sol").read_text()
    declared = set(re.findall(r"^\s*error\s+(\w+)\s*\(", source, flags=re.MULTILINE))

    # Assert: all are in the compiled ABI; the ABI adds only inherited OpenZeppelin errors
    abi = _abi_errors()
    assert declared <= abi
    assert abi - declared == {"ReentrancyGuardReentrantCall"}
    assert len(declared) == 59

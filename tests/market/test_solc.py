"""The committed artifacts in contracts/build/ are what the sources compile to today."""

from __future__ import annotations

import json

from market.solc import BUILD_DIR, EVM_VERSION, build_artifacts, source_files


def test_artifacts_match_sources():
    # Execute: compile every source with the npm solc
    fresh = build_artifacts()

    # Assert: same contracts, same bytecode, same source hashes as committed
    committed = {p.stem: json.loads(p.read_text()) for p in BUILD_DIR.glob("*.json")}
    assert set(fresh) == set(committed), "contracts added or removed: run `python scripts/compile_contracts.py`"
    for name, artifact in fresh.items():
        stale = "contracts/build is stale: run `python scripts/compile_contracts.py` and commit contracts/build/"
        assert committed[name]["sourceHashes"] == artifact["sourceHashes"], f"{name}: sources changed; {stale}"
        assert committed[name]["bytecode"] == artifact["bytecode"], f"{name}: bytecode differs; {stale}"
        assert committed[name]["abi"] == artifact["abi"], f"{name}: ABI differs; {stale}"


def test_artifacts_record_compiler_and_evm_version():
    artifact = json.loads((BUILD_DIR / "Marketplace.json").read_text())
    assert artifact["compiler"]["version"].startswith("0.8.")
    assert artifact["compiler"]["settings"]["evmVersion"] == EVM_VERSION == "shanghai"
    project_sources = {p.relative_to(BUILD_DIR.parents[1]).as_posix() for p in source_files()}
    assert "contracts/Marketplace.sol" in artifact["sourceHashes"]
    assert any(k.startswith("@openzeppelin/") for k in artifact["sourceHashes"]), "library sources are hashed too"
    assert project_sources <= set(artifact["sourceHashes"])


def test_marketplace_fits_the_contract_size_limit():
    artifact = json.loads((BUILD_DIR / "Marketplace.json").read_text())
    assert (len(artifact["deployedBytecode"]) - 2) // 2 <= 24_576

"""Compile the Solidity sources with the npm ``solc`` package (solcjs) via standard JSON.

The artifacts in ``contracts/build/`` (ABI, bytecode, compiler version and settings, and the
hash of every source that went in) are committed; ``scripts/compile_contracts.py`` regenerates
them and a test fails when a source changed and the artifacts did not.

EVM version: ``shanghai``, the newest that ganache 7.9 runs; py-evm and anvil run it too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from market.exceptions import MarketError, ToolMissingError

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTRACTS_DIR = REPO_ROOT / "contracts"
BUILD_DIR = CONTRACTS_DIR / "build"
EVM_VERSION = "shanghai"
SETTINGS: dict = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": EVM_VERSION,
    "viaIR": True,
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "evm.gasEstimates"]}},
}
"""Compiler settings, recorded in every artifact."""


class CompilationError(MarketError):
    """solc reported errors."""


def source_files() -> list[Path]:
    """Every Solidity source of the project: ``contracts/*.sol``, ``contracts/test/*.sol`` and
    ``contracts/zk/*.sol`` (the round verifier adapter and the generated Groth16 verifiers)."""
    return (sorted(CONTRACTS_DIR.glob("*.sol")) + sorted((CONTRACTS_DIR / "test").glob("*.sol"))
            + sorted((CONTRACTS_DIR / "zk").glob("*.sol")))


def _source_key(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def standard_json_input() -> dict:
    """The standard-JSON input for all project sources with :data:`SETTINGS`."""
    return {
        "language": "Solidity",
        "sources": {_source_key(p): {"content": p.read_text()} for p in source_files()},
        "settings": SETTINGS,
    }


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise ToolMissingError("node is not installed: install Node.js 20 (apt-get install nodejs) and run `make install` (npm install)")
    if not (REPO_ROOT / "node_modules" / "solc").is_dir():
        raise ToolMissingError("the npm package solc is missing: run `make install` (npm install) in the repository root")
    return node


def compiler_version() -> str:
    """Version string of the npm solc."""
    out = subprocess.run(
        [_node(), "scripts/solc_standard_json.cjs", "--version"],
        cwd=REPO_ROOT, input="", capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def compile_sources() -> dict:
    """Compile every source; return the standard-JSON output. Raises on any error."""
    proc = subprocess.run(
        [_node(), "scripts/solc_standard_json.cjs"],
        cwd=REPO_ROOT, input=json.dumps(standard_json_input()), capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise CompilationError(f"solcjs failed: {proc.stderr.strip()[:2000]}")
    text = proc.stdout
    output = json.loads(text[text.index("{"):])
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompilationError("solc: " + "\n".join(e.get("formattedMessage", e["message"]) for e in errors))
    return output


def source_hashes(output: dict) -> dict[str, str]:
    """sha256 of every source that went into the build, project and library files alike."""
    hashes = {}
    for key in sorted(output["sources"]):
        path = REPO_ROOT / key
        if not path.exists():
            path = REPO_ROOT / "node_modules" / key
        hashes[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def build_artifacts() -> dict[str, dict]:
    """Compile and shape one artifact per contract (interfaces without bytecode are skipped)."""
    output = compile_sources()
    version = compiler_version()
    hashes = source_hashes(output)
    artifacts: dict[str, dict] = {}
    for key, contracts in output["contracts"].items():
        if not key.startswith("contracts/"):
            continue
        for name, data in contracts.items():
            bytecode = data["evm"]["bytecode"]["object"]
            if not bytecode:
                continue
            artifacts[name] = {
                "contractName": name,
                "sourceName": key,
                "abi": data["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
                "compiler": {"name": "solc (npm solcjs)", "version": version, "settings": SETTINGS},
                "sourceHashes": hashes,
                "generatedBy": "scripts/compile_contracts.py -- do not edit by hand",
            }
    return artifacts


def write_artifacts(artifacts: dict[str, dict], build_dir: Path = BUILD_DIR) -> list[Path]:
    """Write ``<Name>.json`` per contract; remove artifacts of contracts that no longer exist."""
    build_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in sorted(artifacts.items()):
        path = build_dir / f"{name}.json"
        path.write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")
        written.append(path)
    for stale in build_dir.glob("*.json"):
        if stale not in written:
            stale.unlink()
    return written


def compile_contracts(echo: Callable[[str], None] = print) -> list[Path]:
    """``scripts/compile_contracts.py``: compile, write ``contracts/build/``, ``echo`` each
    artifact's runtime size and the time taken; returns the files written."""
    started = time.perf_counter()
    artifacts = build_artifacts()
    paths = write_artifacts(artifacts)
    for path in paths:
        size = (len(artifacts[path.stem]["deployedBytecode"]) - 2) // 2
        echo(f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}  runtime {size} bytes")
    echo(f"compiled {len(artifacts)} contracts in {time.perf_counter() - started:.1f}s")
    return paths

"""Keys and the generated verifier: the cache, the DEVELOPMENT label, the committed 16 x 32
verification key and verifier (fresh for the current circuit, never hand-edited)."""

from __future__ import annotations

import json

import pytest

from market.artifacts import BUILD_DIR
from zk import keys as keys_module
from zk import round_circuit
from zk.exceptions import KeyMissingError
from zk.keys import (
    DEVELOPMENT,
    RoundKeys,
    captured_stdout,
    ceremony_keys,
    compiler_stats,
    development_keys,
    key_directory,
)
from zk.round_circuit import RoundShape
from zk.solidity import (
    check_committed_verifier,
    committed_shapes,
    committed_vk,
    compile_verifier,
    generate_verifier_source,
    verifier_artifact,
    verifier_name,
    verifier_path,
)
from zk.verify_py import VerificationKey

MAIN = RoundShape(16, 32)


def test_round_keys_are_cached_and_reloaded(round_keys, monkeypatch):
    # Execute: the same process gets the same object; a fresh one reads the cache folder
    same = development_keys(round_keys.shape, cache=round_keys.directory.parent, create=False)
    keys_module.forget_loaded_keys()
    again = development_keys(round_keys.shape, cache=round_keys.directory.parent, create=False)

    # Assert
    assert same is round_keys and again is not round_keys
    assert again.directory == round_keys.directory
    assert again.vk_json == round_keys.vk_json
    assert again.proving_key is not None  # loaded on first use
    assert round_keys.directory.name.startswith("round-4x4-")
    assert {p.name for p in round_keys.directory.iterdir()} >= {"main.circom", "proving_key.bin",
                                                                 "verification_key.json", "meta.json"}


def test_round_keys_are_labelled_development(round_keys):
    meta = json.loads((round_keys.directory / "meta.json").read_text())
    assert round_keys.origin == meta["origin"] == DEVELOPMENT
    assert "DEVELOPMENT" in round_keys.label and "DEVELOPMENT" in meta["label"]
    assert "DEVELOPMENT" in round_keys.describe()
    assert meta["constraints"] > 4000 and meta["circuitHash"] == round_keys.shape.circuit_hash()


def test_round_key_directory_follows_the_circuit_sources(round_keys, monkeypatch):
    before = key_directory(round_keys.shape, round_keys.directory.parent)
    sources = round_circuit.circuit_sources()
    monkeypatch.setattr(round_circuit, "circuit_sources",
                        lambda: {**sources, "round.circom": sources["round.circom"] + "\n// changed\n"})
    after = key_directory(round_keys.shape, round_keys.directory.parent)
    assert before == round_keys.directory and after != before
    assert key_directory(RoundShape(4, 5), round_keys.directory.parent) != before


def test_round_keys_missing_without_create(tmp_path):
    with pytest.raises(KeyMissingError, match="no development key"):
        development_keys(RoundShape(4, 4), cache=tmp_path, create=False)
    with pytest.raises(KeyMissingError, match="no .zkey"):
        ceremony_keys(RoundShape(4, 4), tmp_path / "missing.zkey", cache=tmp_path)


def test_round_keys_cache_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MARKET_ZK_CACHE", str(tmp_path))
    assert key_directory(RoundShape(2, 3)).parent == tmp_path


def test_compiler_output_is_captured_and_parsed():
    import os

    with captured_stdout() as lines:
        os.write(1, b"\x1b[32mtemplate instances\x1b[0m: 95\nnon-linear constraints: 4872\nwires: 4761\n")
    assert compiler_stats(lines) == {"template instances": 95, "non-linear constraints": 4872, "wires": 4761}


# --- the committed key and verifier ---------------------------------------------------------
def test_committed_verifier_is_fresh():
    # A failure here means zk/circuits changed (or the verifier was edited): run
    # `python scripts/generate_verifier.py` then `python scripts/compile_contracts.py`.
    assert MAIN in committed_shapes()
    for shape in committed_shapes():
        assert check_committed_verifier(shape) == [], shape


def test_committed_verifier_is_the_generated_export_with_its_header():
    doc = committed_vk(MAIN)
    source = verifier_path(MAIN).read_text()
    assert source == generate_verifier_source(MAIN, doc["verificationKey"], origin=doc["origin"],
                                              circuit_hash=doc["circuitHash"])
    head = source.split("pragma solidity")[0]
    assert "GENERATED FILE - DO NOT EDIT" in head and "groth16py" in head and "DEVELOPMENT key" in head
    assert f"contract {verifier_name(MAIN)}" in source and "library Groth16Pairing16x32" in source
    assert doc["origin"] == DEVELOPMENT and "DEVELOPMENT" in doc["label"]
    assert VerificationKey.from_json(doc).n_public == MAIN.public_count == 26


def test_committed_key_uses_the_committed_build_artifact():
    # Prepare: the committed key as RoundKeys (no proving key needed to deploy its verifier)
    doc = committed_vk(MAIN)
    keys = RoundKeys(shape=MAIN, proving_key=None, verifying_key=None, vk_json=doc["verificationKey"],
                     origin=doc["origin"], circuit_hash=doc["circuitHash"])

    # Execute
    artifact = verifier_artifact(keys)
    with pytest.raises(KeyMissingError):
        keys.proving_key  # noqa: B018 - its proving key lives only in the cache that made it

    # Assert: no compile: the artifact of contracts/build, and a fresh compile agrees with it
    committed = json.loads((BUILD_DIR / f"{verifier_name(MAIN)}.json").read_text())
    assert artifact["bytecode"] == committed["bytecode"]
    assert compile_verifier(MAIN, verifier_path(MAIN).read_text())["bytecode"] == committed["bytecode"]


def test_other_keys_get_a_compiled_verifier_cached_in_their_cache(round_keys, zk_base):
    # zk_base deployed the 4x4 verifier, which is not committed: it was compiled and cached,
    # named after its source's hash, in the key's cache root
    [cached] = (round_keys.directory.parent / "verifiers").glob("RoundGroth16Verifier4x4-*.json")
    artifact = verifier_artifact(round_keys)
    assert artifact["contractName"] == "RoundGroth16Verifier4x4"
    assert artifact["bytecode"] == json.loads(cached.read_text())["bytecode"]

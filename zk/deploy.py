"""Deploy the round verifier: the generated Groth16 verifier of a key and its IRoundVerifier adapter.

``deploy_round_verifier(chain, deployer, n=16, k=32)`` returns the address a task names as its
``verifier``. The Groth16 verifier matches the key the prover will use (the cached development
key by default, or the ``keys`` given, e.g. a ceremony key); the adapter
(``contracts/zk/RoundVerifier.sol``) fixes τ and the gas cap and points at it. One Groth16
verifier can serve adapters with different τ: :func:`deploy_round_adapter` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from market.chain.base import ChainBackend
from market.gas import GasReport
from market.marketplace import deploy_contract, send_transaction
from zk.keys import RoundKeys, development_keys
from zk.round_circuit import RoundShape
from zk.solidity import verifier_artifact

__all__ = [
    "ADAPTER",
    "RoundVerifierDeployment",
    "default_verify_gas",
    "deploy_groth16_verifier",
    "deploy_round_adapter",
    "deploy_round_verifier",
    "deploy_round_verifier_full",
]

ADAPTER = "RoundVerifier"


def default_verify_gas(shape: RoundShape) -> int:
    """The gas cap for the Groth16 verifier call: measured ~185k + ~8.5k per public input on
    py-evm (shanghai), doubled for margin (~640k at N = 16)."""
    return 2 * (185_000 + 8_500 * shape.public_count) + 50_000


@dataclass(frozen=True)
class RoundVerifierDeployment:
    """Addresses of one deployment: ``address`` is the adapter a task names."""

    address: str
    groth16_verifier: str
    shape: RoundShape
    tau_num: int
    tau_den: int
    key_label: str
    gas_used: int


def deploy_groth16_verifier(chain: ChainBackend, deployer: LocalAccount, keys: RoundKeys, *,
                            gas_report: GasReport | None = None,
                            log: Callable[[str], None] | None = None) -> tuple[str, int]:
    """Deploy the generated verifier of ``keys``; returns (address, gas used)."""
    artifact = verifier_artifact(keys, log=log)
    factory = chain.web3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    name = artifact["contractName"]
    result = send_transaction(chain, deployer, factory.constructor(), f"deploy {name}")
    if gas_report is not None:
        gas_report.record(f"deploy {name}", result.gas_used)
    return Web3.to_checksum_address(result.contract_address), result.gas_used


def deploy_round_adapter(chain: ChainBackend, deployer: LocalAccount, groth16_verifier: str, shape: RoundShape, *,
                         tau_num: int = 4, tau_den: int = 1, verify_gas: int | None = None,
                         gas_report: GasReport | None = None) -> tuple[str, int]:
    """Deploy a RoundVerifier adapter over an existing Groth16 verifier; (address, gas used)."""
    gas = default_verify_gas(shape) if verify_gas is None else verify_gas
    result = deploy_contract(chain, ADAPTER, deployer, groth16_verifier, shape.n, shape.k, tau_num, tau_den, gas,
                             gas_report=gas_report)
    return Web3.to_checksum_address(result.contract_address), result.gas_used


def deploy_round_verifier_full(chain: ChainBackend, deployer: LocalAccount, *, n: int = 16, k: int = 32,
                               keys: RoundKeys | None = None, tau_num: int = 4, tau_den: int = 1,
                               verify_gas: int | None = None, cache: Path | str | None = None,
                               gas_report: GasReport | None = None,
                               log: Callable[[str], None] | None = None) -> RoundVerifierDeployment:
    """:func:`deploy_round_verifier`, returning both addresses and the key's label."""
    shape = RoundShape(n, k)
    if keys is None:
        keys = development_keys(shape, cache=cache, log=log)
    elif keys.shape != shape:
        raise ValueError(f"the keys are for {keys.shape.name}, not {shape.name}")
    if log is not None:
        log(f"deploying the round verifier for {keys.describe()}")
    groth16, gas_v = deploy_groth16_verifier(chain, deployer, keys, gas_report=gas_report, log=log)
    adapter, gas_a = deploy_round_adapter(chain, deployer, groth16, shape, tau_num=tau_num, tau_den=tau_den,
                                          verify_gas=verify_gas, gas_report=gas_report)
    return RoundVerifierDeployment(address=adapter, groth16_verifier=groth16, shape=shape, tau_num=tau_num,
                                   tau_den=tau_den, key_label=keys.label, gas_used=gas_v + gas_a)


def deploy_round_verifier(chain: ChainBackend, deployer: LocalAccount, *, n: int = 16, k: int = 32,
                          **options: Any) -> str:
    """Deploy a Groth16 verifier for the round circuit ``Round(n, k)`` and its IRoundVerifier
    adapter; return the adapter's address (a task's ``verifier``).

    Options: ``keys`` (default: the cached development key, made if missing), ``tau_num`` /
    ``tau_den`` (default 4 / 1, the task spec's default τ = 4.0: they must equal the
    aggregator's :func:`~aggregator.detectors.provable.tau_fraction` of the spec's τ),
    ``verify_gas``, ``cache``, ``gas_report``, ``log``."""
    return deploy_round_verifier_full(chain, deployer, n=n, k=k, **options).address

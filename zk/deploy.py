"""Deploy the round verifier: the generated Groth16 verifier of a key and its IRoundVerifier adapter.

``deploy_round_verifier(chain, deployer, n=16, k=32)`` returns the address a task names as its
``verifier``. The Groth16 verifier matches the key the prover will use (the cached development
key by default, or the ``keys`` given, e.g. a ceremony key); the adapter
(``contracts/zk/RoundVerifier.sol``) fixes τ and the gas cap and points at it. One Groth16
verifier can serve adapters with different τ: :func:`deploy_round_adapter` alone.

The root-of-trust rule's verifier, :func:`deploy_reference_verifier`, is the same pair for the
circuit ``ReferenceRound(N, K, H_NUM, H_DEN)``: its generated Groth16 verifier (compiled on
demand from the key) and a ``ReferenceRoundVerifier`` adapter fixing γ, β, δ and the gas cap.
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
from zk.keys import RoundKeys, keys_for
from zk.protocol.reference_rule import ReferenceRuleParams
from zk.reference_circuit import ReferenceShape, pack_params
from zk.round_circuit import RoundShape
from zk.solidity import verifier_artifact

__all__ = [
    "ADAPTER",
    "REFERENCE_ADAPTER",
    "ReferenceVerifierDeployment",
    "RoundVerifierDeployment",
    "default_verify_gas",
    "deploy_groth16_verifier",
    "deploy_reference_verifier",
    "deploy_round_adapter",
    "deploy_round_verifier",
    "deploy_round_verifier_full",
]

ADAPTER = "RoundVerifier"
REFERENCE_ADAPTER = "ReferenceRoundVerifier"


def default_verify_gas(shape: RoundShape | ReferenceShape) -> int:
    """The gas cap for the Groth16 verifier call: measured ~185k + ~8.5k per public input on
    py-evm (shanghai), doubled for margin, plus 50k (862k for Round(16, 32)'s 26 inputs, 896k for
    ReferenceRound(16, 32)'s 28)."""
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


@dataclass(frozen=True)
class ReferenceVerifierDeployment:
    """Addresses of one root-of-trust deployment: ``address`` is the adapter a task names."""

    address: str
    groth16_verifier: str
    shape: ReferenceShape
    params: ReferenceRuleParams
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
    keys = keys_for(shape, keys, cache=cache, log=log)
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


def deploy_reference_verifier(chain: ChainBackend, deployer: LocalAccount, *, shape: ReferenceShape,
                              params: ReferenceRuleParams, keys: RoundKeys | None = None,
                              verify_gas: int | None = None, cache: Path | str | None = None,
                              gas_report: GasReport | None = None,
                              log: Callable[[str], None] | None = None) -> ReferenceVerifierDeployment:
    """Deploy the Groth16 verifier of ``ReferenceRound(N, K, H_NUM, H_DEN)`` for ``keys`` (default:
    the cached development key of ``shape``, made if missing) and its ``ReferenceRoundVerifier``
    adapter with γ, β, δ from ``params``. ``params``'s h must be the circuit's (``shape.h_num /
    shape.h_den``): h is a constant of the circuit, so another h needs another shape and key."""
    if (params.h_num, params.h_den) != (shape.h_num, shape.h_den):
        raise ValueError(f"the rule's h = {params.h_num}/{params.h_den} but the circuit {shape.name} fixes "
                         f"h = {shape.h_num}/{shape.h_den}")
    keys = keys_for(shape, keys, cache=cache, log=log)
    if log is not None:
        log(f"deploying the root-of-trust verifier for {keys.describe()}")
    groth16, gas_v = deploy_groth16_verifier(chain, deployer, keys, gas_report=gas_report, log=log)
    gas = default_verify_gas(shape) if verify_gas is None else verify_gas
    result = deploy_contract(chain, REFERENCE_ADAPTER, deployer, groth16, shape.n, shape.k, shape.h_num, shape.h_den,
                             pack_params(params), gas, gas_report=gas_report)
    return ReferenceVerifierDeployment(address=Web3.to_checksum_address(result.contract_address),
                                       groth16_verifier=groth16, shape=shape, params=params, key_label=keys.label,
                                       gas_used=gas_v + result.gas_used)

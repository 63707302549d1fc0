"""The market core: the Python face of the Proof-of-Contribution Market (bottom layer).

Chain backends (:mod:`market.chain`: embedded eth-tester/py-evm, any JSON-RPC node, local anvil
and ganache processes), the typed binding of ``contracts/Marketplace.sol``
(:mod:`market.marketplace`, :mod:`market.types`, revert decoding in :mod:`market.reverts`),
wallets (:mod:`market.keystore`), kill points for crash tests (:mod:`market.failpoints`), JSON
nesting bounded before parsing (:mod:`market.bounded_json`), deployments, content-addressed
storage (:mod:`market.storage`), the task spec, update packages and their encryption, units, gas and tracing, and the ``market``
command's assembler and its chain/wallet/storage/task commands (:mod:`market.cli`).

Layer: the bottom of the house (docs/DESIGN.md). Nothing here imports ``zk``, ``trainers``,
``aggregator``, ``benchmarks`` or torch; :mod:`market.cli.app` finds the commands of the layers
above through the ``market.commands`` entry points, never by import. ``tests/test_layers.py``
holds this. Nothing is imported here: import the submodules you use.
"""

__all__ = [
    "admission",
    "artifacts",
    "bounded_json",
    "chain",
    "cli",
    "config",
    "deployments",
    "encryption",
    "exceptions",
    "failpoints",
    "gas",
    "keystore",
    "marketplace",
    "model_state",
    "retry",
    "reverts",
    "root_set",
    "solc",
    "storage",
    "task_spec",
    "tracing",
    "types",
    "units",
    "update_package",
]

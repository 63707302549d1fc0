"""The embedded chain: eth-tester on py-evm, in this process, no daemon.

It mines one block per transaction, starts with the development accounts of
:data:`~market.chain.base.DEV_MNEMONIC` funded, and its clock moves only when a block is mined
or :meth:`EmbeddedChain.increase_time` is called. Not thread-safe: the Marketplace binding sends
through :meth:`ChainBackend.serialized`.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from market.chain.base import DEV_ACCOUNT_COUNT, DEV_MNEMONIC, ChainBackend, dev_accounts

GAS_LIMIT = 60_000_000


class EmbeddedChain(ChainBackend):
    """An in-process py-evm chain."""

    name = "embedded (eth-tester/py-evm)"
    simulation_block = None  # eth-tester simulates on its pending block already (and refuses "pending")

    def __init__(self, *, accounts: int = DEV_ACCOUNT_COUNT) -> None:
        super().__init__()
        backend = PyEVMBackend.from_mnemonic(
            DEV_MNEMONIC,
            num_accounts=accounts,
            hd_path="m/44'/60'/0'/0",
            genesis_parameters=PyEVMBackend.generate_genesis_params(overrides={"gas_limit": GAS_LIMIT}),
        )
        self.tester = EthereumTester(backend)
        self._web3 = Web3(EthereumTesterProvider(self.tester))
        self._accounts = dev_accounts(accounts)

    @property
    def web3(self) -> Web3:
        return self._web3

    def dev_accounts(self) -> list[LocalAccount]:
        return list(self._accounts)

    def increase_time(self, seconds: int) -> None:
        with self.serialized():
            now = self.timestamp()
            # py-evm's time_travel(T) mines its block at T - 1
            self.tester.time_travel(now + int(seconds) + 1)

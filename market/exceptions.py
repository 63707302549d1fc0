"""Exceptions of the ``market`` package.

One root, :class:`MarketError`; the CLI turns every one into a single line on stderr and a
non-zero exit code. Wrappers also inherit the matching builtin (web3.py's habit), so callers
that catch ``ValueError`` or ``FileNotFoundError`` keep working. Transport failures
(:class:`ChainError`: no answer, a refused or failed transaction) and contract logic
(:class:`ContractError`: a decoded revert) are separate families, as in web3.py, so a retry loop
catches only the first.
"""

from __future__ import annotations


class MarketError(Exception):
    """Root of every error the market raises on purpose. ``str(err)`` is a one-line message
    that says what is wrong and, where there is one, what to do."""

    exit_code = 1


class MarketValueError(MarketError, ValueError):
    """A value given by the user or read from a file is not acceptable."""


class ConfigError(MarketError):
    """The configuration (home folder, deployment file, backend choice) is unusable."""


class ToolMissingError(MarketError, FileNotFoundError):
    """An external tool (node, anvil, ganache, solcjs) is not installed."""

    exit_code = 3


# --- chain -------------------------------------------------------------------------------
class ChainError(MarketError):
    """Talking to the chain failed (connection, timeout, unexpected reply)."""

    exit_code = 4


class ChainConnectionError(ChainError, ConnectionError):
    """No node answers at the configured RPC URL."""


class TransactionFailed(ChainError):
    """A transaction was mined but failed without a decodable reason."""


# --- contract logic ------------------------------------------------------------------------
class ContractError(MarketError):
    """The chain answered and a contract refused the call (web3.py's ``ContractLogicError``,
    apart from its transport errors): retrying the same call does not help, so retry loops
    that catch :class:`ChainError` let it through."""

    exit_code = 5


class ContractRevert(ContractError):
    """A contract call reverted with one of the Marketplace's custom errors.

    ``name`` is the Solidity error's name, ``args_by_name`` its decoded arguments by name;
    ``str(err)`` states the problem (the CLI adds how to fix it with its own flags).
    """

    def __init__(self, name: str, args: dict[str, object], message: str) -> None:
        super().__init__(message)
        self.name = name
        self.args_by_name = args


class DeploymentNotFound(ConfigError):
    """No Marketplace is recorded for the connected chain."""


# --- wallets -----------------------------------------------------------------------------
class WalletError(MarketError):
    """A keystore could not be created, found or opened."""

    exit_code = 6


class WalletNotFound(WalletError, KeyError):
    """No keystore by that name or address."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "wallet not found"


class WalletExists(WalletError):
    """A keystore by that name already exists."""


class WrongPassword(WalletError):
    """The password does not open the keystore."""


class PasswordMissing(WalletError):
    """No password was given by prompt, environment variable or file."""

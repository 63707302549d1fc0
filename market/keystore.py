"""Wallets: encrypted JSON keystores (Web3 Secret Storage v3, scrypt) in one folder.

Each wallet is ``<keystore_dir>/<name>.json``, readable by geth, foundry's ``cast`` and every
tool that reads v3 keystores. Private keys never touch the disk in clear and passwords never
come from the command line: the CLI takes them from a prompt, ``MARKET_PASSWORD`` or a file
(:func:`read_password`).

``MARKET_SCRYPT_N`` lowers scrypt's cost for tests (default: eth-account's 2^18), and only with
``MARKET_WEAK_KEYSTORES=1`` beside it and never below :data:`MIN_SCRYPT_N` (:func:`scrypt_cost`):
a stray variable must not silently write keystores a laptop cracks in minutes.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from market.exceptions import MarketValueError, PasswordMissing, WalletExists, WalletNotFound, WrongPassword

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PASSWORD_ENV = "MARKET_PASSWORD"


MIN_SCRYPT_N = 2**12
"""The lowest scrypt cost ``MARKET_SCRYPT_N`` may set (tests use it; users get 2^18)."""


def scrypt_cost() -> int | None:
    """scrypt's N for new keystores: None (eth-account's 2^18) unless ``MARKET_SCRYPT_N`` is set
    together with ``MARKET_WEAK_KEYSTORES=1``; a weak setting without the flag, a value that is not
    a power of two or one below :data:`MIN_SCRYPT_N` is refused with a clear error."""
    raw = os.environ.get("MARKET_SCRYPT_N", "").strip()
    if not raw:
        return None
    if os.environ.get("MARKET_WEAK_KEYSTORES") != "1":
        raise MarketValueError("MARKET_SCRYPT_N lowers the protection of new keystores; it is honoured only with "
                               "MARKET_WEAK_KEYSTORES=1 (tests) — unset it to get the default cost 2^18")
    try:
        n = int(raw)
    except ValueError:
        raise MarketValueError(f"MARKET_SCRYPT_N must be an integer, got {raw!r}") from None
    if n < MIN_SCRYPT_N or n & (n - 1):
        raise MarketValueError(f"MARKET_SCRYPT_N must be a power of two of at least {MIN_SCRYPT_N}, got {n}")
    return n


@dataclass(frozen=True)
class WalletInfo:
    name: str
    address: str
    path: Path


class Keystore:
    """The keystores in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    # --- create / import -------------------------------------------------------------------
    def create(self, name: str, password: str) -> WalletInfo:
        """A new random key, encrypted under ``password``."""
        account = Account.create()
        return self._save(name, account.key, password)

    def import_key(self, name: str, private_key: str | bytes, password: str) -> WalletInfo:
        """Encrypt an existing private key (hex or 32 bytes) under ``password``."""
        try:
            account = Account.from_key(private_key)
        except (ValueError, TypeError) as exc:
            raise MarketValueError(f"not a valid private key ({exc}): give 32 bytes as 64 hex digits") from None
        return self._save(name, account.key, password)

    def _save(self, name: str, key: bytes, password: str) -> WalletInfo:
        if not _NAME.match(name):
            raise MarketValueError(f"wallet name {name!r} must be 1-64 letters, digits, '_', '.' or '-'")
        if not password:
            raise PasswordMissing("an empty password would leave the key unprotected: choose one")
        path = self.directory / f"{name}.json"
        if path.exists():
            raise WalletExists(f"a wallet named {name!r} already exists at {path}")
        keyfile = Account.encrypt(key, password, kdf="scrypt", iterations=scrypt_cost())
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(keyfile, handle)
        return WalletInfo(name=name, address=to_checksum_address(keyfile["address"]), path=path)

    # --- list / find / open ----------------------------------------------------------------
    def list(self) -> list[WalletInfo]:
        """Every wallet, by name."""
        if not self.directory.is_dir():
            return []
        wallets = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                address = to_checksum_address(json.loads(path.read_text())["address"])
            except (ValueError, KeyError):
                continue
            wallets.append(WalletInfo(name=path.stem, address=address, path=path))
        return wallets

    def find(self, name_or_address: str) -> WalletInfo:
        """The wallet called ``name_or_address``, or holding that address."""
        for wallet in self.list():
            if wallet.name == name_or_address or wallet.address.lower() == name_or_address.lower():
                return wallet
        known = ", ".join(w.name for w in self.list()) or "none"
        raise WalletNotFound(
            f"no wallet {name_or_address!r} in {self.directory} (known: {known}): create one with `market wallet new NAME`"
        )

    def unlock(self, name_or_address: str, password: str) -> LocalAccount:
        """Decrypt the wallet's key."""
        wallet = self.find(name_or_address)
        keyfile = json.loads(wallet.path.read_text())
        try:
            key = Account.decrypt(keyfile, password)
        except ValueError:
            raise WrongPassword(f"wrong password for wallet {wallet.name!r}") from None
        return Account.from_key(key)


def read_password(*, password_file: Path | None = None, env: str = PASSWORD_ENV) -> str | None:
    """The password from ``password_file`` (first line) or the environment; ``None`` when
    neither is given, so the caller prompts."""
    if password_file is not None:
        try:
            text = Path(password_file).read_text()
        except FileNotFoundError:
            raise PasswordMissing(f"password file {password_file} does not exist") from None
        return text.splitlines()[0] if text else ""
    value = os.environ.get(env)
    return value if value else None

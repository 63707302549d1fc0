"""Encrypted keystores: create, import, list, unlock, and the failures users meet."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from market.exceptions import MarketValueError, PasswordMissing, WalletExists, WalletNotFound, WrongPassword
from market.keystore import Keystore, read_password


def test_create_writes_scrypt_keystore_without_clear_key(tmp_path):
    store = Keystore(tmp_path)
    wallet = store.create("alice", "pw")
    data = json.loads(wallet.path.read_text())
    assert data["crypto"]["kdf"] == "scrypt"
    account = store.unlock("alice", "pw")
    assert account.address == wallet.address
    assert account.key.hex().removeprefix("0x") not in wallet.path.read_text()
    assert oct(wallet.path.stat().st_mode & 0o777) == "0o600"


def test_import_then_unlock_by_address(tmp_path):
    store = Keystore(tmp_path)
    key = "0x" + "42" * 32
    wallet = store.import_key("bob", key, "pw")
    assert wallet.address == Account.from_key(key).address
    assert store.unlock(wallet.address.lower(), "pw").key == Account.from_key(key).key


def test_wrong_password_raises_wrong_password(tmp_path):
    store = Keystore(tmp_path)
    store.create("alice", "pw")
    with pytest.raises(WrongPassword, match="wrong password for wallet 'alice'"):
        store.unlock("alice", "nope")


@pytest.mark.parametrize("name", ["", "-x", "a/b", "x" * 65, "with space"])
def test_bad_names_rejected(tmp_path, name):
    with pytest.raises(MarketValueError):
        Keystore(tmp_path).create(name, "pw")


def test_duplicate_and_missing_and_empty_password(tmp_path):
    store = Keystore(tmp_path)
    store.create("alice", "pw")
    with pytest.raises(WalletExists):
        store.create("alice", "pw")
    with pytest.raises(WalletNotFound, match="known: alice"):
        store.find("carol")
    with pytest.raises(PasswordMissing):
        store.create("dave", "")
    assert [w.name for w in store.list()] == ["alice"]


def test_read_password_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("MARKET_PASSWORD", raising=False)
    assert read_password() is None
    monkeypatch.setenv("MARKET_PASSWORD", "env-pw")
    assert read_password() == "env-pw"
    f = tmp_path / "pw"
    f.write_text("file-pw\nignored\n")
    assert read_password(password_file=f) == "file-pw"
    with pytest.raises(PasswordMissing):
        read_password(password_file=tmp_path / "missing")

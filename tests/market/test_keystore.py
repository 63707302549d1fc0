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


# --- scrypt cost (issue 12, finding 7: MARKET_SCRYPT_N=2 silently wrote weak keystores) ------------
def test_keystore_weak_scrypt_needs_the_test_flag(monkeypatch):
    from market.exceptions import MarketValueError
    from market.keystore import scrypt_cost

    monkeypatch.setenv("MARKET_SCRYPT_N", "4096")
    monkeypatch.delenv("MARKET_WEAK_KEYSTORES", raising=False)
    with pytest.raises(MarketValueError, match="MARKET_WEAK_KEYSTORES=1"):
        scrypt_cost()
    monkeypatch.setenv("MARKET_WEAK_KEYSTORES", "1")
    assert scrypt_cost() == 4096


@pytest.mark.parametrize("raw", ["2", "1024", "5000", "many"])
def test_keystore_weak_scrypt_has_a_floor(monkeypatch, raw):
    from market.exceptions import MarketValueError
    from market.keystore import scrypt_cost

    monkeypatch.setenv("MARKET_SCRYPT_N", raw)
    monkeypatch.setenv("MARKET_WEAK_KEYSTORES", "1")
    with pytest.raises(MarketValueError, match="MARKET_SCRYPT_N"):
        scrypt_cost()


def test_keystore_default_cost_without_the_variable(monkeypatch):
    from market.keystore import scrypt_cost

    monkeypatch.delenv("MARKET_SCRYPT_N", raising=False)
    assert scrypt_cost() is None

"""Encryption to the aggregator: round trip, tampering, evidence keys, key files, digest."""

from __future__ import annotations

import os
import stat

import pytest
from eth_utils import keccak

from market.encryption import (
    HEADER_SIZE,
    OVERHEAD,
    CiphertextTampered,
    EnvelopeMalformed,
    KeyFileError,
    WrongKey,
    decrypt,
    decrypt_with_evidence_key,
    encrypt_for_aggregator,
    envelope_digest,
    evidence_key,
    generate_private_key,
    load_private_key,
    load_public_key,
    public_key_bytes,
    save_private_key,
)

PACKAGE = os.urandom(10_000)


@pytest.fixture(scope="module")
def aggregator():
    return generate_private_key()


def test_envelope_round_trips_with_the_aggregator_key(aggregator) -> None:
    envelope = encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator))
    assert len(envelope) == len(PACKAGE) + OVERHEAD
    assert envelope[:4] == b"PCMU" and envelope[4] == 1
    assert PACKAGE[:64] not in envelope
    assert decrypt(envelope, aggregator) == PACKAGE


def test_public_key_can_be_given_as_hex(aggregator) -> None:
    envelope = encrypt_for_aggregator(b"x", "0x" + public_key_bytes(aggregator).hex())
    assert decrypt(envelope, aggregator) == b"x"


def test_two_envelopes_of_the_same_package_differ(aggregator) -> None:
    public = public_key_bytes(aggregator)
    assert encrypt_for_aggregator(PACKAGE, public) != encrypt_for_aggregator(PACKAGE, public)


@pytest.mark.parametrize("where", [HEADER_SIZE, HEADER_SIZE + 5000, -1], ids=["first", "middle", "tag"])
def test_tampered_ciphertext_is_rejected(aggregator, where: int) -> None:
    envelope = bytearray(encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator)))
    envelope[where] ^= 0x01
    with pytest.raises(CiphertextTampered):
        decrypt(bytes(envelope), aggregator)


def test_tampered_nonce_is_rejected(aggregator) -> None:
    envelope = bytearray(encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator)))
    envelope[HEADER_SIZE - 1] ^= 0x80
    with pytest.raises(CiphertextTampered):
        decrypt(bytes(envelope), aggregator)


def test_tampered_ephemeral_key_is_rejected(aggregator) -> None:
    envelope = bytearray(encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator)))
    envelope[10] ^= 0x01
    with pytest.raises(WrongKey, match="header was altered"):
        decrypt(bytes(envelope), aggregator)


def test_truncated_envelope_is_rejected(aggregator) -> None:
    envelope = encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator))
    with pytest.raises(CiphertextTampered):
        decrypt(envelope[:-1], aggregator)
    with pytest.raises(EnvelopeMalformed):
        decrypt(envelope[: OVERHEAD - 1], aggregator)


@pytest.mark.parametrize("prefix", [b"XXXX\x01", b"PCMU\x02"], ids=["magic", "version"])
def test_envelope_with_unknown_magic_or_version_is_rejected(aggregator, prefix: bytes) -> None:
    envelope = encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator))
    with pytest.raises(EnvelopeMalformed):
        decrypt(prefix + envelope[5:], aggregator)


def test_another_aggregator_cannot_decrypt(aggregator) -> None:
    envelope = encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator))
    with pytest.raises(WrongKey):
        decrypt(envelope, generate_private_key())


def test_evidence_key_opens_its_envelope_and_no_other(aggregator) -> None:
    # Prepare: two trainers' envelopes to the same aggregator
    public = public_key_bytes(aggregator)
    rejected = encrypt_for_aggregator(b"poisoned update", public)
    other = encrypt_for_aggregator(b"honest update", public)
    # Execute: the aggregator publishes the rejected submission's key
    key = evidence_key(rejected, aggregator)
    # Assert: anyone opens that one, and only that one
    assert len(key) == 32
    assert decrypt_with_evidence_key(rejected, key) == b"poisoned update"
    with pytest.raises(WrongKey):
        decrypt_with_evidence_key(other, key)


def test_evidence_key_does_not_open_a_tampered_envelope(aggregator) -> None:
    envelope = encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator))
    key = evidence_key(envelope, aggregator)
    altered = bytearray(envelope)
    altered[-20] ^= 0x01
    with pytest.raises(CiphertextTampered):
        decrypt_with_evidence_key(bytes(altered), key)


def test_wrong_evidence_key_is_rejected(aggregator) -> None:
    envelope = encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator))
    with pytest.raises(WrongKey):
        decrypt_with_evidence_key(envelope, os.urandom(32))
    with pytest.raises(WrongKey):
        decrypt_with_evidence_key(envelope, b"short")


def test_private_key_file_round_trip_with_and_without_password(tmp_path, aggregator) -> None:
    plain, locked = tmp_path / "agg.pem", tmp_path / "keys" / "agg-locked.pem"
    save_private_key(aggregator, plain)
    save_private_key(aggregator, locked, password=b"hunter2")
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600
    assert public_key_bytes(load_private_key(plain)) == public_key_bytes(aggregator)
    assert public_key_bytes(load_private_key(locked, b"hunter2")) == public_key_bytes(aggregator)
    with pytest.raises(KeyFileError):
        load_private_key(locked, b"wrong")
    with pytest.raises(KeyFileError):
        load_private_key(tmp_path / "missing.pem")


def test_bad_public_key_is_rejected() -> None:
    with pytest.raises(KeyFileError):
        load_public_key("0x1234")


def test_digest_is_keccak_of_the_stored_envelope(aggregator) -> None:
    envelope = encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator))
    assert envelope_digest(envelope) == keccak(envelope)
    assert len(envelope_digest(envelope)) == 32

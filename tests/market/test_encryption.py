"""Encryption to the aggregator: round trip, tampering, evidence keys bound to their slot, public
key checks, key files, digest."""

from __future__ import annotations

import dataclasses
import os
import stat

import pytest
from eth_utils import keccak

from market.encryption import (
    HEADER_SIZE,
    OVERHEAD,
    ROOT_SET_CONTEXT,
    CiphertextTampered,
    EncryptionError,
    EnvelopeContext,
    EnvelopeMalformed,
    InvalidEnvelopeContext,
    InvalidPublicKey,
    KeyFileError,
    UnsupportedEnvelopeVersion,
    WrongKey,
    check_public_key,
    decrypt,
    decrypt_with_evidence_key,
    encrypt_for_aggregator,
    encrypt_with_key,
    envelope_digest,
    evidence_key,
    generate_private_key,
    load_private_key,
    load_public_key,
    public_key_bytes,
    save_private_key,
)

PACKAGE = os.urandom(10_000)
CTX = EnvelopeContext(chain_id=31337, contract="0x" + "ab" * 20, task_id=3, round=1, trainer="0x" + "01" * 20)
P = 2**255 - 19
LOW_ORDER = [  # X25519 points of order 1, 2, 4 or 8, canonical and not (libsodium's blocklist)
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    (P - 1).to_bytes(32, "little"),
    P.to_bytes(32, "little"),
    (P + 1).to_bytes(32, "little"),
]


@pytest.fixture(scope="module")
def aggregator():
    return generate_private_key()


def test_envelope_round_trips_with_the_aggregator_key(aggregator) -> None:
    envelope = encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator), CTX)
    assert len(envelope) == len(PACKAGE) + OVERHEAD
    assert envelope[:4] == b"PCMU" and envelope[4] == 2
    assert PACKAGE[:64] not in envelope
    assert decrypt(envelope, aggregator, CTX) == PACKAGE


def test_public_key_can_be_given_as_hex(aggregator) -> None:
    envelope = encrypt_for_aggregator(b"x", "0x" + public_key_bytes(aggregator).hex(), CTX)
    assert decrypt(envelope, aggregator, CTX) == b"x"


def test_two_envelopes_of_the_same_package_differ(aggregator) -> None:
    public = public_key_bytes(aggregator)
    assert encrypt_for_aggregator(PACKAGE, public, CTX) != encrypt_for_aggregator(PACKAGE, public, CTX)


@pytest.mark.parametrize("where", [HEADER_SIZE, HEADER_SIZE + 5000, -1], ids=["first", "middle", "tag"])
def test_tampered_ciphertext_is_rejected(aggregator, where: int) -> None:
    envelope = bytearray(encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator), CTX))
    envelope[where] ^= 0x01
    with pytest.raises(CiphertextTampered):
        decrypt(bytes(envelope), aggregator, CTX)


def test_tampered_nonce_is_rejected(aggregator) -> None:
    envelope = bytearray(encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator), CTX))
    envelope[HEADER_SIZE - 1] ^= 0x80
    with pytest.raises(CiphertextTampered):
        decrypt(bytes(envelope), aggregator, CTX)


def test_tampered_ephemeral_key_is_rejected(aggregator) -> None:
    envelope = bytearray(encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator), CTX))
    envelope[10] ^= 0x01
    with pytest.raises(WrongKey, match="header was altered"):
        decrypt(bytes(envelope), aggregator, CTX)


def test_truncated_envelope_is_rejected(aggregator) -> None:
    envelope = encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator), CTX)
    with pytest.raises(CiphertextTampered):
        decrypt(envelope[:-1], aggregator, CTX)
    with pytest.raises(EnvelopeMalformed):
        decrypt(envelope[: OVERHEAD - 1], aggregator, CTX)


@pytest.mark.parametrize("prefix", [b"XXXX\x02", b"PCMU\x03"], ids=["magic", "version"])
def test_envelope_with_unknown_magic_or_version_is_rejected(aggregator, prefix: bytes) -> None:
    envelope = encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator), CTX)
    with pytest.raises(EnvelopeMalformed):
        decrypt(prefix + envelope[5:], aggregator, CTX)


def test_another_aggregator_cannot_decrypt(aggregator) -> None:
    envelope = encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator), CTX)
    with pytest.raises(WrongKey):
        decrypt(envelope, generate_private_key(), CTX)


def test_evidence_key_opens_its_envelope_and_no_other(aggregator) -> None:
    # Prepare: two trainers' envelopes to the same aggregator
    public = public_key_bytes(aggregator)
    rejected = encrypt_for_aggregator(b"poisoned update", public, CTX)
    other = encrypt_for_aggregator(b"honest update", public, CTX)
    # Execute: the aggregator publishes the rejected submission's key
    key = evidence_key(rejected, aggregator, CTX)
    # Assert: anyone opens that one, and only that one
    assert len(key) == 32
    assert decrypt_with_evidence_key(rejected, key, CTX) == b"poisoned update"
    with pytest.raises(WrongKey):
        decrypt_with_evidence_key(other, key, CTX)


def test_evidence_key_does_not_open_a_tampered_envelope(aggregator) -> None:
    envelope = encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator), CTX)
    key = evidence_key(envelope, aggregator, CTX)
    altered = bytearray(envelope)
    altered[-20] ^= 0x01
    with pytest.raises(CiphertextTampered):
        decrypt_with_evidence_key(bytes(altered), key, CTX)


def test_wrong_evidence_key_is_rejected(aggregator) -> None:
    envelope = encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator), CTX)
    with pytest.raises(WrongKey):
        decrypt_with_evidence_key(envelope, os.urandom(32), CTX)
    with pytest.raises(WrongKey):
        decrypt_with_evidence_key(envelope, b"short", CTX)


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
    envelope = encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator), CTX)
    assert envelope_digest(envelope) == keccak(envelope)
    assert len(envelope_digest(envelope)) == 32


# --- the slot binding ------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["chain_id", "contract", "task_id", "round", "trainer"])
def test_envelope_opens_only_under_the_slot_it_was_made_for(aggregator, field: str) -> None:
    # Prepare: the same envelope, asked for under a context that differs in one field
    envelope, key = encrypt_with_key(PACKAGE, public_key_bytes(aggregator), CTX)
    other = dataclasses.replace(CTX, **{field: "0x" + "02" * 20 if field in ("contract", "trainer")
                                        else getattr(CTX, field) + 1})
    # Execute / Assert: the aggregator derives another key (the copier's slot opens nothing), and
    # the envelope's own key does not authenticate it under the other slot either
    assert evidence_key(envelope, aggregator, CTX) == key
    with pytest.raises(WrongKey, match="for this task slot"):
        evidence_key(envelope, aggregator, other)
    with pytest.raises(CiphertextTampered, match="another task slot"):
        decrypt_with_evidence_key(envelope, key, other)


def test_copier_key_differs_from_the_victims_and_opens_nothing(aggregator) -> None:
    # Prepare: trainer A's envelope, copied byte for byte into trainer B's slot
    victim, victim_key = encrypt_with_key(b"A's private update", public_key_bytes(aggregator), CTX)
    copier = dataclasses.replace(CTX, trainer="0x" + "02" * 20)
    # Execute: what a careless aggregator could derive for B's slot (the raw KDF output, no check)
    from market.encryption import _derive_key, _split

    _, ephemeral, _, _, _ = _split(victim)
    shared = aggregator.exchange(load_public_key(ephemeral))
    copier_key = _derive_key(shared, ephemeral, public_key_bytes(aggregator), copier)
    # Assert: not A's key, and it opens A's envelope under neither slot
    assert copier_key != victim_key
    for context in (CTX, copier):
        with pytest.raises(WrongKey):
            decrypt_with_evidence_key(victim, copier_key, context)


def test_context_encoding_is_canonical_and_checked() -> None:
    lower = EnvelopeContext(chain_id=1, contract="0x" + "ab" * 20, task_id=0, round=0, trainer="0x" + "cd" * 20)
    upper = EnvelopeContext(chain_id=1, contract="0x" + "AB" * 20, task_id=0, round=0, trainer="0x" + "CD" * 20)
    assert lower == upper and lower.to_bytes() == upper.to_bytes()
    assert len(lower.to_bytes()) == len(ROOT_SET_CONTEXT.to_bytes())  # fixed width
    assert ROOT_SET_CONTEXT.to_bytes() != lower.to_bytes()
    for bad in (dict(chain_id=-1), dict(task_id=2**256), dict(round=1.5), dict(trainer="0x12"), dict(contract=7)):
        with pytest.raises(InvalidEnvelopeContext):
            dataclasses.replace(lower, **bad)


def test_version_1_envelope_is_refused_with_a_clear_error(aggregator) -> None:
    envelope = bytearray(encrypt_for_aggregator(PACKAGE, public_key_bytes(aggregator), CTX))
    envelope[4] = 1
    with pytest.raises(UnsupportedEnvelopeVersion, match="version 1 .*not bound to its task slot"):
        decrypt(bytes(envelope), aggregator, CTX)
    assert issubclass(UnsupportedEnvelopeVersion, EnvelopeMalformed)


# --- public keys -----------------------------------------------------------------------------
@pytest.mark.parametrize("point", LOW_ORDER + [bytes(LOW_ORDER[2][:31]) + bytes([LOW_ORDER[2][31] | 0x80])],
                         ids=[f"low-order-{i}" for i in range(len(LOW_ORDER))] + ["high-bit"])
def test_low_order_and_zero_public_keys_are_refused(point: bytes) -> None:
    with pytest.raises(InvalidPublicKey, match="all-zero|low-order"):
        check_public_key(point)
    with pytest.raises(InvalidPublicKey):  # a trainer's encryption stops with a typed error
        encrypt_with_key(b"update", point, CTX)


@pytest.mark.parametrize("key", [b"\x01" * 31, b"\x01" * 33, "0x1234", "zz" * 32, ""])
def test_public_key_of_wrong_length_or_not_hex_is_refused(key) -> None:
    with pytest.raises(InvalidPublicKey):
        check_public_key(key)


def test_good_public_key_passes_as_bytes_and_hex(aggregator) -> None:
    raw = public_key_bytes(aggregator)
    assert check_public_key(raw) == raw == check_public_key("0x" + raw.hex()) == check_public_key(raw.hex())
    assert issubclass(InvalidPublicKey, KeyFileError) and issubclass(InvalidPublicKey, EncryptionError)
    assert issubclass(InvalidPublicKey, ValueError)

"""Encryption of update packages to the aggregator, and evidence keys.

A trainer encrypts each package to the aggregator's X25519 public key (recorded with the
task), so the blob on IPFS is ciphertext. The construction is HPKE-style (RFC 9180 base mode
in spirit, built only from ``cryptography`` primitives):

1. a fresh ephemeral X25519 key pair per envelope; ``shared = X25519(ephemeral, aggregator)``;
2. ``key = HKDF-SHA256(shared, salt = ephemeral_pub ‖ aggregator_pub, info = INFO)``, 32 bytes;
3. ``commitment = HMAC-SHA256(key, "key commitment")`` in the header, which makes the AEAD
   key-committing (no second key opens the same envelope);
4. ``ChaCha20-Poly1305(key, nonce, plaintext, aad = header)``.

Envelope (version 1)::

    magic "PCMU" (4) | version (1) | ephemeral public key (32) | key commitment (32)
    | nonce (12) | ciphertext with its 16-byte tag

``key`` is the envelope's **evidence key**: the aggregator can publish it (see
:func:`evidence_key`) to prove a submission invalid; anyone then opens that one envelope with
:func:`decrypt_with_evidence_key`. Every envelope has its own ephemeral key, hence its own
key: an evidence key opens nothing else and reveals nothing about the aggregator's key.

RFC 9180 HPKE as shipped by ``cryptography`` (``hazmat.primitives.hpke``) is single-shot and
does not expose the per-message key, which evidence disclosure needs; hence this layout.
The on-chain digest covers the stored envelope bytes: :func:`envelope_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_utils import keccak

from market.exceptions import MarketError, MarketValueError
from market.tracing import traced

MAGIC = b"PCMU"
VERSION = 1
INFO = b"proof-of-contribution-market/update-envelope/v1"
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
HEADER_SIZE = len(MAGIC) + 1 + 32 + 32 + NONCE_SIZE
OVERHEAD = HEADER_SIZE + TAG_SIZE
"""Bytes an envelope adds to its plaintext (97)."""
MAX_PLAINTEXT = (1 << 31) - 1 - TAG_SIZE
"""Largest plaintext one envelope holds (the AEAD's one-shot limit)."""


# --- exceptions --------------------------------------------------------------------------
class EncryptionError(MarketError):
    """Encrypting, decrypting or handling keys failed."""


class EnvelopeMalformed(EncryptionError, MarketValueError):
    """The bytes are not an envelope of a version this code reads."""


class DecryptionFailed(EncryptionError):
    """An envelope could not be opened."""


class WrongKey(DecryptionFailed):
    """The key does not belong to this envelope (another envelope's evidence key, another
    aggregator's private key, or an altered header)."""


class CiphertextTampered(DecryptionFailed):
    """The key is right but the ciphertext or header fails authentication: altered bytes."""


class KeyFileError(EncryptionError):
    """A key file or key value cannot be read."""


# --- keys --------------------------------------------------------------------------------
def generate_private_key() -> X25519PrivateKey:
    """A new aggregator key pair (X25519)."""
    return X25519PrivateKey.generate()


def public_key_bytes(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key (what the task records on chain)."""
    public = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key(value: bytes | str | X25519PublicKey) -> X25519PublicKey:
    """A public key from 32 raw bytes or their hex (``0x`` optional)."""
    if isinstance(value, X25519PublicKey):
        return value
    try:
        raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)
        return X25519PublicKey.from_public_bytes(raw)
    except ValueError as err:
        raise KeyFileError(f"not an X25519 public key: {err}") from None


def save_private_key(key: X25519PrivateKey, path: str | os.PathLike[str], password: bytes | None = None) -> None:
    """Write the private key as PKCS#8 PEM (encrypted when ``password`` is given), mode 0600."""
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def load_private_key(path: str | os.PathLike[str], password: bytes | None = None) -> X25519PrivateKey:
    """Read a private key written by :func:`save_private_key`."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=password)
    except FileNotFoundError:
        raise KeyFileError(f"no key file at {path}") from None
    except (ValueError, TypeError) as err:
        raise KeyFileError(f"cannot read the key in {path} (wrong password?): {err}") from None
    if not isinstance(key, X25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an X25519 key")
    return key


# --- envelopes ---------------------------------------------------------------------------
def _derive_key(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=ephemeral_public + recipient_public, info=INFO)
    return hkdf.derive(shared)


def _key_commitment(key: bytes) -> bytes:
    return hmac.new(key, b"key commitment", hashlib.sha256).digest()


def _split(envelope: bytes) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """``(header, ephemeral public key, commitment, nonce, ciphertext)``."""
    if len(envelope) < OVERHEAD or envelope[: len(MAGIC)] != MAGIC:
        raise EnvelopeMalformed("not an encrypted update envelope (bad magic or too short)")
    if envelope[len(MAGIC)] != VERSION:
        raise EnvelopeMalformed(f"envelope version {envelope[len(MAGIC)]} is not supported (expected {VERSION})")
    at = len(MAGIC) + 1
    ephemeral, commitment, nonce = envelope[at : at + 32], envelope[at + 32 : at + 64], envelope[at + 64 : HEADER_SIZE]
    return envelope[:HEADER_SIZE], ephemeral, commitment, nonce, envelope[HEADER_SIZE:]


@traced("encryption.encrypt")
def encrypt_for_aggregator(plaintext: bytes, aggregator_public_key: bytes | str | X25519PublicKey) -> bytes:
    """Encrypt ``plaintext`` (an update package) to the aggregator; return the envelope."""
    return encrypt_with_key(plaintext, aggregator_public_key)[0]


def encrypt_with_key(plaintext: bytes, aggregator_public_key: bytes | str | X25519PublicKey) -> tuple[bytes, bytes]:
    """Like :func:`encrypt_for_aggregator`, and also return the envelope's evidence key: the
    trainer keeps it to contest a rejection (``contestRejection`` puts it on chain, and anyone
    then opens this one envelope with :func:`decrypt_with_evidence_key`)."""
    if len(plaintext) > MAX_PLAINTEXT:
        raise MarketValueError(f"{len(plaintext)} bytes exceed one envelope's limit of {MAX_PLAINTEXT}")
    recipient = load_public_key(aggregator_public_key)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = public_key_bytes(ephemeral)
    key = _derive_key(ephemeral.exchange(recipient), ephemeral_public, public_key_bytes(recipient))
    nonce = os.urandom(NONCE_SIZE)
    header = MAGIC + bytes([VERSION]) + ephemeral_public + _key_commitment(key) + nonce
    return header + ChaCha20Poly1305(key).encrypt(nonce, plaintext, header), key


def evidence_key(envelope: bytes, private_key: X25519PrivateKey) -> bytes:
    """The 32-byte key of one envelope, which the aggregator may publish as evidence.
    Raises :class:`WrongKey` if the envelope was not made for ``private_key``."""
    _header, ephemeral, commitment, _nonce, _ciphertext = _split(envelope)
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral))
    except ValueError:  # low-order point: all-zero shared secret
        raise WrongKey("the envelope's ephemeral key is invalid") from None
    key = _derive_key(shared, ephemeral, public_key_bytes(private_key))
    if not hmac.compare_digest(_key_commitment(key), commitment):
        raise WrongKey("the envelope was not encrypted to this aggregator key, or its header was altered")
    return key


def decrypt_with_evidence_key(envelope: bytes, key: bytes) -> bytes:
    """Open one envelope with its published evidence key.

    Raises :class:`WrongKey` for a key of another envelope and :class:`CiphertextTampered`
    if the envelope was altered.
    """
    header, _ephemeral, commitment, nonce, ciphertext = _split(envelope)
    if len(key) != KEY_SIZE or not hmac.compare_digest(_key_commitment(bytes(key)), commitment):
        raise WrongKey("this evidence key does not belong to this envelope")
    try:
        return ChaCha20Poly1305(bytes(key)).decrypt(nonce, ciphertext, header)
    except InvalidTag:
        raise CiphertextTampered("the envelope fails authentication: its ciphertext was altered") from None


def decrypt(envelope: bytes, private_key: X25519PrivateKey) -> bytes:
    """Open an envelope with the aggregator's private key."""
    return decrypt_with_evidence_key(envelope, evidence_key(envelope, private_key))


def envelope_digest(envelope: bytes) -> bytes:
    """keccak256 of the stored envelope bytes: the ``bytes32`` digest recorded on chain."""
    return keccak(envelope)


def sha256_digest(envelope: bytes) -> bytes:
    """SHA-256 of the stored envelope bytes (for tools that prefer it)."""
    return hashlib.sha256(envelope).digest()

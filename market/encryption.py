"""Encryption of update packages to the aggregator, bound to their task slot, and evidence keys.

A trainer encrypts each package to the aggregator's X25519 public key (recorded with the
task), so the blob on IPFS is ciphertext. The construction is HPKE-style (RFC 9180 base mode
in spirit, built only from ``cryptography`` primitives), and every envelope is bound to the
slot it was made for, an :class:`EnvelopeContext` (chain id, contract, task, round, trainer):

1. a fresh ephemeral X25519 key pair per envelope; ``shared = X25519(ephemeral, aggregator)``;
2. ``key = HKDF-SHA256(shared, salt = ephemeral_pub ‖ aggregator_pub, info = INFO ‖ context)``,
   32 bytes, ``context`` the slot's canonical encoding (:meth:`EnvelopeContext.to_bytes`);
3. ``commitment = HMAC-SHA256(key, "key commitment")`` in the header, which makes the AEAD
   key-committing (no second key opens the same envelope);
4. ``ChaCha20-Poly1305(key, nonce, plaintext, aad = header ‖ context)``.

Envelope (version 2)::

    magic "PCMU" (4) | version (1) | ephemeral public key (32) | key commitment (32)
    | nonce (12) | ciphertext with its 16-byte tag

``key`` is the envelope's **evidence key**: the aggregator can publish it (see
:func:`evidence_key`) to prove a submission invalid; anyone then opens that one envelope with
:func:`decrypt_with_evidence_key` and the slot's context. Every envelope has its own ephemeral
key, hence its own key: an evidence key opens nothing else and reveals nothing about the
aggregator's key. Because the slot is in the KDF, the key the aggregator derives for a *copied*
envelope under the copier's slot is not the victim's key: it fails the key commitment, so the
copy is undecryptable and no key of the victim's envelope is ever derived for the copier.
Version 1 envelopes (no slot binding) are refused (:class:`UnsupportedEnvelopeVersion`).

RFC 9180 HPKE as shipped by ``cryptography`` (``hazmat.primitives.hpke``) is single-shot and
does not expose the per-message key, which evidence disclosure needs; hence this layout.
The on-chain digest covers the stored envelope bytes: :func:`envelope_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_utils import is_address, keccak, to_checksum_address

from market.exceptions import MarketError, MarketValueError
from market.tracing import traced

MAGIC = b"PCMU"
VERSION = 2
"""Envelope layout this code writes and reads (1: before slot binding, refused)."""
INFO = b"proof-of-contribution-market/update-envelope/v2"
CONTEXT_TAG = b"proof-of-contribution-market/envelope-context/v2"
ZERO_ADDRESS = "0x" + "00" * 20
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


class UnsupportedEnvelopeVersion(EnvelopeMalformed):
    """The envelope has a layout version this code does not read (version 1: not bound to its slot)."""


class KeyFileError(EncryptionError):
    """A key file or key value cannot be read."""


class InvalidPublicKey(KeyFileError, MarketValueError):
    """A public key is unusable: wrong length, all zero, or a low-order X25519 point (every
    exchange with it gives the all-zero shared secret, so nothing encrypted to it is secret)."""


class InvalidEnvelopeContext(EncryptionError, MarketValueError):
    """An envelope context holds a value out of range or an address that is not one."""


# --- the slot an envelope is bound to -----------------------------------------------------
_UINT256 = 1 << 256


@dataclass(frozen=True)
class EnvelopeContext:
    """The slot an envelope is made for: the chain, the Marketplace contract, the task, the round
    and the trainer. Its canonical bytes (:meth:`to_bytes`) go into the envelope key's KDF and the
    AEAD's associated data, so an envelope opens only under the slot it was encrypted for."""

    chain_id: int
    contract: str
    """The Marketplace's address (checksummed on the way in)."""
    task_id: int
    round: int
    trainer: str
    """The trainer's address (checksummed on the way in)."""

    def __post_init__(self) -> None:
        for name in ("chain_id", "task_id", "round"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value < _UINT256:
                raise InvalidEnvelopeContext(f"envelope context: {name} = {value!r} is not a uint256")
        for name in ("contract", "trainer"):
            value = getattr(self, name)
            if not isinstance(value, str) or not is_address(value):
                raise InvalidEnvelopeContext(f"envelope context: {name} = {value!r} is not an address")
            object.__setattr__(self, name, to_checksum_address(value))

    def to_bytes(self) -> bytes:
        """Canonical encoding: a tag, then fixed-width fields (uint256 big-endian, 20-byte
        addresses), so two different contexts never encode alike."""
        word = lambda value: value.to_bytes(32, "big")  # noqa: E731
        return (CONTEXT_TAG + word(self.chain_id) + bytes.fromhex(self.contract[2:]) + word(self.task_id)
                + word(self.round) + bytes.fromhex(self.trainer[2:]))


ROOT_SET_CONTEXT = EnvelopeContext(chain_id=0, contract=ZERO_ADDRESS, task_id=0, round=0, trainer=ZERO_ADDRESS)
"""The context of an owner's sealed root set (:func:`market.root_set.seal_root_set`): sealed before
its task exists, so bound to no slot; chain id 0 is no EIP-155 chain's, so no update slot has it."""


# --- keys --------------------------------------------------------------------------------
def generate_private_key() -> X25519PrivateKey:
    """A new aggregator key pair (X25519)."""
    return X25519PrivateKey.generate()


def public_key_bytes(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key (what the task records on chain)."""
    public = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key(value: bytes | str | X25519PublicKey) -> X25519PublicKey:
    """A public key from 32 raw bytes or their hex (``0x`` optional), checked by
    :func:`check_public_key`."""
    raw = public_key_bytes(value) if isinstance(value, X25519PublicKey) else value
    return X25519PublicKey.from_public_bytes(check_public_key(raw))


def check_public_key(key: bytes | bytearray | str) -> bytes:
    """The 32 raw bytes of a usable X25519 public key (raw bytes or hex, ``0x`` optional).

    Raises :class:`InvalidPublicKey` for a wrong length, the all-zero key, and every low-order
    point (including non-canonical encodings): an exchange with a throwaway key gives the
    all-zero shared secret for those, which ``cryptography`` refuses with a ``ValueError``.
    """
    try:
        raw = bytes.fromhex(key.removeprefix("0x")) if isinstance(key, str) else bytes(key)
    except (ValueError, TypeError):
        raise InvalidPublicKey(f"not an X25519 public key: {str(key)[:80]!r} is not hex") from None
    if len(raw) != KEY_SIZE:
        raise InvalidPublicKey(f"an X25519 public key is {KEY_SIZE} bytes, got {len(raw)}")
    if not any(raw):
        raise InvalidPublicKey("the all-zero X25519 public key is not a key (every shared secret would be zero)")
    try:
        X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(raw))
    except ValueError:
        raise InvalidPublicKey(f"0x{raw.hex()} is a low-order X25519 point (every shared secret would be "
                               "zero)") from None
    return raw


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
def _derive_key(shared: bytes, ephemeral_public: bytes, recipient_public: bytes, context: EnvelopeContext) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=ephemeral_public + recipient_public,
                info=INFO + context.to_bytes())
    return hkdf.derive(shared)


def _key_commitment(key: bytes) -> bytes:
    return hmac.new(key, b"key commitment", hashlib.sha256).digest()


def _split(envelope: bytes) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """``(header, ephemeral public key, commitment, nonce, ciphertext)``."""
    if len(envelope) < OVERHEAD or envelope[: len(MAGIC)] != MAGIC:
        raise EnvelopeMalformed("not an encrypted update envelope (bad magic or too short)")
    if (version := envelope[len(MAGIC)]) != VERSION:
        why = " (not bound to its task slot; the trainer must encrypt again)" if version == 1 else ""
        raise UnsupportedEnvelopeVersion(f"envelope version {version} is not supported{why}: this code reads "
                                         f"version {VERSION}")
    at = len(MAGIC) + 1
    ephemeral, commitment, nonce = envelope[at : at + 32], envelope[at + 32 : at + 64], envelope[at + 64 : HEADER_SIZE]
    return envelope[:HEADER_SIZE], ephemeral, commitment, nonce, envelope[HEADER_SIZE:]


@traced("encryption.encrypt")
def encrypt_for_aggregator(plaintext: bytes, aggregator_public_key: bytes | str | X25519PublicKey,
                           context: EnvelopeContext) -> bytes:
    """Encrypt ``plaintext`` (an update package) to the aggregator for the slot ``context``;
    return the envelope."""
    return encrypt_with_key(plaintext, aggregator_public_key, context)[0]


def encrypt_with_key(plaintext: bytes, aggregator_public_key: bytes | str | X25519PublicKey,
                     context: EnvelopeContext) -> tuple[bytes, bytes]:
    """Like :func:`encrypt_for_aggregator`, and also return the envelope's evidence key: the
    trainer keeps it to contest a rejection (``contestRejection`` puts it on chain, and anyone
    then opens this one envelope with :func:`decrypt_with_evidence_key` and ``context``).
    Raises :class:`InvalidPublicKey` for a key nothing can be kept secret under."""
    if len(plaintext) > MAX_PLAINTEXT:
        raise MarketValueError(f"{len(plaintext)} bytes exceed one envelope's limit of {MAX_PLAINTEXT}")
    recipient = load_public_key(aggregator_public_key)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = public_key_bytes(ephemeral)
    key = _derive_key(ephemeral.exchange(recipient), ephemeral_public, public_key_bytes(recipient), context)
    nonce = os.urandom(NONCE_SIZE)
    header = MAGIC + bytes([VERSION]) + ephemeral_public + _key_commitment(key) + nonce
    return header + ChaCha20Poly1305(key).encrypt(nonce, plaintext, header + context.to_bytes()), key


def evidence_key(envelope: bytes, private_key: X25519PrivateKey, context: EnvelopeContext) -> bytes:
    """The 32-byte key of one envelope under the slot ``context``, which the aggregator may
    publish as evidence. Raises :class:`WrongKey` if the envelope was not made for
    ``private_key`` *and this slot* (a copy of another slot's envelope derives another key)."""
    _header, ephemeral, commitment, _nonce, _ciphertext = _split(envelope)
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral))
    except ValueError:  # low-order point: all-zero shared secret
        raise WrongKey("the envelope's ephemeral key is invalid") from None
    key = _derive_key(shared, ephemeral, public_key_bytes(private_key), context)
    if not hmac.compare_digest(_key_commitment(key), commitment):
        raise WrongKey("the envelope was not encrypted to this aggregator key for this task slot, or its header "
                       "was altered")
    return key


def decrypt_with_evidence_key(envelope: bytes, key: bytes, context: EnvelopeContext) -> bytes:
    """Open one envelope with its published evidence key, under its slot ``context``.

    Raises :class:`WrongKey` for a key of another envelope and :class:`CiphertextTampered`
    if the envelope was altered or ``context`` is not the slot it was made for.
    """
    header, _ephemeral, commitment, nonce, ciphertext = _split(envelope)
    if len(key) != KEY_SIZE or not hmac.compare_digest(_key_commitment(bytes(key)), commitment):
        raise WrongKey("this evidence key does not belong to this envelope")
    try:
        return ChaCha20Poly1305(bytes(key)).decrypt(nonce, ciphertext, header + context.to_bytes())
    except InvalidTag:
        raise CiphertextTampered("the envelope fails authentication: its ciphertext was altered, or it was "
                                 "made for another task slot") from None


def decrypt(envelope: bytes, private_key: X25519PrivateKey, context: EnvelopeContext) -> bytes:
    """Open an envelope with the aggregator's private key, under its slot ``context``."""
    return decrypt_with_evidence_key(envelope, evidence_key(envelope, private_key, context), context)


def envelope_digest(envelope: bytes) -> bytes:
    """keccak256 of the stored envelope bytes: the ``bytes32`` digest recorded on chain."""
    return keccak(envelope)


def sha256_digest(envelope: bytes) -> bytes:
    """SHA-256 of the stored envelope bytes (for tools that prefer it)."""
    return hashlib.sha256(envelope).digest()

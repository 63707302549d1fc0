"""The malformed submissions of the intake fuzz (:mod:`benchmarks.intake_fuzz`), one family a
function, each drawn from a seeded :class:`random.Random`.

A :class:`FuzzWorld` is one task's round on the embedded store: the aggregator's key, a small
model spec, the slot's chain values, and helpers that build honest packages, seal them for a slot
and store them. Each family returns a :class:`FuzzCase`: what the chain would hold for the slot
(the CID, the digest, the sketch commitment) and the rejection reasons it may end in. Families
cover what issue 12 lists: truncated, duplicated and nested headers, wrong dtypes and shapes,
NaN/inf, huge declared sizes and DAG bombs, wrong keys, replayed envelopes (another round's,
trainer's, task's), directory, dag-cbor and raw CIDs, garbage bytes, and a valid envelope
around a garbage package.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from benchmarks import hostile_dags
from market.encryption import OVERHEAD, EnvelopeContext, encrypt_for_aggregator, envelope_digest, public_key_bytes
from market.storage import EmbeddedStorage, compute_cid
from market.update_package import MAX_HEADER_BYTES, UpdateMetadata, build_update_package, model_spec_hash
from zk.protocol.commitment import random_salt, sketch_commitment
from zk.protocol.sketch import SketchParams, sketch_update

__all__ = ["FAMILIES", "FuzzCase", "FuzzWorld", "control_case"]

PARAM_SPEC = {"fc.bias": ((8,), "float32"), "fc.weight": ((8, 16), "float32")}
PACKAGE_CODES = frozenset({"too-large", "malformed", "malformed-header", "bad-metadata", "too-many-samples",
                           "metadata-mismatch", "wrong-names", "wrong-dtype", "wrong-shape", "non-finite",
                           "norm-too-large"})
"""Every reason an envelope that opens may end in before its sketch is checked."""


@dataclass(frozen=True)
class FuzzCase:
    """One submission slot as the chain records it, and the reasons it may be rejected with
    (empty: it must be accepted)."""

    family: str
    slot: int
    trainer: str
    cid: str
    digest: bytes
    commitment: int
    expect: frozenset[str]


@dataclass
class FuzzWorld:
    """One round of one task on an embedded store in ``folder``."""

    folder: Path
    key: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate)
    chain_id: int = 1337
    contract: str = "0x" + "5e" * 20
    task_id: int = 3
    round_: int = 1
    seed: int = 987_654_321
    max_bytes: int = 2 << 20
    max_norm: float = 10.0
    sketch_params: SketchParams = field(default_factory=lambda: SketchParams(k=32))
    trainers: tuple[str, ...] = tuple(f"0x{i:040x}" for i in range(1, 9))

    def __post_init__(self) -> None:
        self.storage = EmbeddedStorage(self.folder / "blocks")
        self.public = public_key_bytes(self.key)

    def checks(self) -> dict[str, Any]:
        """The keyword arguments of intake the service passes (aggregator/service.py)."""
        return dict(private_key=self.key, param_spec=PARAM_SPEC, chain_id=self.chain_id, contract=self.contract,
                    task_id=self.task_id, round_=self.round_, seed=self.seed, sketch_params=self.sketch_params,
                    max_bytes=self.max_bytes, max_norm=self.max_norm)

    def context(self, trainer: str, **changes: Any) -> EnvelopeContext:
        values = dict(chain_id=self.chain_id, contract=self.contract, task_id=self.task_id, round=self.round_,
                      trainer=trainer)
        return EnvelopeContext(**{**values, **changes})

    def tensors(self, rng: random.Random) -> dict[str, np.ndarray]:
        gen = np.random.default_rng(rng.getrandbits(32))
        return {name: gen.normal(0, 0.05, shape).astype(dtype) for name, (shape, dtype) in PARAM_SPEC.items()}

    def metadata(self, trainer: str, **changes: Any) -> dict[str, Any]:
        fields = dict(task_id=self.task_id, round=self.round_, trainer=trainer, num_samples=100,
                      salt=random_salt().to_bytes(32, "big"), model_spec_hash=model_spec_hash(PARAM_SPEC))
        return {**fields, **changes}

    def commitment(self, tensors: dict[str, np.ndarray], salt: bytes) -> int:
        return sketch_commitment(sketch_update(tensors, self.seed, self.sketch_params), int.from_bytes(salt, "big"))

    def seal(self, plaintext: bytes, trainer: str, context: EnvelopeContext | None = None,
             public: bytes | None = None) -> bytes:
        return encrypt_for_aggregator(plaintext, public or self.public, context or self.context(trainer))

    def case(self, family: str, slot: int, envelope: bytes, expect: frozenset[str], *, commitment: int = 1,
             digest: bytes | None = None) -> FuzzCase:
        """Store ``envelope`` and describe the slot that submitted it."""
        cid = self.storage.put(envelope)
        return FuzzCase(family, slot, self.trainers[slot], cid, digest or envelope_digest(envelope), commitment,
                        expect)


Family = Callable[[FuzzWorld, random.Random, int], FuzzCase]


def control_case(world: FuzzWorld, rng: random.Random, slot: int) -> FuzzCase:
    """An honest submission with its true commitment: must be accepted."""
    tensors, meta = world.tensors(rng), world.metadata(world.trainers[slot])
    package = build_update_package(tensors, UpdateMetadata(**meta))
    return world.case("control", slot, world.seal(package, world.trainers[slot]), frozenset(),
                      commitment=world.commitment(tensors, meta["salt"]))


def _sealed_package(world: FuzzWorld, slot: int, family: str, package: bytes, expect: frozenset[str]) -> FuzzCase:
    return world.case(family, slot, world.seal(package, world.trainers[slot]), expect)


def _honest_package(world: FuzzWorld, rng: random.Random, slot: int, **changes: Any) -> bytes:
    return build_update_package(world.tensors(rng), UpdateMetadata(**world.metadata(world.trainers[slot], **changes)))


def _header_split(package: bytes) -> tuple[dict[str, Any], bytes]:
    (size,) = struct.unpack_from("<Q", package)
    return json.loads(package[8 : 8 + size]), package[8 + size :]


def _with_header(header: bytes, body: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header + body


def truncated(world: FuzzWorld, rng: random.Random, slot: int) -> FuzzCase:
    package = _honest_package(world, rng, slot)
    return _sealed_package(world, slot, "truncated", package[: rng.randrange(0, len(package))],
                           frozenset({"malformed"}))


def header_duplicated(world: FuzzWorld, rng: random.Random, slot: int) -> FuzzCase:
    """A key twice in the header, or the whole header twice."""
    header, body = _header_split(_honest_package(world, rng, slot))
    text = json.dumps(header)
    if rng.random() < 0.5:
        name = rng.choice(sorted(header))
        text = text[:-1] + f", {json.dumps(name)}: {json.dumps(header[name])}}}"
    else:
        text = text + text
    return _sealed_package(world, slot, "header-duplicated", _with_header(text.encode(), body),
                           frozenset({"malformed"}))


def header_nested(world: FuzzWorld, rng: random.Random, slot: int) -> FuzzCase:
    """Arrays or objects nested 4 to 400k deep, in the header or in a tensor's entry."""
    opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
    depth = min(rng.choice([4, 5, 50, 1000, 100_000, 400_000]), MAX_HEADER_BYTES // (len(opener) + 1) - 1)
    header, body = _header_split(_honest_package(world, rng, slot))
    if depth > 1000 or rng.random() < 0.5:
        raw = opener * depth + (b"1" if opener != b"[" else b"") + closer * depth
    else:
        raw = json.dumps(header).encode()[:-1] + b', "deep": ' + b"[" * depth + b"]" * depth + b"}"
    return _sealed_package(world, slot, "header-nested", _with_header(raw, body), frozenset({"malformed-header"}))


def header_garbage(world: FuzzWorld, rng: random.Random, slot: int) -> FuzzCase:
    """A header that is not UTF-8, not JSON, not an object, or whose length lies."""
    header, body = _header_split(_honest_package(world, rng, slot))
    raw = json.dumps(header).encode()
    kind = rng.randrange(5)
    if kind == 0:
        package = _with_header(b"\xff\xfe" + raw, body)
    elif kind == 1:
        package = _with_header(raw[: len(raw) // 2], body)
    elif kind == 2:
        package = _with_header(b'["not", "an", "object"]', body)
    elif kind == 3:
        package = struct.pack("<Q", rng.choice([len(raw) + 10**6, 2**64 - 1, 2 << 20])) + raw + body
    else:
        package = _with_header(json.dumps({**header, "__metadata__": {"format": 7}}).encode(), body)
    return _sealed_package(world, slot, "header-garbage", package, frozenset({"malformed", "bad-metadata"}))


def tensor_entries(world: FuzzWorld, rng: random.Random, slot: int) -> FuzzCase:
    """Offsets that overlap or leave gaps, unknown dtypes, shapes that disagree with the bytes."""
    header, body = _header_split(_honest_package(world, rng, slot))
    name = rng.choice(sorted(k for k in header if k != "__metadata__"))
    entry = header[name]
    kind = rng.randrange(4)
    if kind == 0:
        entry["data_offsets"] = [entry["data_offsets"][0] + 4, entry["data_offsets"][1] + 4]
    elif kind == 1:
        entry["dtype"] = rng.choice(["F8_E4M3", "C64", "object", "", "f32"])
    elif kind == 2:
        entry["shape"] = rng.choice([[10**12, 10**12], [-1], [1.5], "8"])
    else:
        entry["extra"] = True
    return _sealed_package(world, slot, "tensor-entries", _with_header(json.dumps(header).encode(), body),
                           frozenset({"malformed", "wrong-dtype"}))


def wrong_tensors(world: FuzzWorld, rng: random.Random, slot: int) -> FuzzCase:
    """Another dtype or shape, a tensor missing or added, NaN or infinity, a huge norm."""
    tensors = world.tensors(rng)
    name = rng.choice(sorted(tensors))
    kind = rng.randrange(6)
    reason = ["wrong-dtype", "wrong-shape", "wrong-names", "wrong-names", "non-finite", "norm-too-large"][kind]
    if kind == 0:
        tensors[name] = tensors[name].astype(rng.choice([np.float64, np.float16, np.int32, np.uint8, np.bool_]))
    elif kind == 1:
        tensors[name] = np.zeros(rng.choice([(3,), (16, 8), (8, 16, 1), ()]), np.float32)
    elif kind == 2:
        del tensors[name]
    elif kind == 3:
        tensors["extra.weight"] = np.zeros(4, np.float32)
    elif kind == 4:
        tensors[name].flat[rng.randrange(tensors[name].size)] = rng.choice([np.nan, np.inf, -np.inf])
    else:
        tensors[name] = tensors[name] * 1e6
    package = build_update_package(tensors, UpdateMetadata(**world.metadata(world.trainers[slot])))
    return _sealed_package(world, slot, "wrong-tensors", package, frozenset({reason}))


_BAD_METADATA: tuple[tuple[str, Any, str], ...] = (
    ("num_samples", "0", "bad-metadata"), ("num_samples", "-5", "bad-metadata"),
    ("num_samples", str(10**30), "too-many-samples"), ("num_samples", str(10**9 + 1), "too-many-samples"),
    ("num_samples", "1e9", "bad-metadata"), ("num_samples", "9" * 5000, "bad-metadata"),
    ("salt", "", "bad-metadata"), ("salt", "0xzz", "bad-metadata"), ("trainer", "0x1234", "bad-metadata"),
    ("model_spec_hash", "0x" + "00" * 32, "metadata-mismatch"), ("model_spec_hash", "0x00", "bad-metadata"),
    ("format", "safetensors", "bad-metadata"), ("version", "2", "bad-metadata"),
    ("task_id", "999", "metadata-mismatch"), ("round", "0", "metadata-mismatch"),
    ("sketch", "[1, [2]]", "bad-metadata"), ("sketch", "[" * 300_000 + "]" * 300_000, "bad-metadata"),
    ("sketch", "not json", "bad-metadata"), ("metrics", '{"loss": NaN}', "bad-metadata"),
    ("metrics", '{"a":' * 100_000 + "1" + "}" * 100_000, "bad-metadata"), ("metrics", "[1, 2]", "bad-metadata"),
)  # fmt: skip


def bad_metadata(world: FuzzWorld, rng: random.Random, slot: int) -> FuzzCase:
    """One ``__metadata__`` field out of range, missing, nested deep, or naming another task,
    round or trainer."""
    name, value, reason = rng.choice(_BAD_METADATA)
    header, body = _header_split(_honest_package(world, rng, slot))
    fields = header["__metadata__"]
    if rng.random() < 0.1 and name != "metrics":  # metrics is optional: its absence is no fault
        del fields[name]
        reason = "bad-metadata"
    elif name == "trainer" and rng.random() < 0.5:
        fields[name], reason = world.trainers[(slot + 1) % len(world.trainers)], "metadata-mismatch"
    else:
        fields[name] = value
    return _sealed_package(world, slot, "bad-metadata", _with_header(json.dumps(header).encode(), body),
                           frozenset({reason}))


def replayed(world: FuzzWorld, rng: random.Random, slot: int) -> FuzzCase:
    """A valid envelope made for another slot: another trainer's, round's, task's, contract's
    or chain's, submitted with its own digest."""
    other = world.trainers[(slot + 1 + rng.randrange(len(world.trainers) - 1)) % len(world.trainers)]
    kind = rng.randrange(5)
    owner = other if kind == 0 else world.trainers[slot]
    changes = [{}, {"round": world.round_ - 1}, {"task_id": world.task_id + 1},
               {"contract": "0x" + "77" * 20}, {"chain_id": 1}][kind]
    tensors, meta = world.tensors(rng), world.metadata(owner, **{k: v for k, v in changes.items()
                                                                  if k in ("round", "task_id")})
    package = build_update_package(tensors, UpdateMetadata(**meta))
    envelope = world.seal(package, owner, world.context(owner, **changes))
    return world.case("replayed", slot, envelope, frozenset({"undecryptable"}),
                      commitment=world.commitment(tensors, meta["salt"]))


def wrong_key(world: FuzzWorld, rng: random.Random, slot: int) -> FuzzCase:
    """An envelope sealed to another aggregator key (an owner's substitute, or a random one)."""
    envelope = world.seal(_honest_package(world, rng, slot), world.trainers[slot],
                          public=public_key_bytes(X25519PrivateKey.generate()))
    return world.case("wrong-key", slot, envelope, frozenset({"undecryptable"}))


def garbage(world: FuzzWorld, rng: random.Random, slot: int) -> FuzzCase:
    """Random bytes stored as the envelope (their own digest or a random one), or a valid
    envelope around random bytes."""
    blob = rng.randbytes(rng.choice([0, 1, 40, 100, 5000, 300_000]))
    kind = rng.randrange(3)
    if kind == 0:
        return world.case("garbage", slot, blob, frozenset({"undecryptable"}))
    if kind == 1:
        return world.case("garbage", slot, blob, frozenset({"wrong-digest"}), digest=rng.randbytes(32))
    return _sealed_package(world, slot, "garbage", blob, frozenset({"malformed", "malformed-header"}))


def wrong_commitment(world: FuzzWorld, rng: random.Random, slot: int) -> FuzzCase:
    """A valid package whose commitment is missing (0), random, or another update's."""
    tensors, meta = world.tensors(rng), world.metadata(world.trainers[slot])
    package = build_update_package(tensors, UpdateMetadata(**meta))
    commitment = rng.choice([0, rng.getrandbits(250) + 1, world.commitment(world.tensors(rng), meta["salt"])])
    return world.case("wrong-commitment", slot, world.seal(package, world.trainers[slot]),
                      frozenset({"no-sketch-commitment" if commitment == 0 else "sketch-mismatch"}),
                      commitment=commitment)


def oversized(world: FuzzWorld, rng: random.Random, slot: int) -> FuzzCase:
    """Stored content just over the bound intake reads (a real blob, no DAG tricks)."""
    blob = rng.randbytes(world.max_bytes + OVERHEAD + rng.randrange(1, 4096))
    return world.case("oversized", slot, blob, frozenset({"too-large"}))


_DAGS: dict[str, tuple[Callable[[], hostile_dags.HostileDag], frozenset[str]]] = {
    "bomb": (hostile_dags.dag_bomb, frozenset({"too-large"})),
    "bomb-4-levels": (lambda: hostile_dags.dag_bomb(4), frozenset({"too-large"})),
    "lying-root": (lambda: hostile_dags.lying_root(100, inner=hostile_dags.dag_bomb(2)),
                   frozenset({"too-large", "unavailable"})),
    "directory": (hostile_dags.directory, frozenset({"unavailable"})),
    "dag-cbor": (hostile_dags.dag_cbor_block, frozenset({"unavailable"})),
    "tiny-blocks": (lambda: hostile_dags.tiny_blocks(2500), frozenset({"unavailable"})),
    "empty-children": (hostile_dags.empty_children, frozenset({"unavailable"})),
}
_STORED: dict[str, str] = {}


def hostile_cid(world: FuzzWorld, rng: random.Random, slot: int) -> FuzzCase:
    """A CID whose DAG attacks the reader (bomb, lying root, directory, dag-cbor, tiny or empty
    blocks), a CID that is not stored, or a string that is no CID."""
    kind = rng.choice([*sorted(_DAGS), "missing", "invalid"])
    if kind == "missing":
        cid, expect = compute_cid(rng.randbytes(64)), frozenset({"unavailable"})
    elif kind == "invalid":
        cid, expect = rng.choice(["", "Qm", "bafy" + "!" * 50, "not a cid", "z" * 200]), frozenset({"unavailable"})
    else:
        build, expect = _DAGS[kind]
        key = f"{world.folder}:{kind}"
        if key not in _STORED:
            _STORED[key] = build().put_into(world.storage)
        cid = _STORED[key]
    return FuzzCase(f"cid-{kind}", slot, world.trainers[slot], cid, rng.randbytes(32), 1, expect)


FAMILIES: dict[str, Family] = {
    "truncated": truncated, "header-duplicated": header_duplicated, "header-nested": header_nested,
    "header-garbage": header_garbage, "tensor-entries": tensor_entries, "wrong-tensors": wrong_tensors,
    "bad-metadata": bad_metadata, "replayed": replayed, "wrong-key": wrong_key, "garbage": garbage,
    "wrong-commitment": wrong_commitment, "oversized": oversized, "hostile-cid": hostile_cid,
}  # fmt: skip
"""Every family of malformed submission, by name."""

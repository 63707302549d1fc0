"""The round's reference update: the root of trust of the ``reference`` paid rule (no torch).

Each round r the aggregator runs the task's local recipe on the owner's root set from round r's
global model (the app layer passes that function in: :data:`ReferenceTrainer`); the difference
to the global model is the reference update. Before the round's first submission its
:func:`reference_digest` goes on chain (``commitReference``), so the reference cannot be aimed
at any update of the round. After ``closeSubmissions`` fixes the seed it is sketched like every
update (:func:`sketch_reference`) and the sketch's Poseidon commitment goes on chain
(``commitReferenceSketch``); the proof opens it. ``market audit`` recomputes the reference from
the revealed root set and checks digest, sketch and commitment (:func:`check_reference`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from market.model_state import state_from_bytes, state_to_bytes
from market.task_spec import ReferenceSection
from zk.protocol.commitment import random_salt, sketch_commitment
from zk.protocol.reference_rule import ReferenceRuleParams
from zk.protocol.sketch import SketchParams, sketch_update

__all__ = ["REFERENCE_TRAINER_SEED", "ReferenceFiles", "ReferenceSketch", "ReferenceTrainer", "check_reference", "reference_digest", "reference_from_bytes",
           "reference_params", "reference_to_bytes", "sketch_reference"]

REFERENCE_TRAINER_SEED = 7_919
"""The reference's training seed in round r is ``trainers.recipe.round_seed(REFERENCE_TRAINER_SEED, r)``."""

ReferenceTrainer = Callable[[Mapping[str, np.ndarray], int], dict[str, np.ndarray]]
"""``train(global_state, round) -> reference update``: the task's recipe on the root set,
deterministic (CPU, one thread, a seed of the round), so an auditor gets the same bits."""


@dataclass(frozen=True)
class ReferenceSketch:
    """The reference's sketch under the round's seed, its salt and their commitment, and the
    update's digest."""

    sketch: list[int]
    salt: int
    commitment: int
    digest: bytes


def reference_params(section: ReferenceSection) -> ReferenceRuleParams:
    """The rule's parameters as the spec states them."""
    return ReferenceRuleParams(h_num=section.h[0], h_den=section.h[1], cos_num=section.cos[0],
                               cos_den=section.cos[1], norm_num=section.norm[0], norm_den=section.norm[1],
                               dup_num=section.dup[0], dup_den=section.dup[1])


def reference_to_bytes(update: Mapping[str, np.ndarray]) -> bytes:
    """The canonical bytes of a reference update (safetensors, as models are stored)."""
    return state_to_bytes(update)


def reference_from_bytes(data: bytes) -> dict[str, np.ndarray]:
    return state_from_bytes(data)


def reference_digest(update: Mapping[str, np.ndarray]) -> bytes:
    """SHA-256 of :func:`reference_to_bytes`: the 32 bytes ``commitReference`` fixes."""
    return hashlib.sha256(reference_to_bytes(update)).digest()


def sketch_reference(update: Mapping[str, np.ndarray], seed: int, k: int, salt: int | None = None) -> ReferenceSketch:
    """Sketch the reference with the round's seed (the trainers' sketch) and commit to it."""
    sketch = sketch_update(update, seed, SketchParams(k=k))
    salt = random_salt() if salt is None else int(salt)
    return ReferenceSketch(sketch=sketch, salt=salt, commitment=sketch_commitment(sketch, salt),
                           digest=reference_digest(update))


def check_reference(update: Mapping[str, np.ndarray], *, digest: bytes, seed: int, k: int, sketch: list[int],
                    salt: int, commitment: int) -> list[str]:
    """What is wrong with a published reference (empty when nothing is): the recomputed update's
    digest against the chain's, its sketch against the transcript's, the opening against the
    chain's commitment."""
    problems = []
    if reference_digest(update) != bytes(digest):
        problems.append("the recomputed reference's digest is not the one committed on chain")
    if sketch_update(update, seed, SketchParams(k=k)) != list(sketch):
        problems.append("the transcript's reference sketch is not the sketch of the recomputed reference")
    if sketch_commitment(list(sketch), int(salt)) != int(commitment):
        problems.append("the reference sketch and salt do not open the on-chain reference commitment")
    return problems


class ReferenceFiles:
    """The aggregator's own copy of each round's reference update and sketch salt, in its state
    folder: the update is computed once (it is deterministic, but training costs time) and the
    salt is written before ``commitReferenceSketch`` is sent, so that a restarted node can still
    open the commitment it made."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, round_: int, what: str) -> Path:
        return self.folder / f"round{round_}.{what}"

    def update(self, round_: int, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Round ``round_``'s reference update: read back, or computed and written."""
        path = self._path(round_, "reference.safetensors")
        if path.exists():
            return reference_from_bytes(path.read_bytes())
        update = compute()
        _replace(path, reference_to_bytes(update))
        return update

    def salt(self, round_: int) -> int | None:
        path = self._path(round_, "reference-salt")
        return int(path.read_text().strip()) if path.exists() else None

    def save_salt(self, round_: int, salt: int) -> None:
        _replace(self._path(round_, "reference-salt"), f"{int(salt)}\n".encode())


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)

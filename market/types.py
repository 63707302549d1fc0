"""Typed views of the Marketplace's structs, and the conversions to and from the ABI."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
SLASH_SINK = "0x000000000000000000000000000000000000dEaD"
"""``Marketplace.SLASH_SINK``: slashed stakes are credited here (``CreditKind.SLASHED``), to an
address nobody holds a key to; no party of a task gains from a trainer's slashing."""


class TaskState(IntEnum):
    """Mirrors ``IMarketplace.TaskState``."""

    OPEN = 0
    TRAINING = 1
    FINISHED = 2
    CANCELLED = 3
    ABORTED = 4

    def label(self) -> str:
        return self.name.capitalize()


class CreditKind(IntEnum):
    """Mirrors ``IMarketplace.CreditKind``."""

    REWARD = 0
    STAKE_RETURNED = 1
    SLASH_SHARE = 2
    """No longer credited (slashed stakes go to :data:`SLASH_SINK` as ``SLASHED``); kept so the
    kinds keep their numbers."""
    REFUND = 3
    DUST = 4
    SLASHED = 5
    """Slashed stakes, credited only to :data:`SLASH_SINK`."""
    WITHHELD = 6
    """The reserve of the rounds' rejected and flagged slots, credited only to :data:`SLASH_SINK`."""


def bits_to_mask(bits: list[bool] | tuple[bool, ...]) -> int:
    """[True, False, True] → 0b101 (bit i = slot i)."""
    return sum(1 << i for i, bit in enumerate(bits) if bit)


def mask_to_bits(mask: int, n: int) -> list[bool]:
    """0b101, 3 → [True, False, True]."""
    return [bool((mask >> i) & 1) for i in range(n)]


@dataclass(frozen=True)
class TaskConfig:
    """What an owner fixes when posting a task (``IMarketplace.TaskConfig``). Times are unix
    seconds, windows seconds, amounts wei."""

    spec_cid: str
    aggregator: str
    join_deadline: int
    aggregator_key: bytes = b"\x00" * 32
    verifier: str = ZERO_ADDRESS
    stake_wei: int = 0
    submission_window: int = 3600
    sketch_window: int = 600
    publish_grace: int = 3600
    rounds: int = 1
    min_trainers: int = 1
    max_trainers: int = 16
    strikes_to_slash: int = 2
    """Strikes after which the stake is slashed: rounds with a proven flag, and rounds the trainer
    submitted nothing to while others did (rejections never count)."""
    contest_window: int = 0
    """Seconds after the last publication during which rejected trainers may still contest
    before anyone can finalize (0: finalize at once)."""
    allowlist_only: bool = False
    """Only accounts the owner allowed (``allowTrainers``) may join."""

    def to_abi(self) -> tuple:
        key = self.aggregator_key
        if len(key) != 32:
            raise ValueError(f"aggregator_key must be 32 bytes (an X25519 public key), got {len(key)}")
        return (
            self.spec_cid, self.aggregator, key, self.verifier, self.stake_wei, self.join_deadline,
            self.submission_window, self.sketch_window, self.publish_grace, self.rounds,
            self.min_trainers, self.max_trainers, self.strikes_to_slash, self.contest_window, self.allowlist_only,
        )

    @classmethod
    def from_abi(cls, raw: tuple) -> "TaskConfig":
        (spec_cid, aggregator, key, verifier, stake, join_deadline, sub_w, sketch_w, grace, rounds,
         min_t, max_t, strikes, contest, allowlist_only) = raw
        return cls(
            spec_cid=spec_cid, aggregator=aggregator, aggregator_key=bytes(key), verifier=verifier,
            stake_wei=stake, join_deadline=join_deadline, submission_window=sub_w, sketch_window=sketch_w,
            publish_grace=grace, rounds=rounds, min_trainers=min_t, max_trainers=max_t, strikes_to_slash=strikes,
            contest_window=contest, allowlist_only=bool(allowlist_only),
        )


@dataclass(frozen=True)
class VerifierInfo:
    """A verifier's entry in the Marketplace's registry (``verifierInfo``)."""

    approved: bool
    code_hash: bytes
    slots: int


@dataclass(frozen=True)
class TaskInfo:
    """A task as the chain holds it (``getTask``)."""

    task_id: int
    config: TaskConfig
    owner: str
    reward_wei: int
    held_wei: int
    state: TaskState
    current_round: int
    published_rounds: int
    trainer_count: int
    trusted_aggregator: bool
    uses_reference: bool = False
    """The verifier's rule is anchored on a per-round reference (the root-of-trust rule)."""

    @property
    def mode(self) -> str:
        return "trusted aggregator (no proof checked)" if self.trusted_aggregator else f"zk-verified ({self.config.verifier})"


@dataclass(frozen=True)
class RoundInfo:
    """A round as the chain holds it (``getRound``)."""

    submission_deadline: int
    sketch_deadline: int
    publish_deadline: int
    submissions: int
    sketches: int
    closed: bool
    published: bool
    proof_verified: bool
    seed: int
    flags: int
    rejections: int
    aggregate_commitment: int
    global_model_cid: str
    published_at: int = 0
    """Block time of the publication (0 before)."""
    withheld: int = 0
    """Wei of the round's budget reserved for the sink (rejected and flagged slots)."""
    contested: int = 0
    """Bit i: slot i contested its rejection."""
    reference_digest: bytes = b""
    """Digest of the round's reference update (zero bytes when none), fixed before any submission."""
    reference_commitment: int = 0
    """Commitment to the reference's sketch under the round's seed (0 before it is committed)."""
    order: int = 0
    """Bits 6i .. 6i+5: slot i's rank among the round's submissions (0 = first; slots < 42)."""

    def ranks(self, n: int) -> list[int]:
        """Slot i's rank among the round's submissions, for the first ``n`` slots (0 for a slot
        that did not submit, or beyond the 42 the order records)."""
        return [(self.order >> (6 * i)) & 63 if i < 42 else 0 for i in range(n)]

    @classmethod
    def from_abi(cls, raw: tuple) -> "RoundInfo":
        return cls(*raw)


@dataclass(frozen=True)
class TrainerInfo:
    joined: bool
    slot: int
    strikes: int
    points: int
    earned: int = 0
    """Wei of reward earned so far (round by round); credited when the task is settled."""


@dataclass(frozen=True)
class SubmissionInfo:
    update_cid: str
    update_digest: bytes
    sketch_commitment: int

    @property
    def submitted(self) -> bool:
        return self.update_digest != b"\x00" * 32


@dataclass(frozen=True)
class RoundPublication:
    """What the aggregator posts with ``publishRound``. ``flags``/``rejections`` are one bool
    per trainer slot (join order)."""

    global_model_cid: str
    flags: list[bool]
    rejections: list[bool]
    scores: list[int]
    aggregate_commitment: int = 0
    proof: bytes = b""
    transcript_cid: str = ""

    @property
    def flags_mask(self) -> int:
        return bits_to_mask(self.flags)

    @property
    def rejections_mask(self) -> int:
        return bits_to_mask(self.rejections)


@dataclass
class TxResult:
    """A mined transaction: its hash, gas used, and the Marketplace events it emitted."""

    function: str
    tx_hash: str
    gas_used: int
    block_number: int
    events: list[dict] = field(default_factory=list)
    receipt: Any = None
    contract_address: str | None = None

    def event(self, name: str) -> dict:
        """The arguments of the first event called ``name`` (KeyError when absent)."""
        for ev in self.events:
            if ev["event"] == name:
                return ev["args"]
        raise KeyError(f"{self.function} emitted no {name} event")

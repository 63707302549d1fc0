"""The demo's options and its result as typed records: what :func:`~benchmarks.simulation.run_demo`
takes, and what it returns to the CLI, the plots, the benchmarks and the JSON file (``market demo
--json``), read by attribute.

The JSON document is :meth:`DemoResult.to_json`: the result's fields, a ``rounds`` list of
:class:`RoundRow` and a ``trainers`` list of :class:`TrainerRow` objects with the same keys as
the attributes, and ``version`` (:data:`DEMO_RESULT_VERSION`), checked by
:meth:`DemoResult.from_json`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from market.exceptions import MarketValueError
from market.task_spec import DEFAULT_BATCH_SIZE, DEFAULT_LEARNING_RATE, DEFAULT_LOCAL_EPOCHS

__all__ = ["DEFAULT_ATTACKS", "DEFAULT_UNRELIABLE", "DEMO_RESULT_VERSION", "AuditRow", "DemoOptions", "DemoResult",
           "RoundRow", "TrainerRow"]

DEFAULT_ATTACKS = ("sign_flip:scale=3", "gaussian_noise:sigma=0.5")
DEFAULT_UNRELIABLE = ("unreliable:noisy_labels=0.8",)
DEMO_RESULT_VERSION = 2
"""Version of the :class:`DemoResult` JSON document."""


@dataclass
class DemoOptions:
    """What a demo run does (the CLI's flags)."""

    trainers: int = 8
    rounds: int = 5
    epochs: int = DEFAULT_LOCAL_EPOCHS
    learning_rate: float = DEFAULT_LEARNING_RATE
    batch_size: int = DEFAULT_BATCH_SIZE
    reward_wei: int = 10**18
    stake_wei: int = 10**16
    attacks: Sequence[str] = DEFAULT_ATTACKS
    unreliable: Sequence[str] = DEFAULT_UNRELIABLE
    alpha: float = 0.5
    tau: float = 4.0
    seed: int = 0
    strikes_to_slash: int = 2
    rpc_url: str | None = None
    ipfs_api: str | None = None
    work_dir: Path | None = None
    device: str | None = None
    timeout: float = 900.0
    zk: bool = True
    """Prove every round (Groth16, development key) and let the contract verify; False runs the
    task in trusted-aggregator mode."""
    zk_slots: int | None = None
    """Trainer slots of the round circuit (one verifier serves 1 to this many trainers); default:
    the number of trainers (the smallest circuit that holds them)."""
    rule: str = "reference"
    """The paid rule: ``reference`` (the root-of-trust rule, anchored on the owner's root set) or
    ``median`` (the median-distance rule, which needs no root set)."""
    root_per_class: int = 10
    """Samples of each class in the owner's root set (drawn from its validation split)."""
    audit: bool = True
    """Audit every round at the end as an outsider would (``market audit``: every posted number
    recomputed from chain + storage, each proof verified again in Python)."""


@dataclass(frozen=True)
class AuditRow:
    """The closing audit of one round (``market audit``)."""

    ok: bool
    checks: int
    """How many checks ran."""
    failed: list[str]
    """What each failed check checked."""
    proof_verified_in_python: bool | None
    """Whether py_ecc verified the round's proof again (None: no proof)."""


@dataclass
class RoundRow:
    """One round as the demo saw it: the aggregator's outcome and what the chain recorded."""

    round: int
    accuracy: float | None
    """Validation accuracy of the new global model."""
    accuracy_before: float | None
    flags: list[bool]
    rejections: list[bool]
    scores: list[int]
    labels: list[str]
    publish_gas: int
    proof_seconds: float | None
    """Proving time (None in trusted-aggregator mode)."""
    verified_on_chain: bool
    validation_shapley: dict[str, list[float]]
    """Validation-utility estimates per method (``gtg``, ``loo``…), per slot: audit only."""
    model_cid: str
    distance_ratios: list[float]
    """Each sketch's distance to the median over the median distance (the provable rule's test)."""
    transcript_cid: str
    audit: AuditRow | None = None
    """The closing audit of the round, when the demo ran it."""

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON object (no ``audit`` key when the round was not audited)."""
        data = asdict(self)
        if self.audit is None:
            del data["audit"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RoundRow:
        audit = data.get("audit")
        return cls(**{**_known(cls, data), "audit": None if audit is None else AuditRow(**_known(AuditRow, audit))})


@dataclass
class TrainerRow:
    """One trainer at the end of the task: its role, its record and what it was paid."""

    slot: int
    address: str
    kind: str
    """``honest``, or the attack plan it ran (``sign_flip:scale=3``…)."""
    flagged_rounds: list[int]
    rejected_rounds: list[int]
    score_total: int
    """Proven points (the contract's total of the provable scores)."""
    strikes: int
    shapley: float
    """Validation Shapley (GTG), summed over the rounds."""
    payout_wei: int
    slash_share_wei: int
    stake_returned_wei: int
    stake_slashed_wei: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainerRow:
        return cls(**_known(cls, data))


@dataclass
class DemoResult:
    """Everything the demo measured."""

    task_id: int
    chain: str
    reward_wei: int
    dust_wei: int
    slash_dust_wei: int
    withheld_wei: int
    """The rounds' reserves for rejected and flagged slots, credited to the sink."""
    final_accuracy: float
    rounds: list[RoundRow]
    trainers: list[TrainerRow]
    owner_refund_wei: int
    contract_balance_after: int
    seconds: float
    gas: dict[str, int] = field(default_factory=dict)
    version: int = DEMO_RESULT_VERSION

    @property
    def audited(self) -> bool:
        """Whether every round went through the closing audit."""
        return all(r.audit is not None for r in self.rounds)

    def to_json(self) -> dict[str, Any]:
        """The JSON document ``market demo --json`` writes (``gas`` stays out, as it always has)."""
        return {
            "version": self.version, "task_id": self.task_id, "chain": self.chain, "reward_wei": self.reward_wei,
            "dust_wei": self.dust_wei, "slash_dust_wei": self.slash_dust_wei, "withheld_wei": self.withheld_wei,
            "final_accuracy": self.final_accuracy,
            "rounds": [r.to_json() for r in self.rounds], "trainers": [t.to_json() for t in self.trainers],
            "owner_refund_wei": self.owner_refund_wei, "contract_balance_after": self.contract_balance_after,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DemoResult:
        """Read :meth:`to_json`'s document back; a document of another version is refused."""
        version = data.get("version")
        if version != DEMO_RESULT_VERSION:
            raise MarketValueError(f"demo result version {version!r} is not {DEMO_RESULT_VERSION}")
        values = _known(cls, data)
        values["rounds"] = [RoundRow.from_json(r) for r in data["rounds"]]
        values["trainers"] = [TrainerRow.from_json(t) for t in data["trainers"]]
        return cls(**values)


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` that are fields of the dataclass ``cls``."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}

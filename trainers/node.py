"""The trainer loop: follow a task on chain and take part in every round.

Each call to :meth:`TrainerNode.step` reads the task's phase (:func:`zk.protocol.phase.round_phase`),
does the one thing that is due and returns it as a :class:`~zk.protocol.actions.NodeAction`:

1. the task is open → wait for ``start``;
2. the round accepts submissions and this trainer has none → fetch the global model, train on
   the private data, package the update (safetensors, a fresh salt), encrypt it to the
   aggregator's key (checked first: :func:`market.encryption.check_public_key`) for this slot
   (chain, contract, task, round, trainer: :class:`market.encryption.EnvelopeContext`), **save
   the envelope to disk**, store it, and ``submitUpdate`` its CID and keccak256 digest;
3. submissions are closed and the seed is fixed → compute the sketch of the very update that was
   submitted, its Poseidon commitment with the packed salt, and ``commitSketch``;
4. the task is finished, aborted or cancelled → report what was credited.

State lives in one JSON file per task and trainer (written atomically, with a ``version``; each
round's :class:`RoundStage`) beside the envelope and the plaintext package of every round, so a
trainer killed at any point and restarted resumes
where it was: it never trains or submits twice for a round (the chain's record of its
submission is checked before every submit, and an ``AlreadySubmitted`` revert counts as done),
and it commits the sketch of what it actually submitted. The spec and global model are read with
a bound; content that cannot be used stops the node with a TrainerError that names it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from eth_account.signers.local import LocalAccount

from market.encryption import EnvelopeContext, InvalidPublicKey, check_public_key, encrypt_with_key, envelope_digest
from market.exceptions import ContractRevert
from market.failpoints import round_failpoint
from market.marketplace import Marketplace
from market.storage import ContentFault, Storage
from market.task_spec import MAX_SPEC_BYTES, TaskSpec
from market.types import TaskInfo, TaskState
from market.update_package import UpdateMetadata, build_update_package, load_update_package, model_spec_hash
from trainers.attacks import AttackPlan
from trainers.data import Dataset, check_schema
from trainers.exceptions import TrainerError
from trainers.models import param_spec, round_start_state
from trainers.recipe import local_round, round_seed
from zk.protocol.actions import ActionKind, NodeAction
from zk.protocol.commitment import random_salt, sketch_commitment
from zk.protocol.phase import RoundPhase, observe_phase
from zk.protocol.sketch import SketchParams, sketch_update
from zk.protocol.step_loop import run_steps

SALT_BYTES = 32
STATE_VERSION = 1
"""Layout of the trainer's state file (files without a version are the older layout: read too)."""


class RoundStage(str, Enum):
    """How far this trainer got in one round: packaged → submitted → committed, or missed."""

    PACKAGED = "packaged"
    """Trained, packaged and encrypted; the envelope is on disk, not yet on chain."""
    SUBMITTED = "submitted"
    """``submitUpdate`` is on chain."""
    COMMITTED = "committed"
    """``commitSketch`` is on chain."""
    MISSED = "missed"
    """The submission window closed before this trainer submitted."""


@dataclass
class RoundRecord:
    """What this trainer did in one round (persisted)."""

    round: int
    stage: RoundStage = RoundStage.PACKAGED
    cid: str | None = None
    digest: str | None = None
    salt: int = 0
    sketch: list[int] = field(default_factory=list)
    commitment: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    outcome_checked: bool = False
    """The round's publication was read (rejected or not)."""
    contested: bool = False
    """This trainer contested its rejection in the round."""


@dataclass
class TrainerReport:
    """What the trainer saw at the end of a task."""

    task_id: int
    address: str
    state: str
    submitted_rounds: list[int]
    committed_rounds: list[int]
    missed_rounds: list[int]
    points: int
    strikes: int
    credit_wei: int


class TrainerNode:
    """One trainer taking part in one task."""

    def __init__(self, *, market: Marketplace, storage: Storage, account: LocalAccount, task_id: int, dataset: Dataset,
                 state_dir: Path, device: str | None = None, attack: AttackPlan | None = None, seed: int = 0,
                 progress: bool = False, holdout: float = 0.2, contest: bool = True,
                 log: Callable[[str], None] | None = None) -> None:
        self.market = market
        self.storage = storage
        self.account = account
        self.task_id = task_id
        self.dataset = dataset
        self.device = device
        self.attack = attack or AttackPlan()
        self.seed = seed
        self.progress = progress
        self.holdout = holdout
        self.contest = contest
        self.log = log or (lambda message: None)
        self.dir = Path(state_dir) / f"task{task_id}-{account.address}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._state_path = self.dir / "state.json"
        self.rounds: dict[int, RoundRecord] = self._load_state()
        self._spec: TaskSpec | None = None
        self._previous_delta: dict[str, np.ndarray] | None = None

    # --- persistence -----------------------------------------------------------------------
    def _load_state(self) -> dict[int, RoundRecord]:
        if not self._state_path.exists():
            return {}
        raw = json.loads(self._state_path.read_text())
        return {int(r): _record_from_json(rec) for r, rec in raw["rounds"].items()}

    def _save_state(self) -> None:
        data = {"version": STATE_VERSION, "task_id": self.task_id, "address": self.account.address,
                "rounds": {str(r): {**asdict(rec), "stage": rec.stage.value} for r, rec in sorted(self.rounds.items())}}
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self._state_path)

    def _envelope_path(self, round_: int) -> Path:
        return self.dir / f"round{round_}.envelope"

    def _package_path(self, round_: int) -> Path:
        return self.dir / f"round{round_}.safetensors"

    def _key_path(self, round_: int) -> Path:
        """The envelope's evidence key (hex, mode 0600): revealed only to contest a rejection."""
        return self.dir / f"round{round_}.envelope-key"

    # --- what the task says ----------------------------------------------------------------
    @property
    def spec(self) -> TaskSpec:
        if self._spec is None:
            cid = self.market.get_task(self.task_id).config.spec_cid
            self._spec = TaskSpec.from_json(self._read(f"the spec {cid}",
                                                       lambda: self.storage.get(cid, max_bytes=MAX_SPEC_BYTES)))
            check_schema(self.dataset, self._spec.data)
        return self._spec

    def _param_spec(self) -> dict:
        return param_spec(self.spec.model, dtype=self.spec.training.dtype)

    def global_state(self, round_: int) -> dict[str, np.ndarray]:
        """The global model a round starts from: the spec's initial model for round 0, else the
        model the previous round published (read with the bound of the spec's model)."""
        spec = self.spec
        return self._read(f"round {round_}: the global model",
                          lambda: round_start_state(self.market, self.storage, spec, self.task_id, round_)[0])

    def _read(self, what: str, read: Callable[[], Any]) -> Any:
        """``read()``, its content faults (missing, damaged, no file, over the bound) a TrainerError."""
        try:
            return read()
        except ContentFault as exc:
            raise TrainerError(f"task {self.task_id}, {what} cannot be read: {exc}") from None

    # --- one step ----------------------------------------------------------------------------
    def step(self) -> NodeAction:
        """Do what is due now (the phase comes from :func:`~zk.protocol.phase.round_phase`);
        return what was done."""
        task, round_, info, phase = observe_phase(self.market, self.task_id)
        contested = self._contest_rejections(task)
        if contested is not None:
            return contested
        if phase is RoundPhase.ENDED:
            return NodeAction(ActionKind.FINISHED)
        if phase is RoundPhase.JOINING:
            return NodeAction(ActionKind.WAITING, detail="start")
        if phase is RoundPhase.FINALIZABLE:
            return NodeAction(ActionKind.WAITING, detail="finalize")
        assert round_ is not None and info is not None
        submission = self.market.get_submission(self.task_id, round_, self.account.address)
        record = self.rounds.get(round_)
        if not submission.submitted:
            if record is not None and record.stage is RoundStage.MISSED:
                return NodeAction(ActionKind.MISSED, round_)
            if not phase.accepts_submissions:
                self.rounds[round_] = RoundRecord(round=round_, stage=RoundStage.MISSED)
                self._save_state()
                self.log(f"round {round_}: submission window closed before this trainer submitted")
                return NodeAction(ActionKind.MISSED, round_)
            return self._submit(task, round_, record)
        if record is None:  # submitted by an earlier run whose state was lost: nothing to commit with
            return NodeAction(ActionKind.SUBMITTED_ELSEWHERE, round_)
        if record.stage is RoundStage.PACKAGED:
            self._set_stage(record, RoundStage.SUBMITTED)
        if not phase.seed_fixed:
            return NodeAction(ActionKind.WAITING, round_, "the seed")
        if submission.sketch_commitment == 0:
            if not phase.accepts_sketches:
                return NodeAction(ActionKind.SKETCH_MISSED, round_)
            return self._commit(round_, record, info.seed)
        if record.stage is not RoundStage.COMMITTED:
            self._set_stage(record, RoundStage.COMMITTED)
        return NodeAction(ActionKind.WAITING, round_, "publication")

    def _contest_rejections(self, task: TaskInfo) -> NodeAction | None:
        """Once per published round this trainer submitted to: when the round rejected it,
        contest by revealing its own envelope key (``contestRejection``, before the task is
        settled). A contest moves no money; it puts the evidence on chain so that ``market audit``
        shows whether the rejection was right."""
        if task.state is not TaskState.TRAINING:
            return None
        for round_, record in sorted(self.rounds.items()):
            if record.outcome_checked or record.stage is RoundStage.MISSED or round_ >= task.published_rounds:
                continue
            published = self.market.get_round(self.task_id, round_)
            slot = self.market.get_trainer(self.task_id, self.account.address).slot
            record.outcome_checked = True
            if published.rejections >> slot & 1 and self.contest and self._key_path(round_).exists():
                key = bytes.fromhex(self._key_path(round_).read_text().strip())
                try:
                    self.market.contest_rejection(self.account, self.task_id, round_, key)
                    record.contested = True
                except ContractRevert as exc:
                    self.log(f"round {round_}: contest refused: {exc}")
            self._save_state()
            if record.contested:
                self.log(f"round {round_}: rejected; contested with this trainer's envelope key")
                return NodeAction(ActionKind.CONTESTED, round_)
        return None

    def _set_stage(self, record: RoundRecord, stage: RoundStage) -> None:
        record.stage = stage
        self._save_state()

    def _submit(self, task: TaskInfo, round_: int, record: RoundRecord | None) -> NodeAction:
        if record is None:
            record = self._prepare(task, round_)
        envelope = self._envelope_path(round_).read_bytes()
        if record.cid is None:
            record.cid = self.storage.put(envelope)
            self.storage.pin(record.cid)
            self._save_state()
            round_failpoint("trainer.stored", round_)  # crash tests: stored, not yet submitted
        try:
            self.market.submit_update(self.account, self.task_id, round_, record.cid, bytes.fromhex(record.digest))
        except ContractRevert as exc:
            if exc.name == "MarketplaceSubmissionClosed":  # the next block fell after the deadline
                self._set_stage(record, RoundStage.MISSED)
                self.log(f"round {round_}: too late, {exc}")
                return NodeAction(ActionKind.MISSED, round_)
            if exc.name == "MarketplaceReferenceMissing":  # the aggregator fixes the reference first
                return NodeAction(ActionKind.WAITING, round_, "the round's reference")
            if exc.name == "MarketplaceDuplicateDigest":  # a copier submitted this very envelope first
                self.log(f"round {round_}: {exc.args_by_name['submittedBy']} took this digest; sealing again")
                self._reseal(task, round_, record)
                return NodeAction(ActionKind.WAITING, round_, "a fresh envelope (its digest was taken)")
            if exc.name != "MarketplaceAlreadySubmitted":
                raise
        self._set_stage(record, RoundStage.SUBMITTED)
        self.log(f"round {round_}: submitted {record.cid}")
        return NodeAction(ActionKind.SUBMITTED, round_)

    def _seal(self, task: TaskInfo, round_: int, package: bytes) -> bytes:
        """Encrypt ``package`` for this slot; write the envelope and its key (mode 0600); return the envelope."""
        context = EnvelopeContext(chain_id=self.market.chain.chain_id, contract=self.market.address,
                                  task_id=self.task_id, round=round_, trainer=self.account.address)
        envelope, key = encrypt_with_key(package, self._aggregator_key(task), context)
        self._envelope_path(round_).write_bytes(envelope)
        key_path = self._key_path(round_)
        key_path.touch(mode=0o600)
        key_path.write_text(key.hex())
        return envelope

    def _reseal(self, task: TaskInfo, round_: int, record: RoundRecord) -> None:
        """A fresh envelope (new ephemeral key, new digest) of the package already made."""
        envelope = self._seal(task, round_, self._package_path(round_).read_bytes())
        record.digest, record.cid = envelope_digest(envelope).hex(), None
        self._save_state()

    def _aggregator_key(self, task: TaskInfo) -> bytes:  # checked before training: nothing sent to it is secret
        try:
            return check_public_key(task.config.aggregator_key)
        except InvalidPublicKey as exc:
            raise TrainerError(f"task {self.task_id}: the task's aggregator key is unusable: {exc}") from None

    def _prepare(self, task: TaskInfo, round_: int) -> RoundRecord:
        """Train, package, encrypt, and write the envelope to disk before anything leaves."""
        self._aggregator_key(task)
        spec = self.spec
        global_state = self.global_state(round_)
        step = local_round(global_state, self.dataset, spec, plan=self.attack, seed=round_seed(self.seed, round_),
                           round_=round_, previous_delta=self._previous_delta, device=self.device,
                           progress=self.progress, holdout=self.holdout)
        delta = step.delta
        self._previous_delta = delta
        salt = random_salt()
        metrics = step.metrics.to_dict()
        metadata = UpdateMetadata(
            task_id=self.task_id, round=round_, trainer=self.account.address, num_samples=step.num_samples,
            salt=salt.to_bytes(SALT_BYTES, "big"), model_spec_hash=model_spec_hash(self._param_spec()),
            metrics={k: v for k, v in metrics.items() if k in ("loss", "accuracy_before", "accuracy_after", "samples",
                                                                  "epochs", "seconds", "device")},
        )
        package = build_update_package(delta, metadata)
        self._package_path(round_).write_bytes(package)
        envelope = self._seal(task, round_, package)
        record = RoundRecord(round=round_, digest=envelope_digest(envelope).hex(), salt=salt, metrics=metrics)
        self.rounds[round_] = record
        self._save_state()
        self.log(f"round {round_}: trained on {metrics['samples']} samples, hold-out accuracy "
                 f"{metrics['accuracy_before']:.3f} → {metrics['accuracy_after']:.3f}")
        return record

    def _commit(self, round_: int, record: RoundRecord, seed: int) -> NodeAction:
        package = load_update_package(self._package_path(round_).read_bytes(), self._param_spec(),
                                      max_bytes=self.spec.limits.max_update_bytes)
        params = SketchParams(k=self.spec.scoring.sketch_k)
        record.sketch = sketch_update(package.tensors, seed, params)
        record.commitment = sketch_commitment(record.sketch, record.salt)
        self._save_state()
        try:
            self.market.commit_sketch(self.account, self.task_id, round_, record.commitment)
        except ContractRevert as exc:
            if exc.name != "MarketplaceSketchAlreadyCommitted":
                raise
        self._set_stage(record, RoundStage.COMMITTED)
        self.log(f"round {round_}: sketch committed")
        return NodeAction(ActionKind.COMMITTED, round_)

    # --- the loop ------------------------------------------------------------------------------
    def run(self, *, poll_seconds: float = 2.0, timeout: float | None = None,
            stop: threading.Event | None = None, max_backoff: float = 30.0) -> TrainerReport:
        """Step until the task ends (or ``timeout`` seconds pass, or ``stop`` is set). Transport
        failures (chain and storage) are logged and retried with exponential backoff up to
        ``max_backoff`` seconds; the state on disk makes every retried step safe."""
        run_steps(self.step, log=self.log, poll_seconds=poll_seconds, timeout=timeout, stop=stop,
                  max_backoff=max_backoff, timed_out=lambda last: TrainerError(
                      f"task {self.task_id} did not finish within {timeout:.0f}s (last: {last})"))
        return self.report()

    def report(self) -> TrainerReport:
        task = self.market.get_task(self.task_id)
        me = self.market.get_trainer(self.task_id, self.account.address)
        by_stage = lambda *stages: sorted(r for r, rec in self.rounds.items() if rec.stage in stages)  # noqa: E731
        return TrainerReport(
            task_id=self.task_id, address=self.account.address, state=task.state.label(),
            submitted_rounds=by_stage(RoundStage.SUBMITTED, RoundStage.COMMITTED),
            committed_rounds=by_stage(RoundStage.COMMITTED), missed_rounds=by_stage(RoundStage.MISSED),
            points=me.points, strikes=me.strikes,
            credit_wei=self.market.credit_of(self.account.address),
        )


def _record_from_json(raw: dict[str, Any]) -> RoundRecord:
    """A saved round; the unversioned layout named the stage ``phase``."""
    fields = dict(raw)
    stage = fields.pop("stage", None) or fields.pop("phase", RoundStage.PACKAGED.value)
    fields.pop("phase", None)
    return RoundRecord(**fields, stage=RoundStage(stage))

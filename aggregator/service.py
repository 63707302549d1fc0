"""The aggregator node: watch a task on chain and run every round to publication, then finalize.

Each :meth:`AggregatorNode.step` reads the task's phase (:func:`zk.protocol.phase.round_phase`),
does the one thing that is due and returns it as a :class:`~zk.protocol.actions.NodeAction`:

0. a saved round the chain shows published with evidence keys still owed → reveal them
   (:mod:`aggregator.evidence_reveal`; the node was stopped between publishing and revealing);
1. submissions are open → close them at the deadline, or as soon as every trainer submitted;
2. the sketch window is open → wait until every submitter committed, or the deadline;
3. otherwise → intake every submission (:mod:`aggregator.round_intake`), assess the round
   (:mod:`aggregator.round_pipeline`), store the new global model and the audit transcript,
   **save the publication to disk**, prove it when the task has a verifier, ``publishRound``,
   then reveal the evidence key of every rejected submission, each reveal saved as it goes;
4. after the last round → ``finalize``.

A task whose ``aggregatorKey`` is not this node's public key is refused before anything is done
for it (:class:`~aggregator.exceptions.AggregatorKeyMismatch`, logged).

Idempotent and crash-safe (``tests/test_kill_restart.py`` kills it at each step): the
publication is written to the state file (:mod:`aggregator.state`) before it is sent and re-sent
unchanged after a restart; a round the chain already shows published is never published again;
the intake saves each verdict as it is made (:class:`aggregator.state.IntakeProgress`), and a
submission that stopped the node twice is rejected instead of checked a third time. Transport
errors (chain and storage) are retried with exponential backoff and a log line (:meth:`run`);
a contract's revert (:class:`~market.exceptions.ContractRevert`) is raised.

Memory: a round whose updates fit ``memory_budget`` (default 1 GiB) is assessed in memory;
above it the intake streams: every update is checked, sketched and dropped, then read again one
at a time for FedAvg (O(d) memory; the audit-only validation Shapley estimates are skipped).
The full-update detectors (Multi-Krum, MUD-HoG, trusted-aggregator tasks only) hold every update.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account.signers.local import LocalAccount

from aggregator.detectors.mud_hog import MudHogDetector
from aggregator.evidence_reveal import reveal_evidence_keys
from aggregator.exceptions import AggregatorKeyMismatch, ReferenceUnavailableError
from aggregator.intake import IntakeResult, envelope_bound, update_bytes
from aggregator.reference import ReferenceFiles, ReferenceSketch, ReferenceTrainer, reference_digest, sketch_reference
from aggregator.round_intake import DEFAULT_FETCH_WORKERS, intake_round
from aggregator.round_pipeline import Evaluate, RoundLog, RoundOutcome, assess_round, round_report
from aggregator.state import AggregatorState, IntakeProgress, SavedRound, load_state, save_state
from aggregator.transcripts import build_transcript
from market.encryption import OVERHEAD, public_key_bytes
from market.exceptions import ChainError, ContractRevert
from market.failpoints import round_failpoint
from market.marketplace import Marketplace
from market.model_state import InitialState, ParamSpec, param_spec, round_start_state, state_to_bytes
from market.root_set import MAX_ROOT_SET_BYTES, RootSet, open_root_set
from market.storage import Storage
from market.task_spec import MAX_SPEC_BYTES, TaskSpec
from market.types import RoundInfo, RoundPublication, TaskInfo
from zk.protocol.actions import ActionKind, NodeAction
from zk.protocol.phase import RoundPhase, observe_phase
from zk.protocol.sketch import SketchParams
from zk.protocol.step_loop import run_steps

DEFAULT_MEMORY_BUDGET = 1 << 30
"""Bytes of updates a round may hold at once before the intake streams."""

Prover = Callable[[int, int, RoundOutcome, list[int], int, list[IntakeResult | None]], bytes]
"""``prove(task_id, round, outcome, stored_commitments, seed, intakes) -> proof bytes`` for zk
tasks (:func:`zk.prover.make_round_prover` makes one)."""

ReferenceFactory = Callable[[TaskSpec, RootSet], ReferenceTrainer]
"""``factory(spec, root_set) -> train(global_state, round) -> reference update`` for tasks of the
reference rule (the app layer passes :func:`aggregator.evaluation.make_reference_trainer`)."""


class AggregatorNode:
    """The aggregator of one task."""

    def __init__(self, *, market: Marketplace, storage: Storage, account: LocalAccount, encryption_key: X25519PrivateKey,
                 task_id: int, state_dir: Path, evaluate_factory: Callable[[TaskSpec], Evaluate] | None = None,
                 prover: Prover | None = None, log: Callable[[str], None] | None = None,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET, initial_state: InitialState | None = None,
                 reference_factory: ReferenceFactory | None = None) -> None:
        self.market = market
        self.storage = storage
        self.account = account
        self.key = encryption_key
        self.task_id = task_id
        self.prover = prover
        self.memory_budget = memory_budget
        self.initial_state = initial_state
        """Builds round 0's model when the spec names no initial model CID (the app layer passes
        ``trainers.models.initial_state``); None: such a spec is refused."""
        self.log = log or (lambda message: None)
        self.dir = Path(state_dir) / f"aggregator-task{task_id}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._state_path = self.dir / "state.json"
        self.state: AggregatorState = load_state(self._state_path)
        self._spec: TaskSpec | None = None
        self._evaluate_factory = evaluate_factory
        self._evaluate: Evaluate | None = None
        self.history = MudHogDetector()
        self.rounds: dict[int, RoundLog] = {}
        self._reference_factory = reference_factory
        self._reference_trainer: ReferenceTrainer | None = None
        self.references = ReferenceFiles(self.dir)

    # --- persistence -----------------------------------------------------------------------
    def _save(self) -> None:
        save_state(self._state_path, self.state)

    # --- the task ----------------------------------------------------------------------------
    @property
    def spec(self) -> TaskSpec:
        if self._spec is None:
            task = self.market.get_task(self.task_id)
            self._spec = TaskSpec.from_json(self.storage.get(task.config.spec_cid, max_bytes=MAX_SPEC_BYTES))
            if self._evaluate_factory is not None:
                self._evaluate = self._evaluate_factory(self._spec)
        return self._spec

    def _key_document(self) -> dict | None:
        """The prover's verification-key document, for the transcript (None for a prover without one)."""
        document = getattr(self.prover, "key_document", None)
        return document() if callable(document) else None

    def _param_spec(self) -> ParamSpec:
        """The spec's parameter layout (:func:`market.model_state.param_spec`, no torch)."""
        return param_spec(self.spec.model, dtype=self.spec.training.dtype)

    def global_state(self, round_: int) -> tuple[dict, str | None]:
        """The model round ``round_`` starts from, and its CID (None for a seed-built initial model)."""
        return round_start_state(self.market, self.storage, self.spec, self.task_id, round_,
                                 initial_state=self.initial_state)

    # --- one step ----------------------------------------------------------------------------
    def step(self) -> NodeAction:
        """Do what is due now (the phase comes from :func:`~zk.protocol.phase.round_phase`);
        return what was done."""
        task, round_, info, phase = observe_phase(self.market, self.task_id)
        finished = self._finish_published(task)
        if finished is not None:
            return finished
        if phase is RoundPhase.ENDED:
            return NodeAction(ActionKind.FINISHED)
        self._check_key(task)
        if phase is RoundPhase.JOINING:
            return NodeAction(ActionKind.WAITING, detail="start")
        if phase is RoundPhase.FINALIZABLE:
            try:
                result = self.market.finalize(self.account, self.task_id)
            except ContractRevert as exc:
                if exc.name == "MarketplaceContestWindowOpen":  # rejected trainers may still contest
                    return NodeAction(ActionKind.WAITING, detail=f"the contest window (until {exc.args_by_name['until']})")
                raise
            self.log(f"task {self.task_id} finalized (gas {result.gas_used:,})")
            return NodeAction(ActionKind.FINALIZED)
        assert round_ is not None and info is not None
        if task.uses_reference and not any(info.reference_digest) and info.submissions == 0:
            return self._commit_reference(round_)
        if phase is RoundPhase.SUBMISSIONS_OPEN:
            return NodeAction(ActionKind.WAITING, round_, f"submissions ({info.submissions}/{task.trainer_count})")
        if phase.closable:
            return self._close(round_, info.submissions)
        if phase is RoundPhase.SKETCHES_OPEN:
            return NodeAction(ActionKind.WAITING, round_, f"sketches ({info.sketches}/{info.submissions})")
        return self._publish(round_)

    def _check_key(self, task: TaskInfo) -> None:
        """Refuse (log, raise :class:`AggregatorKeyMismatch`) a task whose key is not this node's."""
        mine, named = public_key_bytes(self.key), bytes(task.config.aggregator_key)
        if named != mine:
            message = (f"task {self.task_id} names aggregator key 0x{named.hex()}, not this node's 0x{mine.hex()}: "
                       "refusing to serve it (no submission is judged; post the task with this node's key)")
            self.log(message)
            raise AggregatorKeyMismatch(message)

    def _close(self, round_: int, submissions: int) -> NodeAction:
        try:
            result = self.market.close_submissions(self.account, self.task_id, round_)
        except ContractRevert as exc:
            if exc.name in ("MarketplaceSubmissionsStillOpen", "MarketplaceSubmissionsAlreadyClosed"):
                return NodeAction(ActionKind.WAITING, round_, "submissions")
            raise
        self.log(f"round {round_}: closed with {submissions} submission(s), seed {result.event('SubmissionsClosed')['seed']:#x}")
        round_failpoint("aggregator.closed", round_)
        return NodeAction(ActionKind.CLOSED, round_)

    # --- the reference (root-of-trust rule) --------------------------------------------------
    def _train_reference(self) -> ReferenceTrainer:
        """The spec's recipe on the owner's root set (opened with the aggregator's key, checked
        against the spec's digest and for class balance)."""
        if self._reference_trainer is None:
            spec = self.spec
            section = spec.scoring.reference
            if section is None or self._reference_factory is None:
                raise ReferenceUnavailableError(
                    f"task {self.task_id} uses the reference rule: the node needs its spec's root set and a reference "
                    "trainer (reference_factory)")
            envelope = self.storage.get(section.root_set_cid, max_bytes=MAX_ROOT_SET_BYTES + OVERHEAD)
            root = open_root_set(envelope, self.key, input_shape=spec.data.input_shape,
                                 num_classes=spec.model.num_classes, per_class=section.per_class,
                                 digest=section.root_set_digest)
            self._reference_trainer = self._reference_factory(spec, root)
        return self._reference_trainer

    def _reference_update(self, round_: int) -> dict:
        return self.references.update(round_, lambda: self._train_reference()(self.global_state(round_)[0], round_))

    def _commit_reference(self, round_: int) -> NodeAction:
        digest = reference_digest(self._reference_update(round_))
        try:
            self.market.commit_reference(self.account, self.task_id, round_, digest)
        except ContractRevert as exc:
            if exc.name == "MarketplaceReferenceAlreadyCommitted":
                return NodeAction(ActionKind.WAITING, round_, "submissions")
            raise
        self.log(f"round {round_}: reference committed (digest 0x{digest.hex()[:16]}…)")
        return NodeAction(ActionKind.REFERENCE_COMMITTED, round_)

    def _reference_sketch(self, round_: int, info: RoundInfo) -> ReferenceSketch:
        """The reference's sketch under the round's seed, committed on chain (once; the salt is
        saved before the transaction, so a restart opens the same commitment). A task whose
        contract takes no reference (trusted aggregator) gets the sketch alone."""
        on_chain = self.market.get_task(self.task_id).uses_reference
        sketch = sketch_reference(self._reference_update(round_), info.seed, self.spec.scoring.sketch_k,
                                  self.references.salt(round_) if on_chain else None)
        if not on_chain:
            return sketch
        if sketch.digest != bytes(info.reference_digest):
            raise ReferenceUnavailableError(f"round {round_}: this node's reference is not the one committed on chain")
        if info.reference_commitment == 0:
            self.references.save_salt(round_, sketch.salt)
            self.market.commit_reference_sketch(self.account, self.task_id, round_, sketch.commitment)
        elif info.reference_commitment != sketch.commitment:
            raise ReferenceUnavailableError(f"round {round_}: the on-chain reference commitment is not this node's")
        return sketch

    def _publish(self, round_: int) -> NodeAction:
        """Send the saved publication (assessed first if there is none), mark it sent, reveal the
        evidence keys."""
        saved = self.state.rounds.get(round_)
        if saved is None:
            saved = self._assess(round_)
        try:
            result = self.market.publish_round(self.account, self.task_id, round_, saved.publication())
            gas = result.gas_used
            verified = bool(result.event("RoundPublished")["proofVerified"])
        except ContractRevert as exc:
            if exc.name != "MarketplaceWrongRound":  # anything else is a real refusal
                raise
            gas, verified = 0, self.market.get_round(self.task_id, round_).proof_verified  # published before a restart
        self.state.rounds[round_] = replace(saved, published=True)
        self._save()
        round_failpoint("aggregator.published", round_)
        self._reveal(round_)
        if round_ in self.rounds:
            self.rounds[round_].publish_gas = gas
            self.rounds[round_].verified_on_chain = verified
        self.log(f"round {round_}: published ({sum(saved.flags)} flagged, {sum(saved.rejections)} rejected, gas {gas:,})")
        return NodeAction(ActionKind.PUBLISHED, round_)

    def _finish_published(self, task: TaskInfo) -> NodeAction | None:
        """Finish every saved round the chain shows published whose reveals are not all out (the
        node stopped between ``publishRound`` and the last ``revealEvidenceKey``, or a reveal met a
        transport error): first, before anything else is due, so no task is settled while a
        rejection it slashes has no evidence on chain. None when there was nothing to finish."""
        finished = None
        for round_, saved in sorted(self.state.rounds.items()):
            if saved.done or round_ >= task.published_rounds:  # rounds publish in order
                continue
            if not saved.published:
                self.state.rounds[round_] = replace(saved, published=True)
                self._save()
                self.log(f"round {round_}: published on chain before this node recorded it; finishing its reveals")
            self._reveal(round_)
            self.log(f"round {round_}: evidence keys revealed ({len(saved.evidence)} owed)")
            finished = NodeAction(ActionKind.REVEALED, round_)
        return finished

    def _reveal(self, round_: int) -> None:
        """:func:`~aggregator.evidence_reveal.reveal_evidence_keys` for the saved ``round_``,
        each outcome saved as it comes."""
        def record(saved: SavedRound) -> None:
            self.state.rounds[round_] = saved
            self._save()

        reveal_evidence_keys(self.market, self.account, self.task_id, round_, self.state.rounds[round_],
                             record=record, log=self.log)

    def _assess(self, round_: int) -> SavedRound:
        """Intake, assessment, storage of model and transcript, proof; saved before publishing."""
        spec = self.spec
        trainers = self.market.get_trainers(self.task_id)
        info = self.market.get_round(self.task_id, round_)
        commitments = self.market.get_commitments(self.task_id, round_)
        submissions = [self.market.get_submission(self.task_id, round_, trainer) for trainer in trainers]
        submitted = sum(sub.submitted for sub in submissions)
        need = submitted * update_bytes(self._param_spec())
        stream = need > self.memory_budget
        if stream:
            self.log(f"round {round_}: {submitted} updates need {need / 2**20:,.0f} MiB, above the "
                     f"{self.memory_budget / 2**20:,.0f} MiB budget: streaming intake (each update read twice), "
                     "validation Shapley estimates skipped")
        journal = IntakeProgress(self.dir / f"intake-round{round_}.jsonl")
        intakes = self._intake(round_, info, [(slot, trainer, sub) if sub.submitted else None
                                              for slot, (trainer, sub) in enumerate(zip(trainers, submissions))],
                               stream=stream, journal=journal)
        global_state, previous_cid = self.global_state(round_)
        reference = self._reference_sketch(round_, info) if spec.scoring.detector == "reference" else None
        outcome = assess_round(intakes, global_state=global_state, scoring=spec.scoring, evaluate=self._evaluate,
                               history=self.history, dtype=spec.training.dtype, shapley_seed=round_,
                               shapley=not stream, reference=reference, order=info.ranks(len(trainers)))
        model_cid = self.storage.put(state_to_bytes(outcome.new_global))
        self.storage.pin(model_cid)
        proof, proof_seconds = b"", None
        task = self.market.get_task(self.task_id)
        if not task.trusted_aggregator and self.prover is not None:
            started = time.perf_counter()
            proof = self.prover(self.task_id, round_, outcome, commitments, info.seed, intakes)
            proof_seconds = time.perf_counter() - started
        transcript = build_transcript(
            task_id=self.task_id, round_=round_, spec=spec, seed=info.seed, trainers=trainers, submissions=submissions,
            intakes=intakes, outcome=outcome, model_cid=model_cid, previous_cid=previous_cid,
            proof_seconds=proof_seconds, proof=proof, verifier_key=self._key_document() if proof else None,
            streamed=stream)
        transcript_cid = self.storage.put(transcript.to_json())
        self.storage.pin(transcript_cid)
        saved = SavedRound(
            model_cid=model_cid, transcript_cid=transcript_cid, flags=list(outcome.flags),
            rejections=list(outcome.rejections), scores=list(outcome.scores),
            aggregate_commitment=outcome.aggregate_commitment, proof=proof,
            evidence={it.trainer: it.evidence_key for it in intakes
                      if it is not None and not it.accepted and it.evidence_key is not None},
        )
        self.state.rounds[round_] = saved
        self._save()
        journal.discard()
        round_failpoint("aggregator.proved", round_)
        publication = RoundPublication(model_cid, outcome.flags, outcome.rejections, outcome.scores,
                                       outcome.aggregate_commitment, proof, transcript_cid)
        self.rounds[round_] = RoundLog(round=round_, outcome=outcome, intakes=intakes, publication=publication,
                                       proof_seconds=proof_seconds)
        for line in round_report(outcome, intakes):
            self.log(f"round {round_}: {line}")
        return saved

    def _intake(self, round_: int, info: RoundInfo, entries: list, *, stream: bool,
                journal: IntakeProgress) -> list[IntakeResult | None]:
        """:func:`~aggregator.round_intake.intake_round` with this task's checks, envelopes bound
        to this chain and contract, progress saved in ``journal``."""
        spec = self.spec
        return intake_round(
            self.storage, entries, stream=stream, journal=journal, workers=self._fetch_workers(), private_key=self.key,
            param_spec=self._param_spec(), chain_id=self.market.chain.chain_id, contract=self.market.address,
            task_id=self.task_id, round_=round_, seed=info.seed, sketch_params=SketchParams(k=spec.scoring.sketch_k),
            max_bytes=spec.limits.max_update_bytes, max_norm=spec.limits.max_update_norm,
            max_num_samples=spec.limits.num_samples_cap,
        )

    def _fetch_workers(self) -> int:
        """Submissions fetched at once: as many envelopes of the largest allowed size as fit the
        memory budget, at least 1, at most :data:`~aggregator.round_intake.DEFAULT_FETCH_WORKERS`."""
        largest = envelope_bound(self.spec.limits.max_update_bytes)
        return max(1, min(DEFAULT_FETCH_WORKERS, self.memory_budget // largest))

    # --- the loop ------------------------------------------------------------------------------
    def run(self, *, poll_seconds: float = 2.0, timeout: float | None = None, stop: threading.Event | None = None,
            max_backoff: float = 30.0) -> NodeAction:
        """Step until the task ends; return the last action (``finished`` or ``finalized``, or
        ``stopped`` when ``stop`` was set). Transport failures (chain and storage) are logged and
        retried with exponential backoff; a contract's revert is raised."""
        return run_steps(self.step, log=self.log, poll_seconds=poll_seconds, timeout=timeout, stop=stop,
                         max_backoff=max_backoff, timed_out=lambda last: ChainError(
                             f"task {self.task_id} did not finish within {timeout:.0f}s (last: {last})"))


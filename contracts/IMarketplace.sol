// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IMarketplace
 * @notice Types, errors and events of the Proof-of-Contribution Marketplace. The implementation
 * is {Marketplace}; clients (the `market` Python package) decode every custom error below into
 * one typed exception with a readable message.
 *
 * Task life: `Open -> Training -> Finished`, `Open -> Cancelled`, `Training -> Aborted`.
 * Round life (inside `Training`): submissions open -> {closeSubmissions} fixes the sketch seed ->
 * sketch commitments -> {publishRound} -> next round or, after the last one, {finalize}.
 *
 * Money rules (no account profits from another's loss):
 * - a rejection (no proof covers it) costs the rejected trainer that round's score, nothing else:
 *   no strike, so no slashing;
 * - only proven flags add strikes, and rounds the trainer missed while others submitted;
 *   `strikesToSlash` of them slash the trainer's stake;
 * - slashed stakes are credited to {Marketplace-SLASH_SINK}, an address nobody holds a key to,
 *   never to the owner, the aggregator or the other trainers;
 * - each round pays its own budget (`reward / rounds`) when published: accepted trainers
 *   `budget * score / Z` with `Z = sum(accepted scores) + withheldSlots * topScore`, where the
 *   withheld slots are the round's rejected and flagged ones; their reserve (`topScore` each) is
 *   credited to the sink as `Withheld`. So no account's pay grows because another slot was rejected
 *   or flagged, as long as that slot would have scored at most the round's top accepted score;
 * - a rejected trainer may contest (reveal its own envelope key) until `contestWindow` after the
 *   last publication; a contest moves no money (the contract cannot judge it), it puts the
 *   evidence on chain for `market audit`;
 * - the same update digest twice in one round is refused.
 */
interface IMarketplace {
    // ------------------------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------------------------

    /// @notice Where a task is in its life.
    enum TaskState {
        Open,
        Training,
        Finished,
        Cancelled,
        Aborted
    }

    /// @notice Why an account was credited (see {PaymentCredited}).
    enum CreditKind {
        Reward, // share of the escrowed reward, pro rata to proven points
        StakeReturned, // a trainer's stake back
        SlashShare, // no longer credited: slashed stakes go to the sink (kept so the kinds keep their numbers)
        Refund, // escrow (or its unpaid part) back to the owner
        Dust, // integer-division remainder back to the owner
        Slashed, // slashed stakes, credited only to SLASH_SINK, which nobody can withdraw from
        Withheld // the reserve of rejected and flagged slots, credited only to SLASH_SINK
    }

    /**
     * @notice What the owner fixes when posting a task.
     * @param specCid IPFS CID of the task spec (model, hyper-parameters, initial model, schema, scoring policy)
     * @param aggregator the only account allowed to publish rounds
     * @param aggregatorKey the aggregator's X25519 public key; trainers encrypt updates to it
     * @param verifier an {IRoundVerifier}; address(0) runs the task in trusted-aggregator mode
     * @param stake exact wei every trainer deposits on {join}; may be 0
     * @param joinDeadline unix time after which nobody can join
     * @param submissionWindow seconds a round accepts updates
     * @param sketchWindow seconds after {closeSubmissions} for sketch commitments
     * @param publishGrace seconds after the sketch deadline for the aggregator to publish
     * @param rounds number of training rounds
     * @param minTrainers trainers needed to start
     * @param maxTrainers cap on trainers (at most MAX_TRAINERS)
     * @param strikesToSlash a trainer flagged (by a proven flag) or absent (no submission while others
     * submitted) in this many rounds loses its stake to
     * the sink (>= 1); rejections never count
     * @param contestWindow seconds after the last round's publication in which rejected trainers may
     * still contest before anyone can {finalize} (0: finalize at once; contests stay possible until then)
     * @param allowlistOnly only accounts the owner allowed ({allowTrainers}) may join (admission)
     */
    struct TaskConfig {
        string specCid;
        address aggregator;
        bytes32 aggregatorKey;
        address verifier;
        uint256 stake;
        uint64 joinDeadline;
        uint32 submissionWindow;
        uint32 sketchWindow;
        uint32 publishGrace;
        uint16 rounds;
        uint16 minTrainers;
        uint16 maxTrainers;
        uint16 strikesToSlash;
        uint32 contestWindow;
        bool allowlistOnly;
    }

    /// @notice A task as {getTask} returns it.
    struct TaskView {
        TaskConfig config;
        address owner;
        uint256 reward;
        uint256 held; // wei of this task still in escrow (reward + stakes), 0 once settled
        TaskState state;
        uint16 currentRound; // the round now running; equals rounds once all are published
        uint16 publishedRounds;
        uint16 trainerCount;
        bool trustedAggregator; // true when config.verifier == address(0): no proof is checked
        bool usesReference; // the verifier's rule is anchored on a per-round reference (read at creation)
    }

    /// @notice A round as {getRound} returns it.
    struct RoundView {
        uint64 submissionDeadline;
        uint64 sketchDeadline; // 0 until submissions are closed
        uint64 publishDeadline; // effective deadline; after it anyone may {abort}
        uint16 submissions;
        uint16 sketches;
        bool closed;
        bool published;
        bool proofVerified;
        uint256 seed;
        uint256 flags;
        uint256 rejections;
        uint256 aggregateCommitment;
        string globalModelCid;
        uint64 publishedAt; // block time of publication, 0 before
        uint256 withheld; // wei of the round's budget reserved for the sink at its settlement
        uint256 contested; // bit i: slot i contested its rejection
        bytes32 referenceDigest; // digest of the round's reference update, fixed before any submission
        uint256 referenceCommitment; // commitment to the reference's sketch under the round's seed
        uint256 order; // bits 6i .. 6i+5: slot i's rank among the round's submissions (slots < 42)
    }

    /// @notice A trainer's standing in a task as {getTrainer} returns it.
    struct TrainerView {
        bool joined;
        uint16 slot;
        uint16 strikes; // rounds in which it was flagged (proven) or submitted nothing while others did; rejections never count
        uint256 points; // sum of its proven scores over the rounds (informational)
        uint256 earned; // wei of reward earned so far, round by round; credited at settlement
    }

    /// @notice One trainer's submission in one round as {getSubmission} returns it.
    struct SubmissionView {
        string updateCid;
        bytes32 updateDigest; // 0 when the trainer did not submit
        uint256 sketchCommitment; // 0 until committed
    }

    /// @notice A verifier's entry in the registry as {verifierInfo} returns it.
    struct VerifierInfo {
        bool approved;
        bytes32 codeHash; // the code hash approved; a task may use the verifier only while its code has it
        uint256 slots; // trainer slots of its circuit (a task's maxTrainers may not exceed it)
    }

    // ------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------

    /// @notice createTask was called without a reward.
    error MarketplaceZeroReward();
    /// @notice The aggregator address is zero.
    error MarketplaceInvalidAggregator(address aggregator);
    /// @notice rounds is 0 or above the limit.
    error MarketplaceInvalidRounds(uint256 rounds, uint256 maxRounds);
    /// @notice min/max trainers are inconsistent or above the limit.
    error MarketplaceInvalidTrainerBounds(uint256 minTrainers, uint256 maxTrainers, uint256 limit);
    /// @notice The join deadline is not in the future, or more than MAX_JOIN_PERIOD ahead.
    error MarketplaceInvalidJoinDeadline(uint256 joinDeadline, uint256 nowTimestamp);
    /// @notice A window (submission, sketch, publish grace or contest) is longer than MAX_WINDOW.
    error MarketplaceWindowTooLong(uint256 window, uint256 maxWindow);
    /// @notice The task's aggregatorKey is not the key its aggregator registered ({registerAggregatorKey}).
    error MarketplaceAggregatorKeyNotRegistered(address aggregator, bytes32 key, bytes32 registered);
    /// @notice An aggregator key of zero cannot be registered.
    error MarketplaceInvalidAggregatorKey();
    /// @notice The verifier is not approved by the registrar, or its code changed since.
    error MarketplaceVerifierNotApproved(address verifier);
    /// @notice The verifier's circuit has fewer slots than the task's maxTrainers.
    error MarketplaceVerifierTooSmall(address verifier, uint256 slots, uint256 maxTrainers);
    /// @notice The verifier is already approved.
    error MarketplaceVerifierAlreadyApproved(address verifier);
    /// @notice The task admits only allowed accounts and this one is not.
    error MarketplaceNotAllowed(uint256 taskId, address account);
    /// @notice Submissions cannot be closed in the block of the round's last submission (the seed
    /// would be known to that submitter).
    error MarketplaceCloseTooEarly(uint256 taskId, uint256 round, uint256 lastSubmissionBlock);
    /// @notice A window or the publish grace is zero.
    error MarketplaceInvalidWindows(uint256 submissionWindow, uint256 sketchWindow, uint256 publishGrace);
    /// @notice A CID is empty or longer than MAX_CID_LENGTH bytes.
    error MarketplaceInvalidCid(uint256 length, uint256 maxLength);
    /// @notice The verifier is neither zero nor a contract.
    error MarketplaceInvalidVerifier(address verifier);
    /// @notice strikesToSlash is 0.
    error MarketplaceInvalidStrikeLimit(uint256 strikesToSlash);
    /// @notice No task has this id.
    error MarketplaceUnknownTask(uint256 taskId);
    /// @notice The task is not in the state the call needs.
    error MarketplaceWrongState(uint256 taskId, TaskState state, TaskState required);
    /// @notice The caller may not do this on this task.
    error MarketplaceUnauthorized(uint256 taskId, address caller);
    /// @notice The join deadline has passed.
    error MarketplaceJoinClosed(uint256 taskId, uint256 joinDeadline);
    /// @notice The task already has maxTrainers trainers.
    error MarketplaceTaskFull(uint256 taskId, uint256 maxTrainers);
    /// @notice The account already joined this task.
    error MarketplaceAlreadyJoined(uint256 taskId, address trainer);
    /// @notice The owner and the aggregator cannot be trainers of their own task.
    error MarketplaceConflictOfInterest(uint256 taskId, address account);
    /// @notice msg.value is not the task's stake.
    error MarketplaceWrongStake(uint256 taskId, uint256 sent, uint256 required);
    /// @notice Fewer than minTrainers joined.
    error MarketplaceNotEnoughTrainers(uint256 taskId, uint256 joined, uint256 required);
    /// @notice Only the owner may cancel until the join deadline; after it anyone may, but only while fewer than minTrainers joined.
    error MarketplaceCannotCancel(uint256 taskId, uint256 joined, uint256 minTrainers, uint256 joinDeadline);
    /// @notice The caller has not joined this task.
    error MarketplaceNotTrainer(uint256 taskId, address account);
    /// @notice The call names another round than the one running.
    error MarketplaceWrongRound(uint256 taskId, uint256 round, uint256 currentRound);
    /// @notice The round's submission window is over (deadline passed or submissions closed).
    error MarketplaceSubmissionClosed(uint256 taskId, uint256 round, uint256 deadline);
    /// @notice The trainer already submitted in this round.
    error MarketplaceAlreadySubmitted(uint256 taskId, uint256 round, address trainer);
    /// @notice The update digest is zero.
    error MarketplaceInvalidDigest();
    /// @notice Another trainer already submitted this digest in this round (a copied envelope).
    error MarketplaceDuplicateDigest(uint256 taskId, uint256 round, bytes32 digest, address submittedBy);
    /// @notice Submissions cannot be closed before the deadline unless every trainer submitted.
    error MarketplaceSubmissionsStillOpen(uint256 taskId, uint256 round, uint256 deadline);
    /// @notice closeSubmissions was already called for this round.
    error MarketplaceSubmissionsAlreadyClosed(uint256 taskId, uint256 round);
    /// @notice The round's submissions are not closed yet: no seed, no sketches, no publication.
    error MarketplaceSubmissionsNotClosed(uint256 taskId, uint256 round);
    /// @notice The trainer made no submission in this round.
    error MarketplaceNoSubmission(uint256 taskId, uint256 round, address trainer);
    /// @notice The sketch deadline has passed.
    error MarketplaceSketchWindowClosed(uint256 taskId, uint256 round, uint256 deadline);
    /// @notice The trainer already committed its sketch this round.
    error MarketplaceSketchAlreadyCommitted(uint256 taskId, uint256 round, address trainer);
    /// @notice A commitment or public value is 0 where it may not be, or not a BN254 field element.
    error MarketplaceInvalidFieldElement(uint256 value);
    /// @notice The round cannot be published while sketches may still come in.
    error MarketplaceSketchWindowOpen(uint256 taskId, uint256 round, uint256 deadline);
    /// @notice The aggregator missed the round's publish deadline; the task can only be aborted.
    error MarketplacePublishDeadlinePassed(uint256 taskId, uint256 round, uint256 deadline);
    /// @notice scores must have one entry per trainer slot.
    error MarketplaceWrongScoreCount(uint256 given, uint256 expected);
    /// @notice A flag or rejection bit is set for a slot that did not submit (or does not exist).
    error MarketplaceInvalidMarks(uint256 taskId, uint256 round, uint256 flags, uint256 rejections);
    /// @notice A submitter without a sketch commitment must be marked rejected.
    error MarketplaceMissingRejection(uint256 taskId, uint256 round, address trainer);
    /// @notice A score was given to a trainer that did not submit, or was flagged or rejected.
    error MarketplaceScoreNotAllowed(uint256 taskId, uint256 round, address trainer, uint256 score);
    /// @notice A score exceeds MAX_SCORE.
    error MarketplaceScoreTooLarge(uint256 score, uint256 maxScore);
    /// @notice The verifier did not accept the proof.
    error MarketplaceProofRejected(uint256 taskId, uint256 round);
    /// @notice finalize needs every round published.
    error MarketplaceRoundsRemaining(uint256 taskId, uint256 publishedRounds, uint256 rounds);
    /// @notice abort needs the current round's publish deadline to have passed.
    error MarketplacePublishDeadlineNotPassed(uint256 taskId, uint256 round, uint256 deadline);
    /// @notice The round has not been published.
    error MarketplaceRoundNotPublished(uint256 taskId, uint256 round);
    /// @notice Evidence keys may only be revealed for rejected submissions.
    error MarketplaceNotRejected(uint256 taskId, uint256 round, address trainer);
    /// @notice finalize must wait until the contest window after the last publication has passed.
    error MarketplaceContestWindowOpen(uint256 taskId, uint256 until);
    /// @notice The trainer already contested this rejection.
    error MarketplaceAlreadyContested(uint256 taskId, uint256 round, address trainer);
    /// @notice The account has no credit to withdraw.
    error MarketplaceNothingToWithdraw(address account);
    /// @notice The task's verifier takes no reference.
    error MarketplaceReferenceNotUsed(uint256 taskId);
    /// @notice The round's reference (its digest, or its sketch commitment) is not committed yet.
    error MarketplaceReferenceMissing(uint256 taskId, uint256 round);
    /// @notice The round's reference digest or sketch commitment is already committed.
    error MarketplaceReferenceAlreadyCommitted(uint256 taskId, uint256 round);

    /// @notice Sending ether to the account failed; its credit is kept.
    error MarketplaceTransferFailed(address account, uint256 amount);

    // ------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------

    /// @notice An aggregator registered (or replaced) its X25519 public key; tasks name it.
    event AggregatorKeyRegistered(address indexed aggregator, bytes32 key);
    /// @notice The registrar approved a verifier (its code hash and circuit slots as read then).
    event VerifierApproved(address indexed verifier, bytes32 codeHash, uint256 slots);
    /// @notice The owner allowed an account to join an allowlist-only task.
    event TrainerAllowed(uint256 indexed taskId, address indexed account);
    /// @notice A trainer left a task that had not started; its stake is credited back. The
    /// trainer that was last in join order moved into the freed slot.
    event TrainerLeft(uint256 indexed taskId, address indexed trainer, uint256 slot, address movedTrainer);
    /// @notice A task was posted and its reward escrowed.
    event TaskCreated(
        uint256 indexed taskId,
        address indexed owner,
        address indexed aggregator,
        uint256 reward,
        string specCid,
        address verifier
    );
    /// @notice A trainer joined with its stake, taking slot `slot`.
    event TrainerJoined(uint256 indexed taskId, address indexed trainer, uint256 slot, uint256 stake);
    /// @notice Training started with `trainers` trainers.
    event TaskStarted(uint256 indexed taskId, uint256 trainers);
    /// @notice A round opened for submissions.
    event RoundOpened(uint256 indexed taskId, uint256 indexed round, uint256 submissionDeadline);
    /// @notice An open task was cancelled; escrow and stakes were credited back.
    event TaskCancelled(uint256 indexed taskId, address indexed by);
    /// @notice A trainer committed an encrypted update stored under `updateCid`.
    event UpdateSubmitted(
        uint256 indexed taskId,
        uint256 indexed round,
        address indexed trainer,
        string updateCid,
        bytes32 updateDigest
    );
    /// @notice Submissions closed and the round's sketch seed was fixed.
    event SubmissionsClosed(
        uint256 indexed taskId,
        uint256 indexed round,
        uint256 seed,
        uint256 sketchDeadline,
        uint256 publishDeadline
    );
    /// @notice A trainer committed to its update's sketch.
    event SketchCommitted(uint256 indexed taskId, uint256 indexed round, address indexed trainer, uint256 commitment);
    /// @notice The aggregator published a round; `proofVerified` is false in trusted-aggregator mode.
    event RoundPublished(
        uint256 indexed taskId,
        uint256 indexed round,
        string globalModelCid,
        uint256 flags,
        uint256 rejections,
        uint256[] scores,
        uint256 aggregateCommitment,
        bool proofVerified
    );
    /// @notice The aggregator stored the round's audit transcript (inputs, verdicts, estimates) under `transcriptCid`.
    event TranscriptRecorded(uint256 indexed taskId, uint256 indexed round, string transcriptCid);
    /// @notice The aggregator revealed the decryption key of a rejected submission as evidence.
    event EvidenceKeyRevealed(uint256 indexed taskId, uint256 indexed round, address indexed trainer, bytes32 key);
    /// @notice Round `round` paid `paid` wei of its `budget` to its accepted trainers (credited at
    /// settlement), reserved `withheld` wei for its rejected and flagged slots (for the sink), and
    /// `refunded` wei to the owner (only when nobody submitted).
    event RoundSettled(uint256 indexed taskId, uint256 indexed round, uint256 budget, uint256 paid, uint256 withheld, uint256 refunded);
    /// @notice A rejected trainer contested its rejection by revealing its own envelope key.
    event RejectionContested(uint256 indexed taskId, uint256 indexed round, address indexed trainer, bytes32 key);
    /// @notice `trainer` reached `strikes` strikes (proven flags and missed rounds; the task's strikesToSlash or more) and its
    /// stake of `amount` wei was credited to SLASH_SINK.
    event StakeSlashed(uint256 indexed taskId, address indexed trainer, uint256 amount, uint256 strikes);
    /// @notice The task was settled after its last round: `rewardPaid` to trainers (earned round by round),
    /// `slashedStakes` to SLASH_SINK, `dust` (the reward's undivided remainder) to the owner.
    event TaskFinalized(uint256 indexed taskId, uint256 rewardPaid, uint256 slashedStakes, uint256 dust);
    /// @notice The task was aborted because round `round` missed its publish deadline.
    event TaskAborted(uint256 indexed taskId, uint256 indexed round, address indexed by, uint256 rewardPaid, uint256 refunded);
    /// @notice `account` was credited `amount` wei; collect it with {withdraw}.
    event PaymentCredited(uint256 indexed taskId, address indexed account, uint256 amount, CreditKind kind);
    /// @notice `account` withdrew `amount` wei.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice The aggregator fixed the round's reference update (its digest) before any submission.
    event ReferenceCommitted(uint256 indexed taskId, uint256 indexed round, bytes32 digest);
    /// @notice The aggregator committed to the reference's sketch under the round's seed.
    event ReferenceSketchCommitted(uint256 indexed taskId, uint256 indexed round, uint256 commitment);
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IMarketplace} from "./IMarketplace.sol";
import {IRoundVerifier} from "./IRoundVerifier.sol";

/**
 * @title Marketplace
 * @notice Escrow and state machine of the Proof-of-Contribution Market.
 *
 * An owner escrows a reward with {createTask}; trainers {join} with a stake; each round they
 * {submitUpdate} (CID + digest of an encrypted update), someone {closeSubmissions} (fixing the
 * round's sketch seed from randomness drawn after the updates were fixed), trainers
 * {commitSketch}, and the aggregator {publishRound}s flags, rejections and scores, checked by the
 * task's verifier against the commitments stored here. After the last round anyone may
 * {finalize}: every trainer is credited what it earned round by round, stakes come back except
 * slashed ones, which are credited to {SLASH_SINK} with the rounds' withheld reserves; integer
 * dust goes to the owner. If the aggregator misses a publish deadline anyone may {abort}: the
 * published rounds are settled the same way, the unpublished rounds' budget refunded. Money
 * moves only through {withdraw} (pull payments).
 *
 * Money rules: a rejection (which no proof covers) costs the rejected trainer that round's score
 * and no strike; only proven flags and missed rounds (no submission in a round others submitted
 * to: the chain shows the window was open) add strikes, and a trainer with `strikesToSlash` strikes loses
 * its stake to {SLASH_SINK}, never to the owner, the aggregator or the other trainers (each of
 * whom could otherwise profit from flags it helped cause). The same update digest twice in a
 * round is refused. Each round pays its own budget `reward / rounds` at publication
 * ({_settleRound}): accepted slot i earns `budget * score_i / Z`, `Z = S + w * top` with S the sum
 * of the accepted scores, top the largest, w the number of rejected or flagged slots. The w
 * reserves go to {SLASH_SINK} (`Withheld`): a rejection or flag (neither of which the other
 * trainers, the owner or the aggregator may profit from) never raises another account's pay
 * above what it would be had the slot been accepted with any score up to `top`. A round nobody
 * submitted to is refunded to the owner; a round with submissions but no positive score is
 * withheld. A rejected trainer may {contestRejection} (moving no money: the contract cannot judge
 * the envelope; the key on chain lets anyone re-run the intake).
 *
 * Invariant: `address(this).balance == sum(task.held) + sum(credits)` after every call
 * (the sink's credit included: it stays visible, and can never be withdrawn).
 *
 * WARNING: with `verifier == address(0)` a task runs in trusted-aggregator mode: the posted
 * scores are recorded without proof. {getTask} shows this as `trustedAggregator`.
 */
contract Marketplace is IMarketplace, ReentrancyGuard {
    /// @notice The BN254 scalar field modulus; every commitment and public value is below it.
    uint256 public constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @notice At most this many trainers per task (flags and rejections are bitmasks).
    uint256 public constant MAX_TRAINERS = 64;
    /// @notice At most this many rounds per task.
    uint256 public constant MAX_ROUNDS = 1000;
    /// @notice Bits of one slot's submission rank in a round's `order` (ranks < MAX_TRAINERS = 2^6).
    uint256 public constant ORDER_BITS = 6;
    /// @notice Slots whose rank `order` records: 42 * 6 = 252 bits, one BN254 field element.
    uint256 public constant ORDER_SLOTS = 42;
    /// @notice Longest CID accepted, in bytes.
    uint256 public constant MAX_CID_LENGTH = 128;
    /// @notice Largest score of one trainer in one round (keeps point sums far from overflow).
    uint256 public constant MAX_SCORE = 2 ** 128;
    /// @notice Where slashed stakes are credited (as `CreditKind.Slashed`): the conventional burn
    /// address, whose private key nobody holds (finding one is a 2^160 search), so the credit can
    /// never be withdrawn. No party of a task controls it: neither the owner nor the aggregator
    /// nor any trainer gains from another trainer's slashing. The wei stay in this contract,
    /// visible as `creditOf(SLASH_SINK)`, so the balance invariant keeps holding.
    address public constant SLASH_SINK = 0x000000000000000000000000000000000000dEaD;
    /// @notice Latest join deadline, counted from the task's creation (a later one would lock stakes).
    uint256 public constant MAX_JOIN_PERIOD = 365 days;
    /// @notice Longest submission, sketch, publish or contest window.
    uint256 public constant MAX_WINDOW = 30 days;
    /// @notice The account that approves verifiers ({approveVerifier}): the deployer. It cannot
    /// revoke an approval nor touch a task: a task's verifier is fixed when it is posted.
    address public immutable registrar;

    struct Round {
        uint64 submissionDeadline;
        uint64 sketchDeadline;
        uint64 publishDeadline;
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
        uint64 publishedAt;
        bytes32 referenceDigest;
        uint256 referenceCommitment;
        uint256 order; // 6 bits per slot < ORDER_SLOTS: its rank among the round's submissions
        uint256 withheld;
        uint256 contested;
        uint64 lastSubmissionBlock;
    }

    struct Task {
        TaskConfig config;
        address owner;
        uint256 reward;
        uint256 held;
        TaskState state;
        uint16 currentRound;
        uint16 publishedRounds;
        bool usesReference;
        address[] trainers;
        uint256 withheldTotal; // sum of the rounds' withheld wei (for the sink)
        uint256 refundedTotal; // budgets of rounds nobody submitted to (for the owner)
    }

    uint256 private _taskCount;
    mapping(uint256 taskId => Task) private _tasks;
    mapping(uint256 taskId => mapping(uint256 round => Round)) private _rounds;
    mapping(uint256 taskId => mapping(address trainer => TrainerView)) private _trainers;
    mapping(uint256 taskId => mapping(uint256 round => mapping(address trainer => SubmissionView))) private _submissions;
    mapping(uint256 taskId => mapping(uint256 round => mapping(bytes32 digest => address trainer))) private _digestSubmitter;
    mapping(address account => uint256) private _credits;
    uint256 private _totalCredits;
    mapping(address aggregator => bytes32 key) private _aggregatorKeys;
    mapping(address verifier => VerifierInfo) private _verifiers;
    mapping(uint256 taskId => mapping(address account => bool)) private _allowed;

    constructor() {
        registrar = msg.sender;
    }

    // ------------------------------------------------------------------------------------
    // Registries: aggregator keys, approved verifiers
    // ------------------------------------------------------------------------------------

    /**
     * @notice Registers (or replaces) the caller's X25519 public key, to which trainers encrypt
     * their updates. {createTask} accepts only the key its aggregator registered, so an owner
     * cannot name an aggregator and hand trainers a key of its own. A task keeps the key it was
     * posted with.
     * Emits an {AggregatorKeyRegistered} event.
     */
    function registerAggregatorKey(bytes32 key) external {
        if (key == bytes32(0)) revert MarketplaceInvalidAggregatorKey();
        _aggregatorKeys[msg.sender] = key;
        emit AggregatorKeyRegistered(msg.sender, key);
    }

    /// @notice The key `aggregator` registered (0 when none).
    function aggregatorKeyOf(address aggregator) external view returns (bytes32) {
        return _aggregatorKeys[aggregator];
    }

    /**
     * @notice Approves a verifier for tasks: records its code hash and its circuit's slots.
     * Only the registrar; once (no revocation: that would let the registrar stall running tasks).
     * @dev `slots()` is read with a bounded staticcall; a verifier that does not answer it
     * cannot be approved.
     * Emits a {VerifierApproved} event.
     */
    function approveVerifier(address verifier) external {
        if (msg.sender != registrar) revert MarketplaceUnauthorized(0, msg.sender);
        if (verifier.code.length == 0) revert MarketplaceInvalidVerifier(verifier);
        if (_verifiers[verifier].approved) revert MarketplaceVerifierAlreadyApproved(verifier);
        (bool ok, bytes memory ret) = verifier.staticcall{gas: 30_000}(abi.encodeWithSignature("slots()"));
        if (!ok || ret.length != 32) revert MarketplaceInvalidVerifier(verifier);
        uint256 slots = abi.decode(ret, (uint256));
        if (slots == 0) revert MarketplaceInvalidVerifier(verifier);
        bytes32 codeHash = verifier.codehash;
        _verifiers[verifier] = VerifierInfo({approved: true, codeHash: codeHash, slots: slots});
        emit VerifierApproved(verifier, codeHash, slots);
    }

    /// @notice A verifier's registry entry (all zero when never approved).
    function verifierInfo(address verifier) external view returns (VerifierInfo memory) {
        return _verifiers[verifier];
    }

    // ------------------------------------------------------------------------------------
    // Owner: post, start, cancel
    // ------------------------------------------------------------------------------------

    /**
     * @notice Posts a task and escrows `msg.value` as its reward.
     * @return taskId the new task's id (ids start at 1)
     * Emits a {TaskCreated} event.
     */
    function createTask(TaskConfig calldata config) external payable nonReentrant returns (uint256 taskId) {
        if (msg.value == 0) revert MarketplaceZeroReward();
        if (config.aggregator == address(0)) revert MarketplaceInvalidAggregator(config.aggregator);
        if (config.rounds == 0 || config.rounds > MAX_ROUNDS) revert MarketplaceInvalidRounds(config.rounds, MAX_ROUNDS);
        if (config.minTrainers == 0 || config.minTrainers > config.maxTrainers || config.maxTrainers > MAX_TRAINERS) {
            revert MarketplaceInvalidTrainerBounds(config.minTrainers, config.maxTrainers, MAX_TRAINERS);
        }
        if (config.joinDeadline <= block.timestamp || config.joinDeadline > block.timestamp + MAX_JOIN_PERIOD) {
            revert MarketplaceInvalidJoinDeadline(config.joinDeadline, block.timestamp);
        }
        _checkWindows(config);
        _checkCid(config.specCid);
        _checkVerifier(config);
        bytes32 registered = _aggregatorKeys[config.aggregator];
        if (config.aggregatorKey != registered || registered == bytes32(0)) {
            revert MarketplaceAggregatorKeyNotRegistered(config.aggregator, config.aggregatorKey, registered);
        }
        if (config.strikesToSlash == 0) revert MarketplaceInvalidStrikeLimit(config.strikesToSlash);

        taskId = ++_taskCount;
        Task storage task = _tasks[taskId];
        task.config = config;
        task.owner = msg.sender;
        task.reward = msg.value;
        task.held = msg.value;
        task.state = TaskState.Open;
        task.usesReference = _usesReference(config.verifier);
        emit TaskCreated(taskId, msg.sender, config.aggregator, msg.value, config.specCid, config.verifier);
    }

    /**
     * @notice Joins an open task, depositing exactly the task's stake.
     * Emits a {TrainerJoined} event.
     */
    function join(uint256 taskId) external payable nonReentrant {
        Task storage task = _requireState(taskId, TaskState.Open);
        if (block.timestamp > task.config.joinDeadline) revert MarketplaceJoinClosed(taskId, task.config.joinDeadline);
        if (msg.sender == task.owner || msg.sender == task.config.aggregator) {
            revert MarketplaceConflictOfInterest(taskId, msg.sender);
        }
        TrainerView storage trainer = _trainers[taskId][msg.sender];
        if (trainer.joined) revert MarketplaceAlreadyJoined(taskId, msg.sender);
        if (task.trainers.length >= task.config.maxTrainers) revert MarketplaceTaskFull(taskId, task.config.maxTrainers);
        if (msg.value != task.config.stake) revert MarketplaceWrongStake(taskId, msg.value, task.config.stake);
        if (task.config.allowlistOnly && !_allowed[taskId][msg.sender]) revert MarketplaceNotAllowed(taskId, msg.sender);

        uint16 slot = uint16(task.trainers.length);
        trainer.joined = true;
        trainer.slot = slot;
        task.trainers.push(msg.sender);
        task.held += msg.value;
        emit TrainerJoined(taskId, msg.sender, slot, msg.value);
    }

    /**
     * @notice Leaves a task that has not started: the stake is credited back. The trainer last
     * in join order takes the freed slot (slots matter only once training starts).
     * Emits {TrainerLeft} and {PaymentCredited} events.
     */
    function leave(uint256 taskId) external nonReentrant {
        Task storage task = _requireState(taskId, TaskState.Open);
        TrainerView storage trainer = _trainers[taskId][msg.sender];
        if (!trainer.joined) revert MarketplaceNotTrainer(taskId, msg.sender);
        uint16 slot = trainer.slot;
        address moved = task.trainers[task.trainers.length - 1];
        task.trainers[slot] = moved;
        _trainers[taskId][moved].slot = slot;
        task.trainers.pop();
        delete _trainers[taskId][msg.sender];
        emit TrainerLeft(taskId, msg.sender, slot, moved);
        _credit(taskId, task, msg.sender, task.config.stake, CreditKind.StakeReturned);
    }

    /**
     * @notice Allows `accounts` to join the caller's allowlist-only task (admission: the owner
     * picks who may train). Only the owner, while the task is open; allowances cannot be taken
     * back (a joined trainer cannot be pushed out).
     * Emits a {TrainerAllowed} event per account.
     */
    function allowTrainers(uint256 taskId, address[] calldata accounts) external {
        Task storage task = _requireState(taskId, TaskState.Open);
        if (msg.sender != task.owner) revert MarketplaceUnauthorized(taskId, msg.sender);
        for (uint256 i = 0; i < accounts.length; ++i) {
            _allowed[taskId][accounts[i]] = true;
            emit TrainerAllowed(taskId, accounts[i]);
        }
    }

    /// @notice Whether `account` may join `taskId` as far as admission goes.
    function isAllowed(uint256 taskId, address account) external view returns (bool) {
        return !_requireTask(taskId).config.allowlistOnly || _allowed[taskId][account];
    }

    /**
     * @notice Starts training once minTrainers joined. The owner or the aggregator may start at
     * any time; after the join deadline anyone may, so stakes cannot be held hostage.
     * Emits {TaskStarted} and {RoundOpened} events.
     */
    function start(uint256 taskId) external nonReentrant {
        Task storage task = _requireState(taskId, TaskState.Open);
        bool privileged = msg.sender == task.owner || msg.sender == task.config.aggregator;
        if (!privileged && block.timestamp <= task.config.joinDeadline) revert MarketplaceUnauthorized(taskId, msg.sender);
        if (task.trainers.length < task.config.minTrainers) {
            revert MarketplaceNotEnoughTrainers(taskId, task.trainers.length, task.config.minTrainers);
        }
        task.state = TaskState.Training;
        emit TaskStarted(taskId, task.trainers.length);
        _openRound(taskId, task, 0);
    }

    /**
     * @notice Cancels an open task: the owner may until the join deadline; after it, anyone may
     * when fewer than minTrainers joined (and nobody may once enough did: then anyone can
     * {start}). Reward and stakes are credited back.
     * Emits {TaskCancelled} and {PaymentCredited} events.
     */
    function cancel(uint256 taskId) external nonReentrant {
        Task storage task = _requireState(taskId, TaskState.Open);
        bool joinOpen = block.timestamp <= task.config.joinDeadline;
        bool undersubscribed = !joinOpen && task.trainers.length < task.config.minTrainers;
        if (!(msg.sender == task.owner && joinOpen) && !undersubscribed) {
            revert MarketplaceCannotCancel(taskId, task.trainers.length, task.config.minTrainers, task.config.joinDeadline);
        }
        task.state = TaskState.Cancelled;
        emit TaskCancelled(taskId, msg.sender);
        uint256 stake = task.config.stake;
        if (stake > 0) {
            for (uint256 i = 0; i < task.trainers.length; ++i) {
                _credit(taskId, task, task.trainers[i], stake, CreditKind.StakeReturned);
            }
        }
        _credit(taskId, task, task.owner, task.reward, CreditKind.Refund);
    }

    // ------------------------------------------------------------------------------------
    // A round: submit, close, commit, publish
    // ------------------------------------------------------------------------------------

    /**
     * @notice Commits the caller's encrypted update for `round`: its storage CID and the digest
     * of the stored bytes. Once per trainer per round, before the submission deadline. A digest
     * another trainer already submitted this round is refused: a copied envelope is no update of
     * one's own. (A trainer whose digest was taken first, e.g. by a front-runner, re-encrypts:
     * a fresh salt and nonce give a fresh digest.)
     * Emits an {UpdateSubmitted} event.
     */
    function submitUpdate(uint256 taskId, uint256 round, string calldata updateCid, bytes32 updateDigest)
        external
        nonReentrant
    {
        _requireRound(taskId, round);
        if (!_trainers[taskId][msg.sender].joined) revert MarketplaceNotTrainer(taskId, msg.sender);
        Round storage r = _rounds[taskId][round];
        if (r.closed || block.timestamp > r.submissionDeadline) {
            revert MarketplaceSubmissionClosed(taskId, round, r.submissionDeadline);
        }
        if (r.referenceDigest == bytes32(0) && _tasks[taskId].usesReference) {
            revert MarketplaceReferenceMissing(taskId, round);
        }
        SubmissionView storage sub = _submissions[taskId][round][msg.sender];
        if (sub.updateDigest != bytes32(0)) revert MarketplaceAlreadySubmitted(taskId, round, msg.sender);
        _checkCid(updateCid);
        if (updateDigest == bytes32(0)) revert MarketplaceInvalidDigest();
        mapping(bytes32 digest => address trainer) storage digests = _digestSubmitter[taskId][round];
        address first = digests[updateDigest];
        if (first != address(0)) revert MarketplaceDuplicateDigest(taskId, round, updateDigest, first);

        digests[updateDigest] = msg.sender;
        sub.updateCid = updateCid;
        sub.updateDigest = updateDigest;
        uint256 rank = r.submissions;
        uint256 slot = _trainers[taskId][msg.sender].slot;
        if (rank != 0 && slot < ORDER_SLOTS) r.order |= rank << (ORDER_BITS * slot);
        r.submissions += 1;
        r.lastSubmissionBlock = uint64(block.number);
        emit UpdateSubmitted(taskId, round, msg.sender, updateCid, updateDigest);
    }

    /**
     * @notice Fixes the round's reference update (the root of trust of a reference-rule task: the
     * task's recipe run on the owner's root set from the round's global model) by its digest.
     * Only the aggregator, once. {submitUpdate} refuses every submission until it is set, so it
     * always precedes the round's first update and cannot be aimed at any of them; a round closed
     * with no submission may still get it late (there is nothing to aim at).
     * Emits a {ReferenceCommitted} event.
     */
    function commitReference(uint256 taskId, uint256 round, bytes32 digest) external nonReentrant {
        Task storage task = _requireRound(taskId, round);
        if (msg.sender != task.config.aggregator) revert MarketplaceUnauthorized(taskId, msg.sender);
        if (!task.usesReference) revert MarketplaceReferenceNotUsed(taskId);
        Round storage r = _rounds[taskId][round];
        if (r.referenceDigest != bytes32(0)) revert MarketplaceReferenceAlreadyCommitted(taskId, round);
        if (digest == bytes32(0)) revert MarketplaceInvalidDigest();
        r.referenceDigest = digest;
        emit ReferenceCommitted(taskId, round, digest);
    }

    /**
     * @notice Commits to the sketch of the round's reference under the round's seed (a Poseidon
     * commitment, a nonzero field element): the verifier opens it in the proof. Only the
     * aggregator, after {closeSubmissions} (the seed) and before publication, once. That the sketch
     * is the committed reference's is checked off chain (`market audit`), as for every update.
     * Emits a {ReferenceSketchCommitted} event.
     */
    function commitReferenceSketch(uint256 taskId, uint256 round, uint256 commitment) external nonReentrant {
        Task storage task = _requireRound(taskId, round);
        if (msg.sender != task.config.aggregator) revert MarketplaceUnauthorized(taskId, msg.sender);
        if (!task.usesReference) revert MarketplaceReferenceNotUsed(taskId);
        Round storage r = _rounds[taskId][round];
        if (!r.closed) revert MarketplaceSubmissionsNotClosed(taskId, round);
        if (r.referenceDigest == bytes32(0)) revert MarketplaceReferenceMissing(taskId, round);
        if (r.referenceCommitment != 0) revert MarketplaceReferenceAlreadyCommitted(taskId, round);
        if (commitment == 0 || commitment >= SNARK_SCALAR_FIELD) revert MarketplaceInvalidFieldElement(commitment);
        r.referenceCommitment = commitment;
        emit ReferenceSketchCommitted(taskId, round, commitment);
    }

    /**
     * @notice Closes the round's submissions and fixes its sketch seed. Anyone may call it after
     * the submission deadline, or earlier once every trainer submitted; not after the round's
     * publish deadline (then the task can only be aborted).
     * @dev The seed mixes `block.prevrandao` and the previous block hash of the closing block.
     * A close in the block of the round's last submission is refused, so that hash is of a
     * block holding or following every update: no submitter knew it when it submitted (a
     * contract submitting and closing in one transaction, checking the seed, is refused). What
     * remains: the closer picks the block (one fresh seed per block it waits), and a proposer
     * of the block before the close can grind its hash over block variants; a fixed update is
     * hidden under a random ±1 projection only by chance (docs/security.md).
     * Emits a {SubmissionsClosed} event.
     */
    function closeSubmissions(uint256 taskId, uint256 round) external nonReentrant {
        Task storage task = _requireRound(taskId, round);
        Round storage r = _rounds[taskId][round];
        if (r.closed) revert MarketplaceSubmissionsAlreadyClosed(taskId, round);
        if (block.timestamp <= r.submissionDeadline && r.submissions < task.trainers.length) {
            revert MarketplaceSubmissionsStillOpen(taskId, round, r.submissionDeadline);
        }
        uint256 lastPublish = _publishDeadline(r, task.config);
        if (block.timestamp > lastPublish) revert MarketplacePublishDeadlinePassed(taskId, round, lastPublish);
        if (block.number <= r.lastSubmissionBlock) revert MarketplaceCloseTooEarly(taskId, round, r.lastSubmissionBlock);
        uint256 seed = uint256(
            keccak256(abi.encode(block.prevrandao, blockhash(block.number - 1), address(this), taskId, round))
        ) % SNARK_SCALAR_FIELD;
        uint64 sketchDeadline = uint64(block.timestamp) + task.config.sketchWindow;
        uint64 publishDeadline = sketchDeadline + task.config.publishGrace;
        r.closed = true;
        r.seed = seed;
        r.sketchDeadline = sketchDeadline;
        r.publishDeadline = publishDeadline;
        emit SubmissionsClosed(taskId, round, seed, sketchDeadline, publishDeadline);
    }

    /**
     * @notice Commits to the sketch of the caller's update under the round's seed
     * (a Poseidon commitment, a nonzero BN254 field element). Only submitters, before the sketch
     * deadline, once. A submitter that does not commit in time is rejected for the round.
     * Emits a {SketchCommitted} event.
     */
    function commitSketch(uint256 taskId, uint256 round, uint256 commitment) external nonReentrant {
        _requireRound(taskId, round);
        Round storage r = _rounds[taskId][round];
        if (!r.closed) revert MarketplaceSubmissionsNotClosed(taskId, round);
        if (block.timestamp > r.sketchDeadline) revert MarketplaceSketchWindowClosed(taskId, round, r.sketchDeadline);
        SubmissionView storage sub = _submissions[taskId][round][msg.sender];
        if (sub.updateDigest == bytes32(0)) revert MarketplaceNoSubmission(taskId, round, msg.sender);
        if (sub.sketchCommitment != 0) revert MarketplaceSketchAlreadyCommitted(taskId, round, msg.sender);
        if (commitment == 0 || commitment >= SNARK_SCALAR_FIELD) revert MarketplaceInvalidFieldElement(commitment);

        sub.sketchCommitment = commitment;
        r.sketches += 1;
        emit SketchCommitted(taskId, round, msg.sender, commitment);
    }

    /**
     * @notice Publishes the round: the new global model, flags (outliers), rejections (invalid
     * submissions), one score per trainer slot and the aggregate-sketch commitment. With a
     * verifier, the proof is checked against the commitments stored here and the round's seed;
     * the call reverts unless it verifies. Flagged trainers score nothing and collect a strike
     * (flags are what the proof covers). Rejected trainers score nothing and nothing else happens
     * to them: a rejection (failed intake, which no proof covers) never adds a strike, so it can
     * never cost a stake. Opens the next round, if any.
     * @param flags bit i set: slot i's update was flagged as an outlier
     * @param rejections bit i set: slot i's submission failed intake (or had no sketch commitment)
     * @param scores one per slot; nonzero only for accepted submitters, each <= MAX_SCORE
     * @param transcriptCid CID of the round's audit transcript (may be empty), emitted for auditors
     * Emits a {RoundPublished} event, and {RoundOpened} unless this was the last round.
     */
    function publishRound(
        uint256 taskId,
        uint256 round,
        string calldata globalModelCid,
        uint256 flags,
        uint256 rejections,
        uint256[] calldata scores,
        uint256 aggregateCommitment,
        bytes calldata proof,
        string calldata transcriptCid
    ) external nonReentrant {
        Task storage task = _requireRound(taskId, round);
        if (msg.sender != task.config.aggregator) revert MarketplaceUnauthorized(taskId, msg.sender);
        Round storage r = _rounds[taskId][round];
        uint256 deadline = _publishDeadline(r, task.config);
        if (block.timestamp > deadline) revert MarketplacePublishDeadlinePassed(taskId, round, deadline);
        if (!r.closed) revert MarketplaceSubmissionsNotClosed(taskId, round);
        if (block.timestamp <= r.sketchDeadline && r.sketches < r.submissions) {
            revert MarketplaceSketchWindowOpen(taskId, round, r.sketchDeadline);
        }
        _checkCid(globalModelCid);
        if (bytes(transcriptCid).length > MAX_CID_LENGTH) {
            revert MarketplaceInvalidCid(bytes(transcriptCid).length, MAX_CID_LENGTH);
        }
        if (aggregateCommitment >= SNARK_SCALAR_FIELD) revert MarketplaceInvalidFieldElement(aggregateCommitment);
        uint256[] memory commitments = _checkMarks(taskId, round, task.trainers, flags, rejections, scores);

        if (task.usesReference && r.referenceCommitment == 0) {
            revert MarketplaceReferenceMissing(taskId, round);
        }
        bool verified = false;
        if (task.config.verifier != address(0)) {
            _verify(taskId, round, task.config.verifier, commitments, r, flags, rejections, scores, aggregateCommitment, proof);
            verified = true;
        }

        r.published = true;
        r.proofVerified = verified;
        r.flags = flags;
        r.rejections = rejections;
        r.aggregateCommitment = aggregateCommitment;
        r.globalModelCid = globalModelCid;
        r.publishedAt = uint64(block.timestamp);
        task.publishedRounds += 1;
        emit RoundPublished(taskId, round, globalModelCid, flags, rejections, scores, aggregateCommitment, verified);
        if (bytes(transcriptCid).length > 0) emit TranscriptRecorded(taskId, round, transcriptCid);
        _settleRound(taskId, task, round, r, flags | rejections, scores);
        if (round + 1 < task.config.rounds) {
            _openRound(taskId, task, round + 1);
        } else {
            task.currentRound = uint16(round + 1);
        }
    }

    /**
     * @notice Contests the caller's rejection in a published round by revealing its own envelope
     * key (the trainer derived it when encrypting), so anyone can open the envelope and re-run the
     * intake (`market audit`). Possible until the task is settled; {finalize} waits `contestWindow`
     * after the last publication. A contest moves no money: the contract cannot tell a right
     * rejection from a wrong one, and paying either side would let it profit from the other's loss.
     * Emits a {RejectionContested} event.
     */
    function contestRejection(uint256 taskId, uint256 round, bytes32 key) external nonReentrant {
        _requireState(taskId, TaskState.Training);
        Round storage r = _rounds[taskId][round];
        if (!r.published) revert MarketplaceRoundNotPublished(taskId, round);
        TrainerView storage t = _trainers[taskId][msg.sender];
        if (!t.joined || (r.rejections >> t.slot) & 1 == 0) revert MarketplaceNotRejected(taskId, round, msg.sender);
        if ((r.contested >> t.slot) & 1 == 1) revert MarketplaceAlreadyContested(taskId, round, msg.sender);
        r.contested |= uint256(1) << t.slot;
        emit RejectionContested(taskId, round, msg.sender, key);
    }

    /**
     * @notice Publishes the decryption key of a rejected submission so anyone can check the
     * rejection. Aggregator only, after the round was published.
     * Emits an {EvidenceKeyRevealed} event.
     */
    function revealEvidenceKey(uint256 taskId, uint256 round, address trainer, bytes32 key) external {
        Task storage task = _requireTask(taskId);
        if (msg.sender != task.config.aggregator) revert MarketplaceUnauthorized(taskId, msg.sender);
        Round storage r = _rounds[taskId][round];
        if (!r.published) revert MarketplaceRoundNotPublished(taskId, round);
        TrainerView storage t = _trainers[taskId][trainer];
        if (!t.joined || (r.rejections >> t.slot) & 1 == 0) revert MarketplaceNotRejected(taskId, round, trainer);
        emit EvidenceKeyRevealed(taskId, round, trainer, key);
    }

    // ------------------------------------------------------------------------------------
    // Settlement and payments
    // ------------------------------------------------------------------------------------

    /**
     * @notice Settles a task whose rounds are all published. Anyone may call it.
     * Emits {TaskFinalized} and {PaymentCredited} events.
     */
    function finalize(uint256 taskId) external nonReentrant {
        Task storage task = _requireState(taskId, TaskState.Training);
        if (task.publishedRounds < task.config.rounds) {
            revert MarketplaceRoundsRemaining(taskId, task.publishedRounds, task.config.rounds);
        }
        uint256 window = task.config.contestWindow;
        if (window > 0) {
            // (window first: the gas used must not depend on the block time when there is no window)
            uint256 until = uint256(_rounds[taskId][task.config.rounds - 1].publishedAt) + window;
            if (block.timestamp <= until) revert MarketplaceContestWindowOpen(taskId, until);
        }
        task.state = TaskState.Finished;
        (uint256 rewardPaid, uint256 slashed, uint256 dust) = _settle(taskId, task, task.reward);
        emit TaskFinalized(taskId, rewardPaid, slashed, dust);
    }

    /**
     * @notice Aborts a task whose aggregator missed the current round's publish deadline.
     * Anyone may call it. The published rounds are settled as in {finalize} (their budgets,
     * `reward * publishedRounds / rounds`, were split at publication); the unpublished rounds'
     * budget goes back to the owner; stakes are settled as in {finalize}.
     * Emits {TaskAborted} and {PaymentCredited} events.
     */
    function abort(uint256 taskId) external nonReentrant {
        Task storage task = _requireState(taskId, TaskState.Training);
        uint256 round = task.currentRound;
        if (round >= task.config.rounds) revert MarketplaceRoundsRemaining(taskId, task.publishedRounds, task.config.rounds);
        uint256 deadline = _publishDeadline(_rounds[taskId][round], task.config);
        if (block.timestamp <= deadline) revert MarketplacePublishDeadlineNotPassed(taskId, round, deadline);
        task.state = TaskState.Aborted;
        uint256 earned = Math.mulDiv(task.reward, task.publishedRounds, task.config.rounds);
        uint256 unearned = task.reward - earned;
        (uint256 rewardPaid,, uint256 dust) = _settle(taskId, task, earned);
        emit TaskAborted(taskId, round, msg.sender, rewardPaid, unearned + dust + task.refundedTotal);
        if (unearned > 0) _credit(taskId, task, task.owner, unearned, CreditKind.Refund);
    }

    /**
     * @notice Sends the caller everything credited to it, across all tasks.
     * @dev Checks-effects-interactions: the credit is zeroed before the transfer; a failed
     * transfer reverts and keeps the credit.
     * Emits a {Withdrawn} event.
     */
    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = _credits[msg.sender];
        if (amount == 0) revert MarketplaceNothingToWithdraw(msg.sender);
        _credits[msg.sender] = 0;
        _totalCredits -= amount;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert MarketplaceTransferFailed(msg.sender, amount);
    }

    // ------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------

    /// @notice Number of tasks ever created; ids run from 1 to this.
    function taskCount() external view returns (uint256) {
        return _taskCount;
    }

    /// @notice A task's configuration and state.
    function getTask(uint256 taskId) external view returns (TaskView memory view_) {
        Task storage task = _requireTask(taskId);
        view_ = TaskView({
            config: task.config,
            owner: task.owner,
            reward: task.reward,
            held: task.held,
            state: task.state,
            currentRound: task.currentRound,
            publishedRounds: task.publishedRounds,
            trainerCount: uint16(task.trainers.length),
            trustedAggregator: task.config.verifier == address(0),
            usesReference: task.usesReference
        });
    }

    /// @notice The task's trainers in slot (join) order.
    function getTrainers(uint256 taskId) external view returns (address[] memory) {
        return _requireTask(taskId).trainers;
    }

    /// @notice A trainer's standing in a task (zero values when it never joined).
    function getTrainer(uint256 taskId, address trainer) external view returns (TrainerView memory) {
        _requireTask(taskId);
        return _trainers[taskId][trainer];
    }

    /// @notice A round's state; `publishDeadline` is the effective one even before closing.
    function getRound(uint256 taskId, uint256 round) external view returns (RoundView memory view_) {
        Task storage task = _requireTask(taskId);
        Round storage r = _rounds[taskId][round];
        view_ = RoundView({
            submissionDeadline: r.submissionDeadline,
            sketchDeadline: r.sketchDeadline,
            publishDeadline: r.submissionDeadline == 0 ? 0 : uint64(_publishDeadline(r, task.config)),
            submissions: r.submissions,
            sketches: r.sketches,
            closed: r.closed,
            published: r.published,
            proofVerified: r.proofVerified,
            seed: r.seed,
            flags: r.flags,
            rejections: r.rejections,
            aggregateCommitment: r.aggregateCommitment,
            globalModelCid: r.globalModelCid,
            publishedAt: r.publishedAt,
            withheld: r.withheld,
            contested: r.contested,
            referenceDigest: r.referenceDigest,
            referenceCommitment: r.referenceCommitment,
            order: r.order
        });
    }

    /// @notice One trainer's submission in one round (zero values when none).
    function getSubmission(uint256 taskId, uint256 round, address trainer) external view returns (SubmissionView memory) {
        _requireTask(taskId);
        return _submissions[taskId][round][trainer];
    }

    /// @notice The sketch commitments stored for `round`, one per slot (0 where none).
    function getCommitments(uint256 taskId, uint256 round) external view returns (uint256[] memory commitments) {
        Task storage task = _requireTask(taskId);
        commitments = new uint256[](task.trainers.length);
        for (uint256 i = 0; i < task.trainers.length; ++i) {
            commitments[i] = _submissions[taskId][round][task.trainers[i]].sketchCommitment;
        }
    }

    /// @notice Wei `account` can {withdraw} now.
    function creditOf(address account) external view returns (uint256) {
        return _credits[account];
    }

    /// @notice Wei credited to all accounts and not yet withdrawn.
    function totalCredits() external view returns (uint256) {
        return _totalCredits;
    }

    // ------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------

    function _requireTask(uint256 taskId) private view returns (Task storage task) {
        if (taskId == 0 || taskId > _taskCount) revert MarketplaceUnknownTask(taskId);
        task = _tasks[taskId];
    }

    function _requireState(uint256 taskId, TaskState state) private view returns (Task storage task) {
        task = _requireTask(taskId);
        if (task.state != state) revert MarketplaceWrongState(taskId, task.state, state);
    }

    function _requireRound(uint256 taskId, uint256 round) private view returns (Task storage task) {
        task = _requireState(taskId, TaskState.Training);
        if (round != task.currentRound || round >= task.config.rounds) {
            revert MarketplaceWrongRound(taskId, round, task.currentRound);
        }
    }

    function _checkWindows(TaskConfig calldata config) private pure {
        if (config.submissionWindow == 0 || config.sketchWindow == 0 || config.publishGrace == 0) {
            revert MarketplaceInvalidWindows(config.submissionWindow, config.sketchWindow, config.publishGrace);
        }
        uint256 longest = Math.max(
            Math.max(config.submissionWindow, config.sketchWindow), Math.max(config.publishGrace, config.contestWindow)
        );
        if (longest > MAX_WINDOW) revert MarketplaceWindowTooLong(longest, MAX_WINDOW);
    }

    /// @dev A verifier other than zero must be approved, keep the approved code, and have a slot
    /// for every trainer the task may take.
    function _checkVerifier(TaskConfig calldata config) private view {
        address verifier = config.verifier;
        if (verifier == address(0)) return;
        if (verifier.code.length == 0) revert MarketplaceInvalidVerifier(verifier);
        VerifierInfo storage info = _verifiers[verifier];
        if (!info.approved || verifier.codehash != info.codeHash) revert MarketplaceVerifierNotApproved(verifier);
        if (config.maxTrainers > info.slots) revert MarketplaceVerifierTooSmall(verifier, info.slots, config.maxTrainers);
    }

    function _checkCid(string calldata cid) private pure {
        uint256 length = bytes(cid).length;
        if (length == 0 || length > MAX_CID_LENGTH) revert MarketplaceInvalidCid(length, MAX_CID_LENGTH);
    }

    /// @dev Before closing, the deadline assumes the round closes at its submission deadline.
    function _publishDeadline(Round storage r, TaskConfig storage config) private view returns (uint256) {
        if (r.closed) return r.publishDeadline;
        return uint256(r.submissionDeadline) + config.sketchWindow + config.publishGrace;
    }

    function _openRound(uint256 taskId, Task storage task, uint256 round) private {
        task.currentRound = uint16(round);
        uint64 deadline = uint64(block.timestamp) + task.config.submissionWindow;
        _rounds[taskId][round].submissionDeadline = deadline;
        emit RoundOpened(taskId, round, deadline);
    }

    /// @dev Checks the posted marks and scores against the stored submissions and returns the
    /// stored sketch commitments, one per slot.
    function _checkMarks(
        uint256 taskId,
        uint256 round,
        address[] storage trainers,
        uint256 flags,
        uint256 rejections,
        uint256[] calldata scores
    ) private view returns (uint256[] memory commitments) {
        uint256 n = trainers.length;
        if (scores.length != n) revert MarketplaceWrongScoreCount(scores.length, n);
        if ((flags | rejections) >> n != 0) revert MarketplaceInvalidMarks(taskId, round, flags, rejections);
        commitments = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            SubmissionView storage sub = _submissions[taskId][round][trainers[i]];
            bool submitted = sub.updateDigest != bytes32(0);
            bool flagged = (flags >> i) & 1 == 1;
            bool rejected = (rejections >> i) & 1 == 1;
            if (!submitted && (flagged || rejected)) revert MarketplaceInvalidMarks(taskId, round, flags, rejections);
            if (submitted && sub.sketchCommitment == 0 && !rejected) {
                revert MarketplaceMissingRejection(taskId, round, trainers[i]);
            }
            if (scores[i] > 0 && (!submitted || flagged || rejected)) {
                revert MarketplaceScoreNotAllowed(taskId, round, trainers[i], scores[i]);
            }
            if (scores[i] > MAX_SCORE) revert MarketplaceScoreTooLarge(scores[i], MAX_SCORE);
            commitments[i] = sub.sketchCommitment;
        }
    }

    /// @dev Whether `verifier` says its rule takes a reference; false for none, for a verifier
    /// without {IRoundVerifier-usesReference}, and for any revert or malformed answer.
    function _usesReference(address verifier) private view returns (bool) {
        if (verifier == address(0)) return false;
        (bool ok, bytes memory ret) =
            verifier.staticcall{gas: 30_000}(abi.encodeCall(IRoundVerifier.usesReference, ()));
        return ok && ret.length == 32 && abi.decode(ret, (uint256)) == 1;
    }

    function _verify(
        uint256 taskId,
        uint256 round,
        address verifier,
        uint256[] memory commitments,
        Round storage r,
        uint256 flags,
        uint256 rejections,
        uint256[] calldata scores,
        uint256 aggregateCommitment,
        bytes calldata proof
    ) private view {
        try IRoundVerifier(verifier).verifyRound(
            commitments, r.seed, r.referenceCommitment, r.order, flags, rejections, scores, aggregateCommitment, proof
        ) returns (bool ok) {
            if (!ok) revert MarketplaceProofRejected(taskId, round);
        } catch {
            revert MarketplaceProofRejected(taskId, round);
        }
    }

    /// @dev Settles round `round` at publication with its budget (`reward * (round + 1) / rounds -
    /// reward * round / rounds`, so the budgets sum to the reward exactly): accepted slot i earns
    /// `budget * score_i / Z` with `Z = S + w * top` (S the accepted scores' sum, top the largest,
    /// w the withheld slots: `withheldMask` = rejected | flagged); the withheld slots' `w * top`
    /// share is reserved for the sink. Z = 0: the budget is refunded when nobody submitted (the
    /// chain shows nobody came), else withheld (nobody earned it and nobody may profit from that).
    /// The rounding remainder stays in the pool as dust for the owner.
    function _settleRound(
        uint256 taskId,
        Task storage task,
        uint256 round,
        Round storage r,
        uint256 withheldMask,
        uint256[] calldata scores
    ) private {
        uint256 rounds = task.config.rounds;
        uint256 budget = Math.mulDiv(task.reward, round + 1, rounds) - Math.mulDiv(task.reward, round, rounds);
        address[] storage trainers = task.trainers;
        uint256 n = trainers.length;
        uint256 total;
        uint256 top;
        uint256 w;
        uint256 flags = r.flags;
        bool anySubmitted = r.submissions > 0;
        for (uint256 i = 0; i < n; ++i) {
            // strikes: proven flags, and rounds others could submit to but this trainer did not
            bool missed = anySubmitted && _submissions[taskId][round][trainers[i]].updateDigest == bytes32(0);
            if ((flags >> i) & 1 == 1 || missed) _trainers[taskId][trainers[i]].strikes += 1;
            total += scores[i];
            if (scores[i] > top) top = scores[i];
            if ((withheldMask >> i) & 1 == 1) ++w;
        }
        uint256 z = total + w * top;
        uint256 paid;
        uint256 withheld;
        uint256 refunded;
        if (z == 0) {
            if (r.submissions == 0) refunded = budget;
            else withheld = budget;
        } else {
            for (uint256 i = 0; i < n; ++i) {
                if (scores[i] == 0) continue;
                TrainerView storage t = _trainers[taskId][trainers[i]];
                uint256 pay = Math.mulDiv(budget, scores[i], z);
                t.points += scores[i];
                t.earned += pay;
                paid += pay;
            }
            withheld = Math.mulDiv(budget, w * top, z);
        }
        r.withheld = withheld;
        task.withheldTotal += withheld;
        task.refundedTotal += refunded;
        emit RoundSettled(taskId, round, budget, paid, withheld, refunded);
    }

    /// @dev Credits every trainer what it earned (a slashed trainer keeps it), stakes back to
    /// unslashed trainers, slashed stakes and the withheld reserves to SLASH_SINK, refunds of
    /// empty rounds and the dust of `pool` (the published rounds' budgets) to the owner.
    function _settle(uint256 taskId, Task storage task, uint256 pool)
        private
        returns (uint256 rewardPaid, uint256 slashed, uint256 dust)
    {
        address[] storage trainers = task.trainers;
        uint256 stake = task.config.stake;
        uint256 strikesToSlash = task.config.strikesToSlash;
        for (uint256 i = 0; i < trainers.length; ++i) {
            address account = trainers[i];
            TrainerView storage t = _trainers[taskId][account];
            _credit(taskId, task, account, t.earned, CreditKind.Reward);
            rewardPaid += t.earned;
            if (t.strikes >= strikesToSlash) {
                slashed += stake;
                emit StakeSlashed(taskId, account, stake, t.strikes);
            } else {
                _credit(taskId, task, account, stake, CreditKind.StakeReturned);
            }
        }
        _credit(taskId, task, SLASH_SINK, slashed, CreditKind.Slashed);
        _credit(taskId, task, SLASH_SINK, task.withheldTotal, CreditKind.Withheld);
        _credit(taskId, task, task.owner, task.refundedTotal, CreditKind.Refund);
        dust = pool - rewardPaid - task.withheldTotal - task.refundedTotal;
        _credit(taskId, task, task.owner, dust, CreditKind.Dust);
    }

    /// @dev Moves `amount` of the task's held wei to `account`'s withdrawable credit.
    function _credit(uint256 taskId, Task storage task, address account, uint256 amount, CreditKind kind) private {
        if (amount == 0) return;
        task.held -= amount;
        _credits[account] += amount;
        _totalCredits += amount;
        emit PaymentCredited(taskId, account, amount, kind);
    }
}

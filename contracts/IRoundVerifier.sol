// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IRoundVerifier
 * @notice What the Marketplace asks before it records a round: does `proof` show that the posted
 * flags, rejections and scores follow the published rule from the trainers' own committed
 * sketches?
 *
 * The Marketplace builds every argument but `proof` itself: `commitments` are the sketch
 * commitments the trainers stored on chain (0 for a trainer slot without one), in join order;
 * `seed` is the round's sketch seed fixed by {IMarketplace-closeSubmissions};
 * `referenceCommitment` is the commitment to the round's reference sketch (the root of trust,
 * {IMarketplace-commitReferenceSketch}), 0 for a verifier that does not use one; `order` is the
 * round's submission order, 6 bits per slot (bits 6i .. 6i+5: slot i's rank among the round's
 * submissions, 0 = first; slots 0 .. ORDER_SLOTS-1 only), so a rule can tell which of two near-
 * identical updates came first. The aggregator supplies only the values it claims and the proof.
 *
 * Bit `i` of `flags` and `rejections` is trainer slot `i` (join order). Every value passed in is
 * an element of the BN254 scalar field (the Marketplace checks this before calling).
 *
 * An implementation wraps a generated Groth16 verifier (one file per circuit, never hand-edited),
 * so a new circuit needs only a new adapter.
 */
interface IRoundVerifier {
    /**
     * @notice True when the rule this verifier checks is anchored on a reference update (the
     * root-of-trust rule): the Marketplace then requires the round's reference digest before any
     * submission and its sketch commitment before publication. Read once, at task creation.
     */
    function usesReference() external view returns (bool);

    /**
     * @notice Returns true when `proof` verifies for these public values. Must not revert on a
     * malformed or false proof; the Marketplace reverts with `MarketplaceProofRejected` on false.
     */
    function verifyRound(
        uint256[] calldata commitments,
        uint256 seed,
        uint256 referenceCommitment,
        uint256 order,
        uint256 flags,
        uint256 rejections,
        uint256[] calldata scores,
        uint256 aggregateCommitment,
        bytes calldata proof
    ) external view returns (bool);
}

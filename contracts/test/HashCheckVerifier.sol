// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRoundVerifier} from "../IRoundVerifier.sol";

/**
 * @title HashCheckVerifier (test harness, not a proof system)
 * @notice Accepts a "proof" equal to the keccak256 of the ABI-encoded public values. Tests use it
 * to check what the Marketplace feeds its verifier (the stored commitments and the round seed,
 * never values the aggregator passes in) and how it treats `false` and reverts. A proof of
 * exactly one byte 0xff makes it revert. Real tasks use the generated Groth16 verifier.
 * With a nonzero `referenceCommitment` it is hashed after the seed:
 * keccak256(abi.encode(commitments, seed, referenceCommitment, flags, rejections, scores, aggregate)).
 * The submission `order` is accepted and ignored (never hashed).
 */
contract HashCheckVerifier is IRoundVerifier {
    /// @notice Trainer slots it serves (the Marketplace registry reads it on approval).
    function slots() external pure virtual returns (uint256) {
        return 64;
    }

    /// @inheritdoc IRoundVerifier
    function usesReference() external pure virtual returns (bool) {
        return false;
    }

    /// @inheritdoc IRoundVerifier
    function verifyRound(
        uint256[] calldata commitments,
        uint256 seed,
        uint256 referenceCommitment,
        uint256, /* order: not hashed */
        uint256 flags,
        uint256 rejections,
        uint256[] calldata scores,
        uint256 aggregateCommitment,
        bytes calldata proof
    ) external pure returns (bool) {
        if (proof.length == 1 && proof[0] == 0xff) revert("HashCheckVerifier: asked to revert");
        bytes32 expected = referenceCommitment == 0
            ? keccak256(abi.encode(commitments, seed, flags, rejections, scores, aggregateCommitment))
            : keccak256(abi.encode(commitments, seed, referenceCommitment, flags, rejections, scores, aggregateCommitment));
        return proof.length == 32 && bytes32(proof) == expected;
    }
}

/**
 * @title ReferenceHashCheckVerifier (test harness, not a proof system)
 * @notice {HashCheckVerifier} for a rule anchored on a reference: the Marketplace then requires the
 * round's reference digest before submissions and its sketch commitment before publication.
 */
contract ReferenceHashCheckVerifier is HashCheckVerifier {
    /// @inheritdoc IRoundVerifier
    function usesReference() external pure override returns (bool) {
        return true;
    }
}

/// @title FourSlotHashCheckVerifier (test harness): a HashCheckVerifier whose circuit has 4 slots.
contract FourSlotHashCheckVerifier is HashCheckVerifier {
    function slots() external pure override returns (uint256) {
        return 4;
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRoundVerifier} from "../IRoundVerifier.sol";

/**
 * @title ReferenceRoundVerifier
 * @notice {IRoundVerifier} for the root-of-trust circuit `ReferenceRound(N, K, H_NUM, H_DEN)` of
 * zk/circuits/reference_round.circom: maps the values the Marketplace passes to the circuit's
 * public inputs and asks the generated Groth16 verifier (`ReferenceGroth16Verifier<N>x<K>h<H_NUM>d<H_DEN>`,
 * one per circuit and key, never hand-edited).
 *
 * Public inputs, in the circuit's order (docs/reference_circuit.md, "Public inputs"):
 *
 *   commitments[0 .. N-1]      the stored sketch commitments, 0 past the task's trainers
 *   referenceCommitment        the commitment to the round's reference sketch r (never 0)
 *   order                      the round's submission order: bits 6i .. 6i+5 slot i's rank (0 = first)
 *   marks                      flags | rejections << N | hNumerator << 2N | hDenominator << 2N+32
 *   params                     γ_num | γ_den << 32 | β_num << 64 | β_den << 96 | δ_num << 128 | δ_den << 160
 *   packed[0 .. ceil(N/2)-1]   scores[2q] | scores[2q+1] << 126
 *   aggregateCommitment
 *
 * so N + ceil(N/2) + 5 inputs (29 for N = 16). The utility's curvature h = hNumerator /
 * hDenominator is a constant of the circuit (its score constants depend on it): it must be the
 * circuit's, or no proof verifies. The flag thresholds γ (cosine), β (norm) and δ (duplicate)
 * are public inputs fixed per adapter (constructor `params`), so one key and one Groth16
 * verifier serve every γ, β, δ. The seed is not an input (see {RoundVerifier}). The order is: the
 * rule flags only the later-submitted member of a near-duplicate pair, so an aggregator cannot frame
 * an honest trainer with a copy of its update (docs/reference_circuit.md).
 *
 * A task with n <= N trainers is padded with absent slots (commitment 0, no marks, score 0),
 * which the rule ignores. `verifyRound` never reverts: malformed proofs, more than N slots,
 * scores of 2^126 or more, a reference commitment of 0, an order with ranks past slot N - 1 and
 * values outside the field all return false. The Groth16 verifier runs under a gas cap
 * (`verifyGas`), so a proof that makes it hit `invalid()` (a point off the curve, a G2 point
 * outside the subgroup) costs at most that much.
 */
contract ReferenceRoundVerifier is IRoundVerifier {
    /// @notice The BN254 scalar field modulus; every public input is below it.
    uint256 public constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @notice Width of a packed score: each score must be below 2^SCORE_BITS.
    uint256 public constant SCORE_BITS = 126;
    /// @notice Every fraction part (h, γ, β, δ) is below 2^PART_BITS.
    uint256 public constant PART_BITS = 32;
    /// @notice `params` holds six parts: nothing at or above bit PARAMS_BITS.
    uint256 public constant PARAMS_BITS = 192;
    /// @notice Length of `proof`: a (2 words), b (4 words, Fp2 as (c1, c0)), c (2 words).
    uint256 public constant PROOF_LENGTH = 256;
    /// @notice Bits of one slot's rank in `order`.
    uint256 public constant ORDER_BITS = 6;
    /// @notice The largest N an adapter accepts: the circuit's 6N order bits fit one field element
    /// (the Marketplace's ORDER_SLOTS).
    uint256 public constant MAX_SLOTS = 42;
    /// @notice The largest K the circuit supports (its flag comparisons need 2(80 + log2 K) + 64 <= 252).
    uint256 public constant MAX_SKETCH_LENGTH = 16384;

    /// @notice The generated Groth16 verifier of the root-of-trust circuit.
    address public immutable groth16Verifier;
    /// @notice N, the circuit's trainer slots.
    uint256 public immutable slots;
    /// @notice K, the circuit's sketch length (informational: it shapes no public input).
    uint256 public immutable sketchLength;
    /// @notice The numerator of the circuit's curvature h = hNumerator / hDenominator.
    uint256 public immutable hNumerator;
    /// @notice The denominator of the circuit's curvature h = hNumerator / hDenominator.
    uint256 public immutable hDenominator;
    /// @notice γ, β, δ packed as the circuit's `params` input (zk.reference_circuit.pack_params).
    uint256 public immutable params;
    /// @notice Gas forwarded to the Groth16 verifier.
    uint256 public immutable verifyGas;
    /// @notice N + ceil(N/2) + 5.
    uint256 public immutable publicInputCount;
    /// @notice Selector of `verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[P])`.
    bytes4 public immutable verifySelector;

    /**
     * @notice A constructor argument is out of range: a verifier without code, N outside
     * [1, MAX_SLOTS], K outside [1, MAX_SKETCH_LENGTH], an h part outside [1, 2^32), `params`
     * with a bit at or above 192 or a zero part other than γ's numerator, or a zero gas cap.
     */
    error ReferenceRoundVerifierInvalidConfig(address verifier, uint256 slots, uint256 sketchLength,
        uint256 hNumerator, uint256 hDenominator, uint256 params, uint256 verifyGas);

    /**
     * @notice Points at the Groth16 verifier `verifier` of `ReferenceRound(n, k, hNum, hDen)` and
     * fixes the flag thresholds `packedParams` and the gas cap `gasLimit`.
     * @dev Reverts {ReferenceRoundVerifierInvalidConfig} when an argument is out of range.
     */
    constructor(address verifier, uint256 n, uint256 k, uint256 hNum, uint256 hDen, uint256 packedParams,
        uint256 gasLimit) {
        if (
            verifier.code.length == 0 || n == 0 || n > MAX_SLOTS || k == 0 || k > MAX_SKETCH_LENGTH
                || !_isPart(hNum) || !_isPart(hDen) || !_validParams(packedParams) || gasLimit == 0
        ) revert ReferenceRoundVerifierInvalidConfig(verifier, n, k, hNum, hDen, packedParams, gasLimit);
        groth16Verifier = verifier;
        slots = n;
        sketchLength = k;
        hNumerator = hNum;
        hDenominator = hDen;
        params = packedParams;
        verifyGas = gasLimit;
        uint256 count = n + (n + 1) / 2 + 5;
        publicInputCount = count;
        verifySelector = bytes4(
            keccak256(
                abi.encodePacked("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[", _decimal(count), "])")
            )
        );
    }

    /// @inheritdoc IRoundVerifier
    /// @dev The root-of-trust rule is anchored on the round's reference sketch: true.
    function usesReference() external pure returns (bool) {
        return true;
    }

    /// @inheritdoc IRoundVerifier
    function verifyRound(
        uint256[] calldata commitments,
        uint256, /* seed: not a public input, see the contract's notice */
        uint256 referenceCommitment,
        uint256 order,
        uint256 flags,
        uint256 rejections,
        uint256[] calldata scores,
        uint256 aggregateCommitment,
        bytes calldata proof
    ) external view returns (bool) {
        if (proof.length != PROOF_LENGTH) return false;
        (bool ok, uint256[] memory inputs) =
            publicInputs(commitments, referenceCommitment, order, flags, rejections, scores, aggregateCommitment);
        if (!ok) return false;
        bytes memory call = abi.encodePacked(verifySelector, proof, inputs);
        (bool success, bytes memory ret) = groth16Verifier.staticcall{gas: verifyGas}(call);
        return success && ret.length == 32 && abi.decode(ret, (uint256)) == 1;
    }

    /**
     * @notice The circuit's public inputs for these values, as `verifyRound` passes them; `ok`
     * is false (and `inputs` empty) when they cannot be represented: more than N slots, length
     * mismatch, marks beyond the slots, an order with bits at or above 6N, a score of 2^126 or
     * more, a reference commitment of 0, a value outside the field.
     */
    function publicInputs(
        uint256[] calldata commitments,
        uint256 referenceCommitment,
        uint256 order,
        uint256 flags,
        uint256 rejections,
        uint256[] calldata scores,
        uint256 aggregateCommitment
    ) public view returns (bool ok, uint256[] memory inputs) {
        uint256 n = slots;
        uint256 used = commitments.length;
        if (used > n || scores.length != used || (flags | rejections) >> used != 0) return (false, inputs);
        if (referenceCommitment == 0 || referenceCommitment >= SNARK_SCALAR_FIELD) return (false, inputs);
        // 6N <= 252 bits: below the field
        if (order >> (ORDER_BITS * n) != 0) return (false, inputs);
        if (aggregateCommitment >= SNARK_SCALAR_FIELD) return (false, inputs);
        inputs = new uint256[](publicInputCount);
        for (uint256 i = 0; i < used; ++i) {
            uint256 c = commitments[i];
            if (c >= SNARK_SCALAR_FIELD) return (false, new uint256[](0));
            inputs[i] = c;
        }
        inputs[n] = referenceCommitment;
        inputs[n + 1] = order;
        // at most 2 * 42 + 64 = 148 bits: below the field
        inputs[n + 2] = flags | (rejections << n) | (hNumerator << (2 * n)) | (hDenominator << (2 * n + PART_BITS));
        inputs[n + 3] = params;
        for (uint256 i = 0; i < used; ++i) {
            uint256 s = scores[i];
            if (s >> SCORE_BITS != 0) return (false, new uint256[](0));
            // slots 2q and 2q+1 share input n + 4 + q; slot 2q+1 sits in the upper half
            inputs[n + 4 + i / 2] |= s << ((i % 2) * SCORE_BITS);
        }
        inputs[publicInputCount - 1] = aggregateCommitment;
        return (true, inputs);
    }

    /// @dev True when `value` is in [1, 2^PART_BITS).
    function _isPart(uint256 value) private pure returns (bool) {
        return value != 0 && value >> PART_BITS == 0;
    }

    /// @dev Six parts below 2^32, nothing above bit 192, every part but γ's numerator at least 1
    /// (what the circuit requires of `params`, as zk.protocol.reference_rule.ReferenceRuleParams).
    function _validParams(uint256 packed) private pure returns (bool) {
        if (packed >> PARAMS_BITS != 0) return false;
        for (uint256 t = 1; t < PARAMS_BITS / PART_BITS; ++t) {
            if ((packed >> (t * PART_BITS)) & ((1 << PART_BITS) - 1) == 0) return false;
        }
        return true;
    }

    function _decimal(uint256 value) private pure returns (string memory) {
        if (value == 0) return "0";
        uint256 digits;
        for (uint256 v = value; v != 0; v /= 10) ++digits;
        bytes memory out = new bytes(digits);
        for (; value != 0; value /= 10) out[--digits] = bytes1(uint8(48 + (value % 10)));
        return string(out);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRoundVerifier} from "../IRoundVerifier.sol";

/**
 * @title RoundVerifier
 * @notice {IRoundVerifier} for the round circuit `Round(N, K)` of zk/circuits/round.circom: maps
 * the values the Marketplace passes to the circuit's public inputs and asks the generated Groth16
 * verifier (`RoundGroth16Verifier<N>x<K>`, one per circuit size and key, never hand-edited).
 *
 * Public inputs, in the circuit's order (zk/README.md, "Public inputs"):
 *
 *   commitments[0 .. N-1]   the stored sketch commitments, 0 past the task's trainers
 *   marks                   flags | rejections << N | tauNumerator << 2N | tauDenominator << 2N+32
 *   packed[0 .. ceil(N/2)-1]   scores[2q] | scores[2q+1] << 126
 *   aggregateCommitment
 *
 * so 26 inputs for N = 16 instead of 2N + 4 = 36 unpacked. τ is fixed per adapter
 * (constructor), so one key and one Groth16 verifier serve every τ: a task with another τ
 * deploys only a new adapter. The seed is not an input: the statement proven (flags, scores
 * and g follow the rule from the sketches these commitments open) does not involve it; the
 * per-round salted commitments already tie a proof to its round.
 *
 * A task with n <= N trainers is padded with absent slots (commitment 0, no marks, score 0),
 * which the rule ignores. `verifyRound` never reverts: malformed proofs, more than N slots,
 * scores of 2^126 or more and values outside the field all return false. The Groth16 verifier
 * runs under a gas cap (`verifyGas`), so a proof that makes it hit `invalid()` (a point off
 * the curve, a G2 point outside the subgroup) costs at most that much.
 */
contract RoundVerifier is IRoundVerifier {
    /// @notice The BN254 scalar field modulus; every public input is below it.
    uint256 public constant SNARK_SCALAR_FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @notice Width of a packed score: each score must be below 2^SCORE_BITS.
    uint256 public constant SCORE_BITS = 126;
    /// @notice tauNumerator and tauDenominator are below 2^TAU_BITS.
    uint256 public constant TAU_BITS = 32;
    /// @notice Length of `proof`: a (2 words), b (4 words, Fp2 as (c1, c0)), c (2 words).
    uint256 public constant PROOF_LENGTH = 256;
    /// @notice The largest N an adapter accepts (the Marketplace's MAX_TRAINERS).
    uint256 public constant MAX_SLOTS = 64;

    /// @notice The generated Groth16 verifier of the round circuit.
    address public immutable groth16Verifier;
    /// @notice N, the circuit's trainer slots.
    uint256 public immutable slots;
    /// @notice K, the circuit's sketch length (informational: it shapes no public input).
    uint256 public immutable sketchLength;
    /// @notice τ = tauNumerator / tauDenominator of the flag rule.
    uint256 public immutable tauNumerator;
    uint256 public immutable tauDenominator;
    /// @notice Gas forwarded to the Groth16 verifier.
    uint256 public immutable verifyGas;
    /// @notice N + ceil(N/2) + 2.
    uint256 public immutable publicInputCount;
    /// @notice Selector of `verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[P])`.
    bytes4 public immutable verifySelector;

    /// @notice A constructor argument is out of range.
    error RoundVerifierInvalidConfig(address verifier, uint256 slots, uint256 sketchLength, uint256 tauNumerator,
        uint256 tauDenominator, uint256 verifyGas);

    constructor(address verifier, uint256 n, uint256 k, uint256 tauNum, uint256 tauDen, uint256 gasLimit) {
        if (
            verifier.code.length == 0 || n == 0 || n > MAX_SLOTS || k == 0 || tauNum == 0 || tauNum >> TAU_BITS != 0
                || tauDen == 0 || tauDen >> TAU_BITS != 0 || gasLimit == 0
        ) revert RoundVerifierInvalidConfig(verifier, n, k, tauNum, tauDen, gasLimit);
        groth16Verifier = verifier;
        slots = n;
        sketchLength = k;
        tauNumerator = tauNum;
        tauDenominator = tauDen;
        verifyGas = gasLimit;
        uint256 count = n + (n + 1) / 2 + 2;
        publicInputCount = count;
        verifySelector = bytes4(
            keccak256(
                abi.encodePacked("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[", _decimal(count), "])")
            )
        );
    }

    /// @inheritdoc IRoundVerifier
    /// @dev The median rule has no reference: false.
    function usesReference() external pure returns (bool) {
        return false;
    }

    /// @inheritdoc IRoundVerifier
    function verifyRound(
        uint256[] calldata commitments,
        uint256, /* seed: not a public input, see the contract's notice */
        uint256, /* referenceCommitment: the median rule has none */
        uint256, /* order: the median rule does not read the submission order */
        uint256 flags,
        uint256 rejections,
        uint256[] calldata scores,
        uint256 aggregateCommitment,
        bytes calldata proof
    ) external view returns (bool) {
        if (proof.length != PROOF_LENGTH) return false;
        (bool ok, uint256[] memory inputs) = publicInputs(commitments, flags, rejections, scores, aggregateCommitment);
        if (!ok) return false;
        bytes memory call = abi.encodePacked(verifySelector, proof, inputs);
        (bool success, bytes memory ret) = groth16Verifier.staticcall{gas: verifyGas}(call);
        return success && ret.length == 32 && abi.decode(ret, (uint256)) == 1;
    }

    /**
     * @notice The circuit's public inputs for these values, as `verifyRound` passes them; `ok`
     * is false (and `inputs` empty) when they cannot be represented: more than N slots, length
     * mismatch, marks beyond the slots, a score of 2^126 or more, a value outside the field.
     */
    function publicInputs(
        uint256[] calldata commitments,
        uint256 flags,
        uint256 rejections,
        uint256[] calldata scores,
        uint256 aggregateCommitment
    ) public view returns (bool ok, uint256[] memory inputs) {
        uint256 n = slots;
        uint256 used = commitments.length;
        if (used > n || scores.length != used || (flags | rejections) >> used != 0) return (false, inputs);
        if (aggregateCommitment >= SNARK_SCALAR_FIELD) return (false, inputs);
        inputs = new uint256[](publicInputCount);
        for (uint256 i = 0; i < used; ++i) {
            uint256 c = commitments[i];
            if (c >= SNARK_SCALAR_FIELD) return (false, new uint256[](0));
            inputs[i] = c;
        }
        inputs[n] = flags | (rejections << n) | (tauNumerator << (2 * n)) | (tauDenominator << (2 * n + TAU_BITS));
        for (uint256 i = 0; i < used; ++i) {
            uint256 s = scores[i];
            if (s >> SCORE_BITS != 0) return (false, new uint256[](0));
            // slots 2q and 2q+1 share input n + 1 + q; slot 2q+1 sits in the upper half
            inputs[n + 1 + i / 2] |= s << ((i % 2) * SCORE_BITS);
        }
        inputs[publicInputCount - 1] = aggregateCommitment;
        return (true, inputs);
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

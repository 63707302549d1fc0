// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

interface IMarketplaceRound {
    function join(uint256 taskId) external payable;
    function submitUpdate(uint256 taskId, uint256 round, string calldata updateCid, bytes32 updateDigest) external;
    function closeSubmissions(uint256 taskId, uint256 round) external;
}

/**
 * @title SeedPredictor (test harness, an attack)
 * @notice The last trainer of a round as a contract: it computes the sketch seed a close in the
 * current block would draw (the Marketplace's formula), then submits and closes in the same
 * transaction, so it could have shaped its update for that seed (hiding it in the projection's
 * null space). The Marketplace refuses a close in the block of the last submission.
 */
contract SeedPredictor {
    uint256 private constant FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    IMarketplaceRound public immutable market;

    constructor(address market_) {
        market = IMarketplaceRound(market_);
    }

    function joinTask(uint256 taskId) external payable {
        market.join{value: msg.value}(taskId);
    }

    /// @notice The seed a close of (taskId, round) in this block would draw.
    function predictSeed(uint256 taskId, uint256 round) public view returns (uint256) {
        return uint256(keccak256(abi.encode(block.prevrandao, blockhash(block.number - 1), address(market), taskId, round)))
            % FIELD;
    }

    /// @notice Submits and closes in one transaction; returns the seed it predicted.
    function submitAndClose(uint256 taskId, uint256 round, string calldata cid, bytes32 digest)
        external
        returns (uint256 predicted)
    {
        predicted = predictSeed(taskId, round);
        market.submitUpdate(taskId, round, cid, digest);
        market.closeSubmissions(taskId, round);
    }

    /// @notice Only submits (the close must come in a later block).
    function submit(uint256 taskId, uint256 round, string calldata cid, bytes32 digest) external {
        market.submitUpdate(taskId, round, cid, digest);
    }
}

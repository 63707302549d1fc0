// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

interface IMarketplaceEntry {
    function join(uint256 taskId) external payable;
    function withdraw() external returns (uint256);
}

/**
 * @title ReentrantTrainer (test harness)
 * @notice A trainer that is a contract: it can refuse ether, or try to re-enter {withdraw} from
 * its receive hook. Tests use it for the Marketplace's transfer-failure and reentrancy paths.
 */
contract ReentrantTrainer {
    IMarketplaceEntry public immutable market;
    bool public refuseEther;
    bool public reenter;
    bool public reentryReverted;

    constructor(address market_) {
        market = IMarketplaceEntry(market_);
    }

    function configure(bool refuseEther_, bool reenter_) external {
        refuseEther = refuseEther_;
        reenter = reenter_;
    }

    function joinTask(uint256 taskId) external payable {
        market.join{value: msg.value}(taskId);
    }

    function withdrawFromMarket() external returns (uint256) {
        return market.withdraw();
    }

    receive() external payable {
        if (refuseEther) revert("ReentrantTrainer: refusing ether");
        if (reenter) {
            try market.withdraw() {
                reentryReverted = false;
            } catch {
                reentryReverted = true;
            }
        }
    }
}

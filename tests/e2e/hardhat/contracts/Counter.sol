// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// A counter with an event, a custom error and a time lock: what contract test suites exercise.
contract Counter {
    uint256 public count;
    uint256 public immutable unlockTime;

    event Incremented(address indexed by, uint256 count);
    error TooEarly(uint256 now_, uint256 unlockTime);

    constructor(uint256 lockSeconds) {
        unlockTime = block.timestamp + lockSeconds;
    }

    function increment() external {
        count += 1;
        emit Incremented(msg.sender, count);
    }

    function unlockedIncrement() external {
        if (block.timestamp < unlockTime) revert TooEarly(block.timestamp, unlockTime);
        count += 100;
    }
}

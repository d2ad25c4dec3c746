// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title StorageHeavy
/// @notice Benchmark contract: writes many fresh storage slots per call and keeps a counter.
/// @dev Each `write(n)` touches slots never written before, so every store is a
///      zero-to-nonzero SSTORE (the most expensive case for gas and for the state trie).
contract StorageHeavy {
    /// @notice Emitted by `increment`.
    /// @param by The caller.
    /// @param value The counter value after incrementing.
    event Incremented(address indexed by, uint256 value);

    /// @notice Current counter value.
    uint256 public counter;

    /// @notice Number of slots written so far by `write`; the next fresh slot index.
    uint256 public slotsWritten;

    /// @notice Slots written by `write`, keyed by a monotonically increasing index.
    mapping(uint256 => uint256) public slots;

    /// @notice Writes `n` fresh, previously unused storage slots.
    /// @param n Number of slots to write.
    function write(uint256 n) external {
        uint256 start = slotsWritten;
        uint256 end = start + n;
        for (uint256 i = start; i < end; ++i) {
            slots[i] = i + 1; // nonzero so the slot is really created
        }
        slotsWritten = end;
    }

    /// @notice Increments the counter and emits `Incremented`.
    /// @return value The counter value after incrementing.
    function increment() external returns (uint256 value) {
        value = ++counter;
        emit Incremented(msg.sender, value);
    }
}

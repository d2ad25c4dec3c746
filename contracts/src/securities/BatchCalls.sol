// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title BatchCalls
/// @notice All-or-nothing batches of a contract's own functions that name the item that failed.
/// @dev Each item is a delegatecall of this contract's own code with the item's calldata, so it runs
///      exactly as a direct call would (same `msg.sender`, same role checks, same storage); the first
///      failing item reverts the whole batch with `BatchItemFailed(index, reason)`, where `reason` is
///      the item's own revert data. Only for contracts that are not proxies (the code at
///      `address(this)` is this contract's).
abstract contract BatchCalls {
    /// @notice Item `index` of a batch reverted with `reason`; nothing in the batch took effect.
    error BatchItemFailed(uint256 index, bytes reason);
    /// @notice The argument arrays of a batch have different lengths.
    error BatchLengthMismatch();

    function _batchItem(uint256 index, bytes memory call) internal {
        (bool ok, bytes memory reason) = address(this).delegatecall(call);
        if (!ok) revert BatchItemFailed(index, reason);
    }

    function _sameLength(uint256 a, uint256 b) internal pure {
        if (a != b) revert BatchLengthMismatch();
    }
}

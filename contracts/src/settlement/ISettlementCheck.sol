// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice A token that can say whether a trade between two parties passes its rules, leaving the
///         balance aside. DvPSettlement asks it for every instruction of a netting batch, so that a
///         party whose net position is zero is still checked as if the trade settled gross.
/// @dev Announced through ERC-165 (`supportsInterface(type(ISettlementCheck).interfaceId)`).
interface ISettlementCheck {
    /// @notice 0 if moving `amount` from `from` to `to` passes every rule but the balance, else a
    ///         token-specific reason code.
    function settlementRestriction(address from, address to, uint256 amount) external view returns (uint8);
}

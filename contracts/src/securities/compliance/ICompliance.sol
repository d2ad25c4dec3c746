// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice The compliance a restricted token consults: a check before every transfer, mint and
///         forced transfer, and a notice after every balance change so stateful rules can count.
interface ICompliance {
    /// @notice bytes32(0) if moving `amount` from `from` to `to` is allowed (`from` = 0: a mint),
    ///         else the refusing rule's reason (e.g. "MAX_HOLDERS").
    function checkTransfer(address from, address to, uint256 amount) external view returns (bytes32 refusal);

    /// @notice `amount` moved from `from` to `to` (0 for a mint or a burn). Only the bound token calls it.
    function transferred(address from, address to, uint256 amount) external;
}

/// @notice One rule of a ModularCompliance.
interface IComplianceModule {
    /// @notice The ModularCompliance this module serves.
    function compliance() external view returns (address);

    /// @notice bytes32(0) if the rule allows moving `amount` from `from` to `to`, else its reason.
    function check(address from, address to, uint256 amount) external view returns (bytes32 refusal);

    /// @notice Update the rule's state after a balance change (only its compliance calls it).
    function transferred(address from, address to, uint256 amount) external;
}

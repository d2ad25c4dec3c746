// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ComplianceModule} from "./ComplianceModule.sol";

/// @title MaxBalanceModule
/// @notice No investor may hold more than `maxBalance` in total over all its wallets: a transfer or
///         mint that would take the receiving investor above it is refused ("MAX_BALANCE"). Moves
///         between one investor's wallets are always allowed.
/// @dev Stateless: it reads the investor's wallets and balances on each check.
contract MaxBalanceModule is ComplianceModule {
    /// @notice The most one investor may hold.
    uint256 public maxBalance;

    /// @notice The limit changed.
    event MaxBalanceSet(uint256 maxBalance);

    constructor(address compliance_, uint256 maxBalance_) ComplianceModule(compliance_) {
        maxBalance = maxBalance_;
    }

    /// @notice Change the limit.
    function setMaxBalance(uint256 maxBalance_) external onlyComplianceAdmin {
        maxBalance = maxBalance_;
        emit MaxBalanceSet(maxBalance_);
    }

    /// @notice bytes32(0) if this rule allows moving `amount` from `from` to `to`, else its reason.
    function check(address from, address to, uint256 amount) external view returns (bytes32) {
        if (to == address(0)) return 0;
        (address receiver, uint256 balance) = _investorBalance(to);
        if (from != address(0) && _investor(from) == receiver) return 0;
        return balance + amount > maxBalance ? bytes32("MAX_BALANCE") : bytes32(0);
    }
}

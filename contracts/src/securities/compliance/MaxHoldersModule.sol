// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ComplianceModule, IModuleToken} from "./ComplianceModule.sol";

/// @title MaxHoldersModule
/// @notice At most `maxHolders` investors (identities, not wallets) may hold the token: a transfer or
///         mint that would add a holder beyond it is refused ("MAX_HOLDERS"); one whose sender
///         leaves the register at the same time is allowed.
/// @dev Counts investors on every balance change. At construction it counts the token's current
///      holders, so it can be added to a token already issued.
contract MaxHoldersModule is ComplianceModule {
    /// @notice The most investors who may hold the token.
    uint256 public maxHolders;
    /// @notice Investors holding now.
    uint256 public holderCount;
    mapping(address investor => bool) private _holding;

    /// @notice The limit changed.
    event MaxHoldersSet(uint256 maxHolders);

    constructor(address compliance_, uint256 maxHolders_) ComplianceModule(compliance_) {
        maxHolders = maxHolders_;
        IModuleToken token = _token();
        if (address(token) == address(0)) return;
        address[] memory current = token.holders();
        for (uint256 i = 0; i < current.length; ++i) _refresh(current[i]);
    }

    /// @notice Change the limit (it does not remove holders above it).
    function setMaxHolders(uint256 maxHolders_) external onlyComplianceAdmin {
        maxHolders = maxHolders_;
        emit MaxHoldersSet(maxHolders_);
    }

    /// @notice True if `investor` (an identity, or a wallet without one) is counted as holding.
    function isHolder(address investor) external view returns (bool) {
        return _holding[investor];
    }

    /// @notice bytes32(0) if this rule allows moving `amount` from `from` to `to`, else its reason.
    function check(address from, address to, uint256 amount) external view returns (bytes32) {
        if (to == address(0) || amount == 0) return 0;
        address receiver = _investor(to);
        if (_holding[receiver]) return 0;
        if (from != address(0)) {
            (address sender, uint256 balance) = _investorBalance(from);
            if (sender == receiver || balance == amount) return 0; // same investor, or the sender leaves
        }
        return holderCount + 1 > maxHolders ? bytes32("MAX_HOLDERS") : bytes32(0);
    }

    function _transferred(address from, address to, uint256) internal override {
        if (from != address(0)) _refresh(from);
        if (to != address(0)) _refresh(to);
    }

    function _refresh(address wallet) private {
        (address investor, uint256 balance) = _investorBalance(wallet);
        bool holds = balance > 0;
        if (holds == _holding[investor]) return;
        _holding[investor] = holds;
        if (holds) ++holderCount;
        else --holderCount;
    }
}

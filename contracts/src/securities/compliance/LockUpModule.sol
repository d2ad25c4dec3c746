// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ComplianceModule} from "./ComplianceModule.sol";

/// @title LockUpModule
/// @notice Holding period: tokens issued to an investor are locked for `lockUpPeriod` seconds from
///         their issue. A transfer to another investor that would need locked tokens is refused
///         ("LOCKED_UP"); moves between one investor's wallets (and recovery) keep the lock, which
///         belongs to the investor, not the wallet.
/// @dev Each issue is a lot (amount, unlock time) of the receiving investor; expired lots are dropped
///      at the investor's next issue. At most MAX_LOTS live lots per investor: a further issue joins
///      the newest lot, which then unlocks at the later time (never earlier than promised).
///      Burns leave the lots alone, so the locked amount may exceed a balance; then nothing is free.
contract LockUpModule is ComplianceModule {
    /// @notice Most live lots kept per investor.
    uint256 public constant MAX_LOTS = 16;

    /// @notice Seconds an issued token stays locked.
    uint64 public lockUpPeriod;

    struct Lot {
        uint192 amount;
        uint64 unlockAt;
    }

    mapping(address investor => Lot[]) private _lots;

    /// @notice The period for future issues changed.
    event LockUpPeriodSet(uint64 lockUpPeriod);

    constructor(address compliance_, uint64 lockUpPeriod_) ComplianceModule(compliance_) {
        lockUpPeriod = lockUpPeriod_;
    }

    /// @notice Change the period for future issues (lots already issued keep their unlock time).
    function setLockUpPeriod(uint64 lockUpPeriod_) external onlyComplianceAdmin {
        lockUpPeriod = lockUpPeriod_;
        emit LockUpPeriodSet(lockUpPeriod_);
    }

    /// @notice Tokens of `wallet`'s investor still locked.
    function lockedBalance(address wallet) external view returns (uint256) {
        return _locked(_investor(wallet));
    }

    /// @notice bytes32(0) if this rule allows moving `amount` from `from` to `to`, else its reason.
    function check(address from, address to, uint256 amount) external view returns (bytes32) {
        if (!_betweenInvestors(from, to)) return 0;
        (address sender, uint256 balance) = _investorBalance(from);
        uint256 locked = _locked(sender);
        if (locked == 0) return 0;
        uint256 free = balance > locked ? balance - locked : 0;
        return amount > free ? bytes32("LOCKED_UP") : bytes32(0);
    }

    function _transferred(address from, address to, uint256 amount) internal override {
        if (from != address(0) || to == address(0) || amount == 0) return;
        Lot[] storage lots = _lots[_investor(to)];
        uint256 kept = 0;
        for (uint256 i = 0; i < lots.length; ++i) {
            if (lots[i].unlockAt > block.timestamp) lots[kept++] = lots[i];
        }
        while (lots.length > kept) lots.pop();
        uint64 unlockAt = uint64(block.timestamp) + lockUpPeriod;
        if (kept == MAX_LOTS) {
            Lot storage newest = lots[kept - 1];
            newest.amount += uint192(amount);
            if (unlockAt > newest.unlockAt) newest.unlockAt = unlockAt;
        } else {
            lots.push(Lot(uint192(amount), unlockAt));
        }
    }

    function _locked(address investor) private view returns (uint256 locked) {
        Lot[] storage lots = _lots[investor];
        for (uint256 i = 0; i < lots.length; ++i) {
            if (lots[i].unlockAt > block.timestamp) locked += lots[i].amount;
        }
    }
}

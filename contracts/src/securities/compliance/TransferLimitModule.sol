// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ComplianceModule} from "./ComplianceModule.sol";

/// @title TransferLimitModule
/// @notice Caps what one investor may send to other investors per day ("DAILY_LIMIT") and per
///         month ("MONTHLY_LIMIT"); 0 disables a cap. Days are UTC days (timestamp / 86 400); a month
///         is a 30-day window (timestamp / 2 592 000), not a calendar month.
/// @dev Mints, burns and moves between one investor's wallets do not count.
contract TransferLimitModule is ComplianceModule {
    /// @notice Length of the monthly window.
    uint256 public constant MONTH = 30 days;

    /// @notice Most an investor may send per day (0: no cap).
    uint256 public dailyLimit;
    /// @notice Most an investor may send per 30-day window (0: no cap).
    uint256 public monthlyLimit;

    struct Usage {
        uint64 day;
        uint64 month;
        uint256 dayVolume;
        uint256 monthVolume;
    }

    mapping(address investor => Usage) private _usage;

    /// @notice The caps changed.
    event LimitsSet(uint256 dailyLimit, uint256 monthlyLimit);

    constructor(address compliance_, uint256 dailyLimit_, uint256 monthlyLimit_) ComplianceModule(compliance_) {
        dailyLimit = dailyLimit_;
        monthlyLimit = monthlyLimit_;
    }

    /// @notice Change the caps.
    function setLimits(uint256 dailyLimit_, uint256 monthlyLimit_) external onlyComplianceAdmin {
        dailyLimit = dailyLimit_;
        monthlyLimit = monthlyLimit_;
        emit LimitsSet(dailyLimit_, monthlyLimit_);
    }

    /// @notice What `wallet`'s investor has sent today and this 30-day window.
    function usage(address wallet) public view returns (uint256 today, uint256 thisMonth) {
        Usage memory u = _usage[_investor(wallet)];
        today = u.day == block.timestamp / 1 days ? u.dayVolume : 0;
        thisMonth = u.month == block.timestamp / MONTH ? u.monthVolume : 0;
    }

    /// @notice bytes32(0) if this rule allows moving `amount` from `from` to `to`, else its reason.
    function check(address from, address to, uint256 amount) external view returns (bytes32) {
        if (!_betweenInvestors(from, to)) return 0;
        (uint256 today, uint256 thisMonth) = usage(from);
        if (dailyLimit > 0 && today + amount > dailyLimit) return "DAILY_LIMIT";
        if (monthlyLimit > 0 && thisMonth + amount > monthlyLimit) return "MONTHLY_LIMIT";
        return 0;
    }

    function _transferred(address from, address to, uint256 amount) internal override {
        if (!_betweenInvestors(from, to)) return;
        (uint256 today, uint256 thisMonth) = usage(from);
        _usage[_investor(from)] = Usage(uint64(block.timestamp / 1 days), uint64(block.timestamp / MONTH),
            today + amount, thisMonth + amount);
    }
}

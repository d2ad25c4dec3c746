// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IIdentityRegistry} from "../IIdentityRegistry.sol";
import {IComplianceModule} from "./ICompliance.sol";

/// @notice What a module reads from the token its compliance serves.
interface IModuleToken {
    function identityRegistry() external view returns (IIdentityRegistry);
    function balanceOf(address account) external view returns (uint256);
    function holders() external view returns (address[] memory);
}

/// @notice What a module reads from its compliance.
interface IModuleCompliance {
    function token() external view returns (address);
}

/// @title ComplianceModule
/// @notice Base of the rule modules: bound to one ModularCompliance at construction, configured by
///         that compliance's admin, and working on investors (identities), not wallets.
/// @dev An investor is a wallet's identity in the token's registry; a wallet with no identity counts
///      as an investor of its own. An investor's balance is the sum over its wallets (at most the
///      registry's MAX_WALLETS_PER_IDENTITY), so moving tokens between one investor's wallets changes
///      nothing any module counts.
abstract contract ComplianceModule is IComplianceModule {
    /// @inheritdoc IComplianceModule
    address public immutable compliance;

    /// @notice Only the compliance reports balance changes.
    error OnlyCompliance(address caller);
    /// @notice Only the compliance's admin configures its modules.
    error NotComplianceAdmin(address caller);

    modifier onlyCompliance() {
        if (msg.sender != compliance) revert OnlyCompliance(msg.sender);
        _;
    }

    modifier onlyComplianceAdmin() {
        if (!IAccessControl(compliance).hasRole(0x00, msg.sender)) revert NotComplianceAdmin(msg.sender);
        _;
    }

    constructor(address compliance_) {
        compliance = compliance_;
    }

    /// @inheritdoc IComplianceModule
    function transferred(address from, address to, uint256 amount) external onlyCompliance {
        _transferred(from, to, amount);
    }

    /// @dev Override to keep state; the default keeps none.
    function _transferred(address from, address to, uint256 amount) internal virtual {}

    function _token() internal view returns (IModuleToken) {
        return IModuleToken(IModuleCompliance(compliance).token());
    }

    /// @dev The investor owning `wallet`: its identity, or the wallet itself if it has none.
    function _investor(address wallet) internal view returns (address) {
        address identity = _token().identityRegistry().identityOf(wallet);
        return identity == address(0) ? wallet : identity;
    }

    /// @dev The investor owning `wallet` and that investor's balance over all its wallets.
    function _investorBalance(address wallet) internal view returns (address investor, uint256 balance) {
        IModuleToken token = _token();
        IIdentityRegistry registry = token.identityRegistry();
        investor = registry.identityOf(wallet);
        if (investor == address(0)) return (wallet, token.balanceOf(wallet));
        address[] memory wallets = registry.walletsOf(investor);
        for (uint256 i = 0; i < wallets.length; ++i) balance += token.balanceOf(wallets[i]);
    }

    /// @dev True for a transfer between two investors (not a mint, a burn, or a move within one investor).
    function _betweenInvestors(address from, address to) internal view returns (bool) {
        return from != address(0) && to != address(0) && _investor(from) != _investor(to);
    }
}

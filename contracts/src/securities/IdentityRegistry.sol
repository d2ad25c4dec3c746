// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title IdentityRegistry
/// @notice The allow-list of verified investors (KYC) that Settle's security tokens consult before
///         every transfer. Each wallet carries an ISO 3166-1 numeric country code and a verification
///         expiry; a wallet whose expiry has passed is no longer verified.
/// @dev Agents (AGENT_ROLE) add, update and remove investors; the admin (DEFAULT_ADMIN_ROLE) manages
///      agents. Several tokens may share one registry. Contracts that must hold a restricted security
///      (an HTLC escrow, for example) are registered like any investor.
contract IdentityRegistry is AccessControl {
    /// @notice Role of the transfer agents / KYC providers who maintain the investor list.
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");

    /// @notice One verified investor wallet.
    /// @param country ISO 3166-1 numeric country code (e.g. 752 for Sweden).
    /// @param expiry Unix time after which the verification lapses.
    struct Investor {
        uint16 country;
        uint64 expiry;
    }

    mapping(address wallet => Investor) private _investors;

    /// @notice `wallet` was registered.
    event InvestorRegistered(address indexed wallet, uint16 country, uint64 expiry);
    /// @notice `wallet`'s country or expiry changed.
    event InvestorUpdated(address indexed wallet, uint16 country, uint64 expiry);
    /// @notice `wallet` was removed from the registry.
    event InvestorRemoved(address indexed wallet);

    /// @notice The zero address cannot be an investor.
    error ZeroAddress();
    /// @notice `wallet` is already registered (use `updateInvestor`).
    error InvestorAlreadyRegistered(address wallet);
    /// @notice `wallet` is not registered.
    error InvestorNotRegistered(address wallet);
    /// @notice A verification must expire in the future.
    error ExpiryNotInFuture(uint64 expiry, uint256 now_);

    /// @param admin Receives DEFAULT_ADMIN_ROLE and AGENT_ROLE.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(AGENT_ROLE, admin);
    }

    /// @notice Register a verified investor wallet.
    function registerInvestor(address wallet, uint16 country, uint64 expiry) external onlyRole(AGENT_ROLE) {
        if (wallet == address(0)) revert ZeroAddress();
        if (_investors[wallet].expiry != 0) revert InvestorAlreadyRegistered(wallet);
        _requireFuture(expiry);
        _investors[wallet] = Investor(country, expiry);
        emit InvestorRegistered(wallet, country, expiry);
    }

    /// @notice Change a registered investor's country or verification expiry.
    function updateInvestor(address wallet, uint16 country, uint64 expiry) external onlyRole(AGENT_ROLE) {
        if (_investors[wallet].expiry == 0) revert InvestorNotRegistered(wallet);
        _requireFuture(expiry);
        _investors[wallet] = Investor(country, expiry);
        emit InvestorUpdated(wallet, country, expiry);
    }

    /// @notice Remove an investor: its wallet can no longer send or receive restricted tokens.
    function removeInvestor(address wallet) external onlyRole(AGENT_ROLE) {
        if (_investors[wallet].expiry == 0) revert InvestorNotRegistered(wallet);
        delete _investors[wallet];
        emit InvestorRemoved(wallet);
    }

    /// @notice True if `wallet` is registered and its verification has not expired.
    function isVerified(address wallet) external view returns (bool) {
        return _investors[wallet].expiry > block.timestamp;
    }

    /// @notice The record of `wallet` (zeroes if unknown).
    function investor(address wallet) external view returns (Investor memory) {
        return _investors[wallet];
    }

    function _requireFuture(uint64 expiry) private view {
        if (expiry <= block.timestamp) revert ExpiryNotInFuture(expiry, block.timestamp);
    }
}

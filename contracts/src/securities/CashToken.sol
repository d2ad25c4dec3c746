// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ISettlementCheck} from "../settlement/ISettlementCheck.sol";

/// @title CashToken
/// @notice A bank-issued token backed by a traditional currency (thesis §4.7.5): the bank mints when
///         a client pays in and burns when it pays out. Only allow-listed (KYC'd) accounts may hold or
///         move it, and the bank can freeze an account.
/// @dev MINTER_ROLE mints and burns; COMPLIANCE_ROLE keeps the allow-list and freezes; the admin
///      grants roles. Contracts that hold cash (DvP, HTLC, bonds' payers, futures, dividend escrows)
///      must be allow-listed too.
contract CashToken is ERC20, AccessControl, ISettlementCheck {
    /// @notice The issuing bank's treasury: mints and burns.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Keeps the allow-list and freezes accounts.
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");

    uint8 private immutable _decimals;
    mapping(address account => bool) private _allowed;
    mapping(address account => bool) private _frozen;

    /// @notice `account` was added to or removed from the allow-list.
    event AllowListUpdated(address indexed account, bool allowed);
    /// @notice `account` was frozen or unfrozen.
    event AccountFrozenSet(address indexed account, bool frozen);

    /// @notice `account` is not on the allow-list.
    error NotAllowListed(address account);
    /// @notice `account` is frozen.
    error AccountFrozen(address account);

    /// @param name_ ERC-20 name. @param symbol_ ERC-20 symbol.
    /// @param decimals_ ERC-20 decimals (2 for cents).
    /// @param bank Receives every role and is allow-listed.
    constructor(string memory name_, string memory symbol_, uint8 decimals_, address bank) ERC20(name_, symbol_) {
        _decimals = decimals_;
        _grantRole(DEFAULT_ADMIN_ROLE, bank);
        _grantRole(MINTER_ROLE, bank);
        _grantRole(COMPLIANCE_ROLE, bank);
        _allowed[bank] = true;
        emit AllowListUpdated(bank, true);
    }

    /// @inheritdoc ERC20
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Credit `amount` to the allow-listed `to` (a client paid in fiat).
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @notice Debit `amount` from `from` (the bank pays the client out in fiat).
    function burn(address from, uint256 amount) external onlyRole(MINTER_ROLE) {
        _burn(from, amount);
    }

    /// @notice Add `account` to, or remove it from, the allow-list.
    function setAllowed(address account, bool allowed) external onlyRole(COMPLIANCE_ROLE) {
        _allowed[account] = allowed;
        emit AllowListUpdated(account, allowed);
    }

    /// @notice Freeze or unfreeze `account`.
    function setFrozen(address account, bool frozen) external onlyRole(COMPLIANCE_ROLE) {
        _frozen[account] = frozen;
        emit AccountFrozenSet(account, frozen);
    }

    /// @notice ERC-165: AccessControl's interfaces and ISettlementCheck.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(ISettlementCheck).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @inheritdoc ISettlementCheck
    /// @dev 1: `from` not allow-listed or frozen; 2: `to` not allow-listed or frozen.
    function settlementRestriction(address from, address to, uint256) external view returns (uint8) {
        if (!_allowed[from] || _frozen[from]) return 1;
        if (!_allowed[to] || _frozen[to]) return 2;
        return 0;
    }

    /// @notice True if `account` is on the allow-list.
    function isAllowed(address account) external view returns (bool) {
        return _allowed[account];
    }

    /// @notice True if `account` is frozen.
    function isFrozen(address account) external view returns (bool) {
        return _frozen[account];
    }

    /// @dev Every mint, burn and transfer: both live ends must be allow-listed and not frozen.
    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0)) _requireActive(from);
        if (to != address(0)) _requireActive(to);
        super._update(from, to, value);
    }

    function _requireActive(address account) private view {
        if (!_allowed[account]) revert NotAllowListed(account);
        if (_frozen[account]) revert AccountFrozen(account);
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {ICustodian, ICustodianToken} from "./ICustodian.sol";

/// @title DuoClassToken
/// @notice Token A or Token B of the DUO structure (§3.2, §3.3): an ERC-20 wrapper, 18 decimals,
///         whose every function is redirected to Beethoven, which keeps the balances.
/// @dev Deployed twice, with `classIndex` 0 (Token A) and 1 (Token B). Beethoven's address is
///      fixed at construction (the deployer predicts it from its nonce) so it can be immutable.
///      The standard `Transfer` and `Approval` events are emitted here; Beethoven emits its own
///      indexed copies (§3.4.7). Mints and burns (create/redeem) are announced by Beethoven through
///      `emitTransfer`; resets rebase balances without per-holder events (see docs/duo.md).
contract DuoClassToken is IERC20, IERC20Metadata, ICustodianToken {
    /// @notice A call that only Beethoven may make came from elsewhere.
    error NotCustodian(address caller);

    ICustodian public immutable custodian;
    uint256 public immutable classIndex;
    string private _name;
    string private _symbol;

    constructor(string memory name_, string memory symbol_, address custodian_, uint256 classIndex_) {
        _name = name_;
        _symbol = symbol_;
        custodian = ICustodian(custodian_);
        classIndex = classIndex_;
    }

    function name() external view returns (string memory) {
        return _name;
    }

    function symbol() external view returns (string memory) {
        return _symbol;
    }

    function decimals() external pure returns (uint8) {
        return 18;
    }

    function totalSupply() external view returns (uint256) {
        return custodian.totalSupplyOf(classIndex);
    }

    function balanceOf(address account) external view returns (uint256) {
        return custodian.balanceOf(classIndex, account);
    }

    function allowance(address owner, address spender) external view returns (uint256) {
        return custodian.allowance(classIndex, owner, spender);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        custodian.transfer(classIndex, msg.sender, to, value);
        emit Transfer(msg.sender, to, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        custodian.transferFrom(classIndex, msg.sender, from, to, value);
        emit Transfer(from, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        custodian.approve(classIndex, msg.sender, spender, value);
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// @notice Beethoven announces a mint (from = 0) or burn (to = 0) as a standard event.
    function emitTransfer(address from, address to, uint256 value) external {
        if (msg.sender != address(custodian)) revert NotCustodian(msg.sender);
        emit Transfer(from, to, value);
    }
}

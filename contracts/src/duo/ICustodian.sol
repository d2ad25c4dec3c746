// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title ICustodian
/// @notice What a Token A / Token B wrapper forwards to Beethoven (§3.2, §3.3, §3.4.3).
/// @dev `index` is the token class: 0 = Token A, 1 = Token B. Beethoven accepts these calls
///      only from the wrapper registered for that index.
interface ICustodian {
    function totalSupplyOf(uint256 index) external view returns (uint256);
    function balanceOf(uint256 index, address account) external view returns (uint256);
    function allowance(uint256 index, address owner, address spender) external view returns (uint256);
    function transfer(uint256 index, address from, address to, uint256 value) external returns (bool);
    function transferFrom(uint256 index, address spender, address from, address to, uint256 value)
        external
        returns (bool);
    function approve(uint256 index, address owner, address spender, uint256 value) external returns (bool);
}

/// @title ICustodianToken
/// @notice Lets Beethoven make a wrapper emit the standard ERC-20 `Transfer` event for mints and burns.
interface ICustodianToken {
    function emitTransfer(address from, address to, uint256 value) external;
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title DuoToken
/// @notice The DUO network token (DUO whitepaper v0.3.0 §3.1): a standard ERC-20 with 18 decimals.
/// @dev The whole fixed supply is minted to the deployer. DUO paid to Beethoven as a conversion
///      fee stays at Beethoven's address forever (Beethoven has no function that moves DUO out).
contract DuoToken is ERC20 {
    /// @param initialSupply Amount (18 decimals) minted once to `msg.sender`.
    constructor(uint256 initialSupply) ERC20("DUO Network Token", "DUO") {
        _mint(msg.sender, initialSupply);
    }
}

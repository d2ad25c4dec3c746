// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title SettleTestToken
/// @notice ERC20 token used by Settle's tests and benchmarks. Not for production use.
/// @dev Also exposes deliberately failing functions so tests can check how the node
///      reports string reverts and custom-error reverts.
contract SettleTestToken is ERC20, Ownable {
    /// @notice Raised by `failWithCustomError`.
    /// @param code The caller-supplied code, echoed back in the revert data.
    error DeliberateFailure(uint256 code);

    /// @notice Creates the token and mints `initialSupply` to the deployer, who becomes the owner.
    /// @param name_ ERC20 name.
    /// @param symbol_ ERC20 symbol.
    /// @param initialSupply Amount (in the smallest unit) minted to `msg.sender`.
    constructor(string memory name_, string memory symbol_, uint256 initialSupply)
        ERC20(name_, symbol_)
        Ownable(msg.sender)
    {
        _mint(msg.sender, initialSupply);
    }

    /// @notice Mints `amount` new tokens to `to`.
    /// @dev Only the owner may mint; others get OpenZeppelin's `OwnableUnauthorizedAccount`.
    /// @param to Recipient of the new tokens.
    /// @param amount Amount to mint.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice Always reverts with the string reason "SettleTestToken: deliberate failure".
    function failWithReason() external pure {
        revert("SettleTestToken: deliberate failure");
    }

    /// @notice Always reverts with the custom error `DeliberateFailure(code)`.
    /// @param code Value echoed in the custom error.
    function failWithCustomError(uint256 code) external pure {
        revert DeliberateFailure(code);
    }
}

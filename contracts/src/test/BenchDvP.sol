// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title BenchDvP
/// @notice Benchmark contract: delivery versus payment as one call. The asset leg and the
///         cash leg move together or not at all.
/// @dev Both parties approve this contract on their token beforehand; anyone may trigger
///      a settlement (the benchmark's operator does). Not for production use.
contract BenchDvP {
    using SafeERC20 for IERC20;

    /// @notice Emitted once per settled trade.
    /// @param seller Delivers `quantity` of `asset`.
    /// @param buyer Pays `price` in `cash`.
    event Settled(address indexed seller, address indexed buyer, uint256 quantity, uint256 price);

    /// @notice Moves `quantity` of `asset` from seller to buyer and `price` of `cash` back.
    function settle(
        IERC20 asset,
        IERC20 cash,
        address seller,
        address buyer,
        uint256 quantity,
        uint256 price
    ) external {
        asset.safeTransferFrom(seller, buyer, quantity);
        cash.safeTransferFrom(buyer, seller, price);
        emit Settled(seller, buyer, quantity, price);
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Test-only: the contract a factory creates.
contract FactoryChild {
    uint256 public immutable made;

    constructor() {
        made = block.number;
    }
}

/// @title ChildFactory
/// @notice Test-only factory for the deployer rule (docs/permissioning.md): its CREATE succeeds only when
///         the transaction's origin may deploy contracts.
contract ChildFactory {
    event Made(address child);

    /// @notice Create a child with CREATE; reverts if the creation fails.
    function make() external returns (address child) {
        child = address(new FactoryChild());
        emit Made(child);
    }

    /// @notice Create a child with CREATE2; reverts if the creation fails.
    function make2(bytes32 salt) external returns (address child) {
        child = address(new FactoryChild{salt: salt}());
        emit Made(child);
    }
}

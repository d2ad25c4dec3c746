// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title StaticValidatorSource
/// @notice Test stand-in for the permission registry's `validators()` view, used to check that the
///         ConsortiumOracle reads its validator set from a registry when one exists. Not for production.
contract StaticValidatorSource {
    address[] private _validators;

    /// @param validators_ The list `validators()` returns.
    constructor(address[] memory validators_) {
        _validators = validators_;
    }

    /// @notice The configured validator addresses.
    function validators() external view returns (address[] memory) {
        return _validators;
    }
}

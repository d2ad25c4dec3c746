// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice What restricted tokens and compliance modules read from an identity registry.
/// @dev An identity is an opaque address naming one investor (an ONCHAINID contract, or any address
///      the transfer agent picks); several wallets may belong to it.
interface IIdentityRegistry {
    /// @notice True if `wallet` belongs to an identity holding every required, unexpired claim from
    ///         an issuer trusted for that claim's topic.
    function isVerified(address wallet) external view returns (bool);

    /// @notice The identity `wallet` belongs to (address(0) if none).
    function identityOf(address wallet) external view returns (address);

    /// @notice ISO 3166-1 numeric country of `wallet`'s identity (0 if none).
    function investorCountry(address wallet) external view returns (uint16);

    /// @notice Every wallet of `identity`.
    function walletsOf(address identity) external view returns (address[] memory);

    /// @notice Move `lostWallet` out of its identity and `newWallet` into it (wallet recovery).
    function recoverWallet(address lostWallet, address newWallet) external;
}

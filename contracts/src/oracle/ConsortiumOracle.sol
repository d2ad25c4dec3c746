// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @notice The part of Settle's permission registry the oracle reads.
interface IValidatorSource {
    /// @notice The secp256k1 addresses of the current validators.
    function validators() external view returns (address[] memory);
}

/// @title ConsortiumOracle
/// @notice Validators acting as the oracle (thesis §4.5): a price is accepted when at least ⌈2n/3⌉ of
///         the n current validators signed the same EIP-712 `PriceReport`. Anyone may submit a signed
///         report (the feeder in scripts/oracle_feeder.py does); each asset has its own round counter.
/// @dev Validators come from the permission registry when a contract exists at `registry` (Settle's
///      genesis reserves 0x…5e77; it must answer `validators()`), otherwise from a list the admin
///      configures. Signatures must be ordered by strictly ascending signer address, which rules out
///      counting one validator twice without a lookup table. A report must be newer than the last one
///      and at most `maxReportDelay` old when submitted; readers get `StalePrice` once the latest
///      price is older than `maxPriceAge`.
contract ConsortiumOracle is AccessControl, EIP712 {
    /// @notice The EIP-712 type every validator signs.
    bytes32 public constant PRICE_REPORT_TYPEHASH =
        keccak256("PriceReport(bytes32 asset,uint256 price,uint64 round,uint64 observedAt)");

    /// @notice One accepted price.
    struct Price {
        uint256 price;
        uint64 round;
        uint64 observedAt;
    }

    /// @notice Where the validator set is read from when it has code.
    address public immutable registry;
    /// @notice Longest accepted delay between observing a price and submitting it, in seconds.
    uint64 public maxReportDelay;
    /// @notice Age after which `latestPrice` refuses a price, in seconds.
    uint64 public maxPriceAge;

    address[] private _configuredValidators;
    mapping(bytes32 asset => Price) private _latest;
    mapping(bytes32 asset => mapping(uint64 round => Price)) private _rounds;

    /// @notice Round `round` of `asset` was accepted with `signers` validator signatures.
    event PriceReported(bytes32 indexed asset, uint64 indexed round, uint256 price, uint64 observedAt, uint256 signers);
    /// @notice The configured validator list changed.
    event ValidatorsConfigured(address[] validators);
    /// @notice The staleness limits changed.
    event LimitsChanged(uint64 maxReportDelay, uint64 maxPriceAge);

    /// @notice `got` valid validator signatures, `needed` required.
    error NotEnoughSignatures(uint256 got, uint256 needed);
    /// @notice `signer` is not a current validator.
    error NotAValidator(address signer);
    /// @notice Signers must be strictly ascending (no duplicates).
    error SignersNotAscending(address signer);
    /// @notice A signature did not recover to an address.
    error InvalidSignature(uint256 index);
    /// @notice Rounds of an asset count up by one; `expected` is next.
    error UnexpectedRound(bytes32 asset, uint64 expected, uint64 got);
    /// @notice The report was observed too long ago, in the future, or not after the last one.
    error ReportNotFresh(uint64 observedAt, uint256 now_);
    /// @notice No price was ever accepted for `asset` (or for that round).
    error NoPrice(bytes32 asset);
    /// @notice The latest price of `asset`, observed at `observedAt`, is older than `maxPriceAge`.
    error StalePrice(bytes32 asset, uint64 observedAt, uint256 now_);
    /// @notice The validator set is empty.
    error NoValidators();
    /// @notice The registry holds the validator set; the configured list is not used.
    error ValidatorsFromRegistry(address registry);
    /// @notice The registry at `registry` did not answer `validators()`.
    error RegistryUnavailable(address registry);

    /// @param admin Receives DEFAULT_ADMIN_ROLE (configures validators and limits).
    /// @param registry_ The permission registry address (Settle genesis: 0x…5e77).
    /// @param validators_ The validator list used while no registry exists there.
    /// @param maxReportDelay_ See `maxReportDelay`. @param maxPriceAge_ See `maxPriceAge`.
    constructor(address admin, address registry_, address[] memory validators_, uint64 maxReportDelay_, uint64 maxPriceAge_)
        EIP712("Settle Consortium Oracle", "1")
    {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        registry = registry_;
        _configuredValidators = validators_;
        maxReportDelay = maxReportDelay_;
        maxPriceAge = maxPriceAge_;
        emit ValidatorsConfigured(validators_);
        emit LimitsChanged(maxReportDelay_, maxPriceAge_);
    }

    /// @notice The current validators: from the registry if it has code, else the configured list.
    function validators() public view returns (address[] memory) {
        if (registry.code.length == 0) return _configuredValidators;
        try IValidatorSource(registry).validators() returns (address[] memory fromRegistry) {
            return fromRegistry;
        } catch {
            revert RegistryUnavailable(registry);
        }
    }

    /// @notice Signatures needed: ⌈2n/3⌉ of the n current validators.
    function quorum() public view returns (uint256) {
        return (2 * validators().length + 2) / 3;
    }

    /// @notice Replace the configured validator list (only while no registry exists).
    function setValidators(address[] calldata validators_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (registry.code.length != 0) revert ValidatorsFromRegistry(registry);
        _configuredValidators = validators_;
        emit ValidatorsConfigured(validators_);
    }

    /// @notice Change the staleness limits.
    function setLimits(uint64 maxReportDelay_, uint64 maxPriceAge_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        maxReportDelay = maxReportDelay_;
        maxPriceAge = maxPriceAge_;
        emit LimitsChanged(maxReportDelay_, maxPriceAge_);
    }

    /// @notice The EIP-712 digest validators sign for this report.
    function reportDigest(bytes32 asset, uint256 price, uint64 round, uint64 observedAt) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(PRICE_REPORT_TYPEHASH, asset, price, round, observedAt)));
    }

    /// @notice Accept round `round` of `asset` if a quorum of validators signed it.
    /// @param signatures 65-byte signatures ordered by ascending signer address.
    function submitReport(bytes32 asset, uint256 price, uint64 round, uint64 observedAt, bytes[] calldata signatures)
        external
    {
        Price memory last = _latest[asset];
        if (round != last.round + 1) revert UnexpectedRound(asset, last.round + 1, round);
        if (observedAt > block.timestamp || observedAt + maxReportDelay < block.timestamp || observedAt <= last.observedAt) {
            revert ReportNotFresh(observedAt, block.timestamp);
        }
        address[] memory current = validators();
        if (current.length == 0) revert NoValidators();
        uint256 needed = (2 * current.length + 2) / 3;
        if (signatures.length < needed) revert NotEnoughSignatures(signatures.length, needed);
        bytes32 digest = reportDigest(asset, price, round, observedAt);
        address previous = address(0);
        for (uint256 i = 0; i < signatures.length; ++i) {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signatures[i]);
            if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(i);
            if (signer <= previous) revert SignersNotAscending(signer);
            if (!_contains(current, signer)) revert NotAValidator(signer);
            previous = signer;
        }
        Price memory accepted = Price(price, round, observedAt);
        _latest[asset] = accepted;
        _rounds[asset][round] = accepted;
        emit PriceReported(asset, round, price, observedAt, signatures.length);
    }

    /// @notice The latest price of `asset`; reverts `StalePrice` if older than `maxPriceAge`.
    function latestPrice(bytes32 asset) external view returns (Price memory p) {
        p = _latest[asset];
        if (p.round == 0) revert NoPrice(asset);
        if (p.observedAt + maxPriceAge < block.timestamp) revert StalePrice(asset, p.observedAt, block.timestamp);
    }

    /// @notice The accepted price of `asset` in round `round`.
    function priceAtRound(bytes32 asset, uint64 round) external view returns (Price memory p) {
        p = _rounds[asset][round];
        if (p.round == 0) revert NoPrice(asset);
    }

    /// @notice The latest round number of `asset` (0 if none).
    function latestRound(bytes32 asset) external view returns (uint64) {
        return _latest[asset].round;
    }

    function _contains(address[] memory list, address item) private pure returns (bool) {
        for (uint256 i = 0; i < list.length; ++i) {
            if (list[i] == item) return true;
        }
        return false;
    }
}

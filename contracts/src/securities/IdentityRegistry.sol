// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {BatchCalls} from "./BatchCalls.sol";
import {IIdentityRegistry} from "./IIdentityRegistry.sol";

/// @title IdentityRegistry
/// @notice Investor identities for Settle's security tokens (the ERC-3643 idea, written for Settle):
///         an identity is one investor; it has a country and several wallets; it is verified while
///         it holds, for every required claim topic (KYC, accreditation, ...), an unexpired claim
///         from a claim issuer trusted for that topic. Tokens ask `isVerified(wallet)`; compliance
///         modules read `identityOf`, `walletsOf` and `investorCountry`.
/// @dev Claims are attested on-chain: a trusted claim issuer calls `addClaim` (one claim per identity
///      and topic; a newer claim replaces the older). Removing an issuer's trust voids its claims at
///      once, since verification re-checks the issuer on every read. AGENT_ROLE (transfer agents, and
///      the tokens themselves so that `recoverWallet` can move an identity) links and unlinks wallets;
///      DEFAULT_ADMIN_ROLE chooses the required topics and the trusted issuers. Several tokens may
///      share one registry. Contracts that must hold a restricted security (an HTLC escrow) are
///      registered like any investor.
contract IdentityRegistry is AccessControl, BatchCalls, IIdentityRegistry {
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @notice Transfer agents, and tokens that recover wallets: link and unlink wallets.
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");
    /// @notice Claim topic: the investor passed KYC/AML.
    uint256 public constant TOPIC_KYC = 1;
    /// @notice Claim topic: the investor is accredited / professional.
    uint256 public constant TOPIC_ACCREDITED = 2;
    /// @notice Most wallets one identity may have (modules sum an investor's balance over them).
    uint256 public constant MAX_WALLETS_PER_IDENTITY = 8;
    /// @notice Most claim topics that can be required (each is read on every verification).
    uint256 public constant MAX_REQUIRED_TOPICS = 8;

    /// @notice An attestation about an identity by a claim issuer.
    struct Claim {
        address issuer;
        uint64 expiry;
    }

    /// @notice The legacy per-wallet view: country and KYC claim expiry.
    struct Investor {
        uint16 country;
        uint64 expiry;
    }

    struct Identity {
        bool exists;
        uint16 country;
        EnumerableSet.AddressSet wallets;
    }

    mapping(address identity => Identity) private _identities;
    mapping(address wallet => address identity) private _identityOf;
    mapping(address identity => mapping(uint256 topic => Claim)) private _claims;
    mapping(address issuer => mapping(uint256 topic => bool)) private _trusted;
    uint256[] private _requiredTopics;

    /// @notice `identity` was created with `country`.
    event IdentityCreated(address indexed identity, uint16 country);
    /// @notice `identity`'s country changed.
    event CountryUpdated(address indexed identity, uint16 country);
    /// @notice `wallet` now belongs to `identity`.
    event WalletLinked(address indexed wallet, address indexed identity);
    /// @notice `wallet` no longer belongs to `identity`.
    event WalletUnlinked(address indexed wallet, address indexed identity);
    /// @notice `identity` moved from `lostWallet` to `newWallet`.
    event WalletRecovered(address indexed lostWallet, address indexed newWallet, address indexed identity);
    /// @notice `issuer` attested `topic` about `identity` until `expiry`.
    event ClaimAdded(address indexed identity, uint256 indexed topic, address indexed issuer, uint64 expiry);
    /// @notice The claim on `topic` about `identity` was removed.
    event ClaimRemoved(address indexed identity, uint256 indexed topic, address indexed issuer);
    /// @notice `issuer` is (or no longer is) trusted for `topic`.
    event TrustedIssuerSet(address indexed issuer, uint256 indexed topic, bool trusted);
    /// @notice The claim topics every identity must hold.
    event RequiredTopicsSet(uint256[] topics);

    /// @notice Wallets and identities cannot be the zero address.
    error ZeroAddress();
    /// @notice `wallet` already belongs to an identity.
    error InvestorAlreadyRegistered(address wallet);
    /// @notice `wallet` belongs to no identity.
    error InvestorNotRegistered(address wallet);
    /// @notice A claim must expire in the future.
    error ExpiryNotInFuture(uint64 expiry, uint256 now_);
    /// @notice `identity` is registered with `country`, not `requested`.
    error CountryMismatch(address identity, uint16 country, uint16 requested);
    /// @notice `identity` already has MAX_WALLETS_PER_IDENTITY wallets.
    error TooManyWallets(address identity, uint256 limit);
    /// @notice `issuer` is not trusted for claims on `topic`.
    error NotTrustedIssuer(address issuer, uint256 topic);
    /// @notice Only the claim's issuer or an agent may remove it.
    error NotClaimIssuer(address caller, address issuer);
    /// @notice No claim on `topic` about `identity`.
    error ClaimNotFound(address identity, uint256 topic);
    /// @notice More than MAX_REQUIRED_TOPICS topics.
    error TooManyTopics(uint256 count, uint256 limit);
    /// @notice A wallet cannot be recovered into itself.
    error SameWallet(address wallet);
    /// @notice `wallet` already belongs to `identity`, another investor.
    error WalletOfAnotherIdentity(address wallet, address identity);

    /// @param admin Receives DEFAULT_ADMIN_ROLE and AGENT_ROLE and is trusted for TOPIC_KYC, the one
    ///        topic required at first.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(AGENT_ROLE, admin);
        _trusted[admin][TOPIC_KYC] = true;
        emit TrustedIssuerSet(admin, TOPIC_KYC, true);
        _requiredTopics.push(TOPIC_KYC);
        emit RequiredTopicsSet(_requiredTopics);
    }

    // -- identities and wallets -----------------------------------------------------------------

    /// @notice Link `wallet` to `identity`, creating the identity with `country` if it is new (an
    ///         existing identity keeps its country, which `country` must match).
    function registerIdentity(address wallet, address identity, uint16 country) public onlyRole(AGENT_ROLE) {
        if (wallet == address(0) || identity == address(0)) revert ZeroAddress();
        if (_identityOf[wallet] != address(0)) revert InvestorAlreadyRegistered(wallet);
        Identity storage id = _identities[identity];
        if (!id.exists) {
            id.exists = true;
            id.country = country;
            emit IdentityCreated(identity, country);
        } else if (id.country != country) {
            revert CountryMismatch(identity, id.country, country);
        }
        _link(wallet, identity);
    }

    /// @notice Register many wallets at once; all or nothing, `BatchItemFailed(index, reason)` names
    ///         the first that failed.
    function batchRegisterIdentity(address[] calldata wallets, address[] calldata identities, uint16[] calldata countries)
        external
    {
        _sameLength(wallets.length, identities.length);
        _sameLength(wallets.length, countries.length);
        for (uint256 i = 0; i < wallets.length; ++i) {
            _batchItem(i, abi.encodeCall(this.registerIdentity, (wallets[i], identities[i], countries[i])));
        }
    }

    /// @notice Unlink `wallet` from its identity: it can no longer hold restricted tokens.
    function deleteIdentity(address wallet) public onlyRole(AGENT_ROLE) {
        _unlink(wallet);
    }

    /// @notice Change `identity`'s country.
    function updateCountry(address identity, uint16 country) public onlyRole(AGENT_ROLE) {
        if (!_identities[identity].exists) revert InvestorNotRegistered(identity);
        _identities[identity].country = country;
        emit CountryUpdated(identity, country);
    }

    /// @inheritdoc IIdentityRegistry
    /// @dev ERC-3643's recovery: `newWallet` joins the lost wallet's identity (it may already be one of
    ///      its wallets) and the lost wallet, whose key may be in someone else's hands, leaves it.
    function recoverWallet(address lostWallet, address newWallet) external onlyRole(AGENT_ROLE) {
        address identity = _identityOf[lostWallet];
        if (identity == address(0)) revert InvestorNotRegistered(lostWallet);
        if (lostWallet == newWallet) revert SameWallet(lostWallet);
        if (newWallet == address(0)) revert ZeroAddress();
        address current = _identityOf[newWallet];
        if (current != address(0) && current != identity) revert WalletOfAnotherIdentity(newWallet, current);
        _unlink(lostWallet);
        if (current == address(0)) _link(newWallet, identity);
        emit WalletRecovered(lostWallet, newWallet, identity);
    }

    // -- claims ---------------------------------------------------------------------------------

    /// @notice As a claim issuer trusted for `topic`, attest `topic` about `identity` until `expiry`.
    function addClaim(address identity, uint256 topic, uint64 expiry) public {
        if (!_trusted[msg.sender][topic]) revert NotTrustedIssuer(msg.sender, topic);
        if (identity == address(0)) revert ZeroAddress();
        if (expiry <= block.timestamp) revert ExpiryNotInFuture(expiry, block.timestamp);
        _claims[identity][topic] = Claim(msg.sender, expiry);
        emit ClaimAdded(identity, topic, msg.sender, expiry);
    }

    /// @notice Remove the claim on `topic` about `identity` (its issuer or an agent).
    function removeClaim(address identity, uint256 topic) external {
        Claim memory c = _claims[identity][topic];
        if (c.issuer == address(0)) revert ClaimNotFound(identity, topic);
        if (msg.sender != c.issuer && !hasRole(AGENT_ROLE, msg.sender)) revert NotClaimIssuer(msg.sender, c.issuer);
        delete _claims[identity][topic];
        emit ClaimRemoved(identity, topic, c.issuer);
    }

    /// @notice Trust (or stop trusting) `issuer` for claims on `topic`.
    function setTrustedIssuer(address issuer, uint256 topic, bool trusted) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (issuer == address(0)) revert ZeroAddress();
        _trusted[issuer][topic] = trusted;
        emit TrustedIssuerSet(issuer, topic, trusted);
    }

    /// @notice The claim topics every identity must hold to be verified (none: registration suffices).
    function setRequiredTopics(uint256[] calldata topics) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (topics.length > MAX_REQUIRED_TOPICS) revert TooManyTopics(topics.length, MAX_REQUIRED_TOPICS);
        _requiredTopics = topics;
        emit RequiredTopicsSet(topics);
    }

    // -- the one-wallet shortcuts (a wallet that is its own identity, KYC claim by the agent) -----

    /// @notice Register `wallet` as its own identity in `country` with a KYC claim by the caller (who
    ///         must be an agent and a trusted KYC issuer) until `expiry`.
    function registerInvestor(address wallet, uint16 country, uint64 expiry) external {
        if (expiry <= block.timestamp) revert ExpiryNotInFuture(expiry, block.timestamp);
        registerIdentity(wallet, wallet, country);
        addClaim(wallet, TOPIC_KYC, expiry);
    }

    /// @notice Set the country of `wallet`'s identity and renew its KYC claim by the caller.
    function updateInvestor(address wallet, uint16 country, uint64 expiry) external {
        address identity = _identityOf[wallet];
        if (identity == address(0)) revert InvestorNotRegistered(wallet);
        updateCountry(identity, country);
        addClaim(identity, TOPIC_KYC, expiry);
    }

    /// @notice Unlink `wallet` (same as `deleteIdentity`).
    function removeInvestor(address wallet) external {
        deleteIdentity(wallet);
    }

    /// @notice `wallet`'s country and KYC claim expiry (zeroes if unknown).
    function investor(address wallet) external view returns (Investor memory) {
        address identity = _identityOf[wallet];
        if (identity == address(0)) return Investor(0, 0);
        return Investor(_identities[identity].country, _claims[identity][TOPIC_KYC].expiry);
    }

    // -- views ----------------------------------------------------------------------------------

    /// @inheritdoc IIdentityRegistry
    function isVerified(address wallet) external view returns (bool) {
        address identity = _identityOf[wallet];
        if (identity == address(0)) return false;
        for (uint256 i = 0; i < _requiredTopics.length; ++i) {
            uint256 topic = _requiredTopics[i];
            Claim memory c = _claims[identity][topic];
            if (c.expiry <= block.timestamp || !_trusted[c.issuer][topic]) return false;
        }
        return true;
    }

    /// @inheritdoc IIdentityRegistry
    function identityOf(address wallet) external view returns (address) {
        return _identityOf[wallet];
    }

    /// @inheritdoc IIdentityRegistry
    function investorCountry(address wallet) external view returns (uint16) {
        return _identities[_identityOf[wallet]].country;
    }

    /// @inheritdoc IIdentityRegistry
    function walletsOf(address identity) external view returns (address[] memory) {
        return _identities[identity].wallets.values();
    }

    /// @notice The claim on `topic` about `identity` (zeroes if none).
    function claim(address identity, uint256 topic) external view returns (Claim memory) {
        return _claims[identity][topic];
    }

    /// @notice True if `issuer` is trusted for claims on `topic`.
    function isTrustedIssuer(address issuer, uint256 topic) external view returns (bool) {
        return _trusted[issuer][topic];
    }

    /// @notice The claim topics every identity must hold.
    function requiredTopics() external view returns (uint256[] memory) {
        return _requiredTopics;
    }

    function _link(address wallet, address identity) private {
        Identity storage id = _identities[identity];
        if (id.wallets.length() >= MAX_WALLETS_PER_IDENTITY) revert TooManyWallets(identity, MAX_WALLETS_PER_IDENTITY);
        id.wallets.add(wallet);
        _identityOf[wallet] = identity;
        emit WalletLinked(wallet, identity);
    }

    function _unlink(address wallet) private {
        address identity = _identityOf[wallet];
        if (identity == address(0)) revert InvestorNotRegistered(wallet);
        _identities[identity].wallets.remove(wallet);
        delete _identityOf[wallet];
        emit WalletUnlinked(wallet, identity);
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ISettlementCheck} from "../settlement/ISettlementCheck.sol";
import {BatchCalls} from "./BatchCalls.sol";
import {ICompliance} from "./compliance/ICompliance.sol";
import {IIdentityRegistry} from "./IIdentityRegistry.sol";

/// @title RestrictedToken
/// @notice The regulated-security core shared by Settle's equity and bond tokens: an ERC-20 whose
///         transfers are allowed only between verified investors (an identity registry) and only if
///         the token's pluggable compliance allows them, with a pre-transfer check that returns a
///         reason code (and, ERC-1400 style, an ERC-1066 status byte), freezes (whole wallet or an
///         amount), controller transfers and redemptions, pause, recovery of a lost wallet that moves
///         the investor's identity, issue/burn/redeem, batch operations, a document register, a
///         holder list and timestamp-keyed balance history for record dates.
/// @dev Roles (OpenZeppelin AccessControl): ISSUER_ROLE issues, burns, pauses and keeps documents;
///      AGENT_ROLE freezes; CONTROLLER_ROLE forces transfers and recovers wallets; DEFAULT_ADMIN_ROLE
///      grants roles and replaces the identity registry and the compliance. Balance history is keyed
///      by block timestamp, so `balanceAt(a, t)` is the balance at the end of the last block with
///      timestamp <= t; it is final once a block with a later timestamp exists.
abstract contract RestrictedToken is ERC20, AccessControl, Pausable, BatchCalls, ISettlementCheck {
    using Checkpoints for Checkpoints.Trace208;
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @notice Issues and burns tokens, pauses, keeps documents and runs corporate actions.
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    /// @notice Freezes and unfreezes wallets and amounts.
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");
    /// @notice Forces transfers and recovers lost wallets (court orders, lost keys).
    bytes32 public constant CONTROLLER_ROLE = keccak256("CONTROLLER_ROLE");

    /// @notice `canTransfer` reason codes. 0 means the transfer is allowed.
    uint8 public constant TRANSFER_OK = 0;
    uint8 public constant REASON_PAUSED = 1;
    uint8 public constant REASON_SENDER_NOT_VERIFIED = 2;
    uint8 public constant REASON_RECIPIENT_NOT_VERIFIED = 3;
    uint8 public constant REASON_SENDER_FROZEN = 4;
    uint8 public constant REASON_RECIPIENT_FROZEN = 5;
    uint8 public constant REASON_INSUFFICIENT_FREE_BALANCE = 6;
    uint8 public constant REASON_COMPLIANCE = 7;

    /// @notice A document attached to the security (prospectus, terms, notices).
    struct Document {
        string uri;
        bytes32 documentHash;
        uint64 updatedAt;
    }

    /// @notice The investor identities consulted on every transfer.
    IIdentityRegistry public identityRegistry;
    /// @notice The compliance rules consulted on every transfer, mint and forced transfer (0: none).
    ICompliance public compliance;
    /// @notice False once the issuer closed issuance for good.
    bool public isIssuable = true;
    /// @notice False once the admin renounced controller transfers and redemptions for good.
    bool public isControllable = true;
    bool private _corporateAction;
    uint8 private immutable _decimals;

    mapping(address account => bool) private _walletFrozen;
    mapping(address account => uint256) private _frozenAmount;
    mapping(address account => Checkpoints.Trace208) private _balanceHistory;
    Checkpoints.Trace208 private _supplyHistory;
    EnumerableSet.AddressSet private _holders;
    mapping(bytes32 name => Document) private _documents;
    bytes32[] private _documentNames;

    /// @notice New tokens were issued to `to`.
    event Issued(address indexed operator, address indexed to, uint256 amount);
    /// @notice Tokens of `from` were redeemed (burnt).
    event Redeemed(address indexed operator, address indexed from, uint256 amount);
    /// @notice `account` was frozen or unfrozen as a whole.
    event AddressFrozen(address indexed account, bool frozen, address indexed agent);
    /// @notice `amount` more tokens of `account` were frozen.
    event TokensFrozen(address indexed account, uint256 amount);
    /// @notice `amount` frozen tokens of `account` were released.
    event TokensUnfrozen(address indexed account, uint256 amount);
    /// @notice The controller moved `amount` from `from` to `to` without their consent.
    event ForcedTransfer(address indexed controller, address indexed from, address indexed to, uint256 amount);
    /// @notice ERC-1644 controller transfer, with the holder's `data` and the controller's `operatorData`.
    event ControllerTransfer(address controller, address indexed from, address indexed to, uint256 value, bytes data,
        bytes operatorData);
    /// @notice ERC-1644 controller redemption.
    event ControllerRedemption(address controller, address indexed tokenHolder, uint256 value, bytes data,
        bytes operatorData);
    /// @notice The holdings and freezes of `lostWallet` moved to `newWallet`.
    event WalletRecovered(address indexed lostWallet, address indexed newWallet, uint256 amount);
    /// @notice A document was added or replaced.
    event DocumentUpdated(bytes32 indexed name, string uri, bytes32 documentHash);
    /// @notice A document was removed.
    event DocumentRemoved(bytes32 indexed name, string uri, bytes32 documentHash);
    /// @notice The identity registry was replaced.
    event IdentityRegistrySet(address indexed registry);
    /// @notice The compliance was replaced (0: none).
    event ComplianceSet(address indexed compliance);
    /// @notice Issuance closed for good.
    event IssuanceClosed();
    /// @notice Controller transfers and redemptions were renounced for good.
    event ControlRenounced();

    /// @notice A transfer failed the check; `reason` is the `canTransfer` code.
    error TransferRestricted(uint8 reason);
    /// @notice The compliance refused; `refusal` is the refusing module's reason.
    error ComplianceRefused(bytes32 refusal);
    /// @notice `account` is not a verified investor, so it cannot receive tokens.
    error InvestorNotVerified(address account);
    /// @notice Freezing `requested` in total would exceed the balance of `account`.
    error FreezeExceedsBalance(address account, uint256 balance, uint256 requested);
    /// @notice `account` has only `frozen` frozen tokens.
    error UnfreezeExceedsFrozen(address account, uint256 frozen, uint256 requested);
    /// @notice `lostWallet` holds nothing to recover.
    error NothingToRecover(address lostWallet);
    /// @notice A wallet cannot be recovered into itself.
    error SameWallet(address wallet);
    /// @notice No document named `name`.
    error DocumentNotFound(bytes32 name);
    /// @notice A document needs a URI.
    error EmptyDocumentUri();
    /// @notice History can be read only for timestamps before the current block.
    error FutureLookup(uint256 timestamp, uint256 now_);
    /// @notice Amounts must be positive.
    error ZeroAmount();
    /// @notice Issuance was closed for good.
    error IssuanceIsClosed();
    /// @notice Controller operations were renounced for good.
    error NotControllable();

    /// @param name_ ERC-20 name. @param symbol_ ERC-20 symbol.
    /// @param decimals_ ERC-20 decimals (0 for whole shares or bonds).
    /// @param registry The investor identities.
    /// @param admin Receives every role; hand them on with AccessControl.
    constructor(string memory name_, string memory symbol_, uint8 decimals_, IIdentityRegistry registry, address admin)
        ERC20(name_, symbol_)
    {
        identityRegistry = registry;
        _decimals = decimals_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ISSUER_ROLE, admin);
        _grantRole(AGENT_ROLE, admin);
        _grantRole(CONTROLLER_ROLE, admin);
    }

    /// @inheritdoc ERC20
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice ERC-165: AccessControl's interfaces and ISettlementCheck.
    function supportsInterface(bytes4 interfaceId) public view virtual override returns (bool) {
        return interfaceId == type(ISettlementCheck).interfaceId || super.supportsInterface(interfaceId);
    }

    // -- registry and compliance --------------------------------------------------------------

    /// @notice Replace the identity registry (the token must be an agent of a registry it recovers in).
    function setIdentityRegistry(IIdentityRegistry registry) external onlyRole(DEFAULT_ADMIN_ROLE) {
        identityRegistry = registry;
        emit IdentityRegistrySet(address(registry));
    }

    /// @notice Replace the compliance (address(0): no rules beyond verification and freezes).
    function setCompliance(ICompliance compliance_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        compliance = compliance_;
        emit ComplianceSet(address(compliance_));
    }

    // -- checks ---------------------------------------------------------------------------------

    /// @notice Why a transfer of `amount` from `from` to `to` would fail now, or TRANSFER_OK.
    function canTransfer(address from, address to, uint256 amount) public view returns (uint8) {
        (uint8 code,) = _check(from, to, amount, true);
        return code;
    }

    /// @notice ERC-1594 check of a transfer by the caller: (allowed, ERC-1066 status, reason).
    function canTransfer(address to, uint256 value, bytes calldata) external view returns (bool, bytes1, bytes32) {
        return _status(msg.sender, to, value);
    }

    /// @notice ERC-1594 check of a transferFrom by the caller: also 0x53 if its allowance is short.
    function canTransferFrom(address from, address to, uint256 value, bytes calldata)
        external
        view
        returns (bool, bytes1, bytes32)
    {
        if (msg.sender != from && allowance(from, msg.sender) < value) return (false, 0x53, "INSUFFICIENT_ALLOWANCE");
        return _status(from, to, value);
    }

    /// @inheritdoc ISettlementCheck
    function settlementRestriction(address from, address to, uint256 amount) external view returns (uint8) {
        (uint8 code,) = _check(from, to, amount, false);
        return code;
    }

    /// @notice ERC-20 transfer, allowed only if `canTransfer` says so.
    function transfer(address to, uint256 amount) public override returns (bool) {
        _requireCompliant(msg.sender, to, amount);
        return super.transfer(to, amount);
    }

    /// @notice ERC-20 transferFrom, allowed only if `canTransfer` says so.
    function transferFrom(address from, address to, uint256 amount) public override returns (bool) {
        _requireCompliant(from, to, amount);
        return super.transferFrom(from, to, amount);
    }

    function _check(address from, address to, uint256 amount, bool withBalance)
        private
        view
        returns (uint8 code, bytes32 refusal)
    {
        if (paused()) return (REASON_PAUSED, "PAUSED");
        if (!identityRegistry.isVerified(from)) return (REASON_SENDER_NOT_VERIFIED, "SENDER_NOT_VERIFIED");
        if (!identityRegistry.isVerified(to)) return (REASON_RECIPIENT_NOT_VERIFIED, "RECIPIENT_NOT_VERIFIED");
        if (_walletFrozen[from]) return (REASON_SENDER_FROZEN, "SENDER_FROZEN");
        if (_walletFrozen[to]) return (REASON_RECIPIENT_FROZEN, "RECIPIENT_FROZEN");
        if (withBalance && amount > freeBalanceOf(from)) {
            return (REASON_INSUFFICIENT_FREE_BALANCE, "INSUFFICIENT_FREE_BALANCE");
        }
        refusal = _complianceRefusal(from, to, amount);
        if (refusal != 0) return (REASON_COMPLIANCE, refusal);
        return (TRANSFER_OK, 0);
    }

    /// @dev ERC-1066 codes as ERC-1400 uses them: 0x51 success, 0x50 failure, 0x52 insufficient
    ///      balance, 0x54 halted, 0x55 funds locked, 0x56 invalid sender, 0x57 invalid receiver.
    function _status(address from, address to, uint256 value) private view returns (bool, bytes1, bytes32) {
        (uint8 code, bytes32 reason) = _check(from, to, value, true);
        if (code == TRANSFER_OK) return (true, 0x51, 0);
        bytes1 status = 0x50;
        if (code == REASON_PAUSED) status = 0x54;
        else if (code == REASON_SENDER_NOT_VERIFIED) status = 0x56;
        else if (code == REASON_RECIPIENT_NOT_VERIFIED || code == REASON_RECIPIENT_FROZEN) status = 0x57;
        else if (code == REASON_SENDER_FROZEN || reason == "LOCKED_UP") status = 0x55;
        else if (code == REASON_INSUFFICIENT_FREE_BALANCE) status = 0x52;
        return (false, status, reason);
    }

    function _complianceRefusal(address from, address to, uint256 amount) private view returns (bytes32) {
        ICompliance c = compliance;
        return address(c) == address(0) ? bytes32(0) : c.checkTransfer(from, to, amount);
    }

    function _requireCompliant(address from, address to, uint256 amount) internal view {
        (uint8 code, bytes32 refusal) = _check(from, to, amount, true);
        if (code == REASON_COMPLIANCE) revert ComplianceRefused(refusal);
        if (code != TRANSFER_OK) revert TransferRestricted(code);
    }

    /// @dev Mints and controller transfers skip pause and freezes but not the compliance rules.
    function _requireComplianceAllows(address from, address to, uint256 amount) private view {
        bytes32 refusal = _complianceRefusal(from, to, amount);
        if (refusal != 0) revert ComplianceRefused(refusal);
    }

    // -- issue and redeem ----------------------------------------------------------------------

    /// @notice Issue `amount` new tokens to the verified investor `to`, if the compliance allows.
    function issue(address to, uint256 amount) public onlyRole(ISSUER_ROLE) {
        if (!isIssuable) revert IssuanceIsClosed();
        if (amount == 0) revert ZeroAmount();
        _requireVerified(to);
        _requireComplianceAllows(address(0), to, amount);
        _mint(to, amount);
        emit Issued(msg.sender, to, amount);
    }

    /// @notice Close issuance for good (ERC-1594 `isIssuable` becomes false).
    function closeIssuance() external onlyRole(ISSUER_ROLE) {
        isIssuable = false;
        emit IssuanceClosed();
    }

    /// @notice The issuer burns `amount` tokens of `from`; frozen tokens are released first if needed.
    function burn(address from, uint256 amount) public onlyRole(ISSUER_ROLE) {
        if (amount == 0) revert ZeroAmount();
        _releaseFrozenFor(from, amount);
        _burn(from, amount);
        emit Redeemed(msg.sender, from, amount);
    }

    /// @notice ERC-1594: the caller redeems (burns) `value` of its own free, unpaused tokens.
    function redeem(uint256 value, bytes calldata) external {
        _holderRedeem(msg.sender, value);
    }

    /// @notice ERC-1594: redeem `value` of `from`'s tokens with the caller's allowance.
    function redeemFrom(address from, uint256 value, bytes calldata) external {
        _spendAllowance(from, msg.sender, value);
        _holderRedeem(from, value);
    }

    function _holderRedeem(address from, uint256 value) private {
        if (value == 0) revert ZeroAmount();
        _requireNotPaused();
        if (_walletFrozen[from]) revert TransferRestricted(REASON_SENDER_FROZEN);
        if (value > freeBalanceOf(from)) revert TransferRestricted(REASON_INSUFFICIENT_FREE_BALANCE);
        _burn(from, value);
        emit Redeemed(msg.sender, from, value);
    }

    // -- freeze -----------------------------------------------------------------------------------

    /// @notice Freeze or unfreeze every token of `account` (it can neither send nor receive).
    function setAddressFrozen(address account, bool frozen) public onlyRole(AGENT_ROLE) {
        _walletFrozen[account] = frozen;
        emit AddressFrozen(account, frozen, msg.sender);
    }

    /// @notice Freeze `amount` more tokens of `account`.
    function freezePartialTokens(address account, uint256 amount) public onlyRole(AGENT_ROLE) {
        if (amount == 0) revert ZeroAmount();
        uint256 requested = _frozenAmount[account] + amount;
        if (requested > balanceOf(account)) revert FreezeExceedsBalance(account, balanceOf(account), requested);
        _frozenAmount[account] = requested;
        emit TokensFrozen(account, amount);
    }

    /// @notice Release `amount` frozen tokens of `account`.
    function unfreezePartialTokens(address account, uint256 amount) external onlyRole(AGENT_ROLE) {
        if (amount == 0) revert ZeroAmount();
        uint256 frozen = _frozenAmount[account];
        if (amount > frozen) revert UnfreezeExceedsFrozen(account, frozen, amount);
        _frozenAmount[account] = frozen - amount;
        emit TokensUnfrozen(account, amount);
    }

    /// @notice True if every token of `account` is frozen.
    function isFrozen(address account) external view returns (bool) {
        return _walletFrozen[account];
    }

    /// @notice Tokens of `account` frozen by amount.
    function frozenTokens(address account) public view returns (uint256) {
        return _frozenAmount[account];
    }

    /// @notice Tokens `account` may transfer: balance minus the frozen amount.
    function freeBalanceOf(address account) public view returns (uint256) {
        uint256 balance = balanceOf(account);
        uint256 frozen = _frozenAmount[account];
        return balance > frozen ? balance - frozen : 0;
    }

    // -- controller actions --------------------------------------------------------------------

    /// @notice Move `amount` from `from` to the verified `to` regardless of freezes and pause, but
    ///         not of the compliance rules (court order, error correction). Frozen tokens are
    ///         released as needed.
    function forcedTransfer(address from, address to, uint256 amount) public onlyRole(CONTROLLER_ROLE) {
        _controllerMove(from, to, amount);
        emit ForcedTransfer(msg.sender, from, to, amount);
    }

    /// @notice ERC-1644 `controllerTransfer`: `forcedTransfer` carrying `data` and `operatorData`.
    function controllerTransfer(address from, address to, uint256 value, bytes calldata data,
        bytes calldata operatorData) external onlyRole(CONTROLLER_ROLE)
    {
        _controllerMove(from, to, value);
        emit ControllerTransfer(msg.sender, from, to, value, data, operatorData);
    }

    /// @notice ERC-1644 `controllerRedeem`: burn `value` of `tokenHolder`, frozen tokens first released.
    function controllerRedeem(address tokenHolder, uint256 value, bytes calldata data, bytes calldata operatorData)
        external
        onlyRole(CONTROLLER_ROLE)
    {
        if (!isControllable) revert NotControllable();
        _burnAsController(tokenHolder, value);
        emit ControllerRedemption(msg.sender, tokenHolder, value, data, operatorData);
    }

    /// @notice Give up controller transfers and redemptions for good (`isControllable` becomes false).
    function renounceControl() external onlyRole(DEFAULT_ADMIN_ROLE) {
        isControllable = false;
        emit ControlRenounced();
    }

    /// @notice Move all tokens, the frozen amount and the wallet freeze of `lostWallet` to
    ///         `newWallet`, and move the investor's identity with them (ERC-3643 recovery): the
    ///         registry links `newWallet` to the lost wallet's identity and unlinks the lost wallet,
    ///         which can then no longer receive tokens. The token must be an agent of the registry.
    /// @dev If another token sharing the registry already moved the identity, the lost wallet is no
    ///      longer linked and only the tokens move. The compliance is told of the move (state follows
    ///      the identity), not asked: both wallets are the same investor's.
    function recoverWallet(address lostWallet, address newWallet) external onlyRole(CONTROLLER_ROLE) {
        if (lostWallet == newWallet) revert SameWallet(lostWallet);
        uint256 amount = balanceOf(lostWallet);
        if (amount == 0) revert NothingToRecover(lostWallet);
        if (identityRegistry.identityOf(lostWallet) != address(0)) identityRegistry.recoverWallet(lostWallet, newWallet);
        _requireVerified(newWallet);
        uint256 frozen = _frozenAmount[lostWallet];
        _frozenAmount[newWallet] += frozen;
        delete _frozenAmount[lostWallet];
        if (_walletFrozen[lostWallet]) {
            _walletFrozen[newWallet] = true;
            delete _walletFrozen[lostWallet];
        }
        _transfer(lostWallet, newWallet, amount);
        emit WalletRecovered(lostWallet, newWallet, amount);
    }

    function _controllerMove(address from, address to, uint256 amount) private {
        if (!isControllable) revert NotControllable();
        if (amount == 0) revert ZeroAmount();
        _requireVerified(to);
        _requireComplianceAllows(from, to, amount);
        _releaseFrozenFor(from, amount);
        _transfer(from, to, amount);
    }

    function _burnAsController(address from, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        _releaseFrozenFor(from, amount);
        _burn(from, amount);
    }

    // -- batches (ERC-3643 style): all or nothing, BatchItemFailed(index, reason) ------------------

    /// @notice `transfer` to each `to[i]` of `amounts[i]`.
    function batchTransfer(address[] calldata to, uint256[] calldata amounts) external {
        _sameLength(to.length, amounts.length);
        for (uint256 i = 0; i < to.length; ++i) _batchItem(i, abi.encodeCall(this.transfer, (to[i], amounts[i])));
    }

    /// @notice `issue` to each `to[i]` of `amounts[i]`.
    function batchMint(address[] calldata to, uint256[] calldata amounts) external {
        _sameLength(to.length, amounts.length);
        for (uint256 i = 0; i < to.length; ++i) _batchItem(i, abi.encodeCall(this.issue, (to[i], amounts[i])));
    }

    /// @notice `burn` `amounts[i]` of each `from[i]`.
    function batchBurn(address[] calldata from, uint256[] calldata amounts) external {
        _sameLength(from.length, amounts.length);
        for (uint256 i = 0; i < from.length; ++i) _batchItem(i, abi.encodeCall(this.burn, (from[i], amounts[i])));
    }

    /// @notice `forcedTransfer` of `amounts[i]` from each `from[i]` to `to[i]`.
    function batchForcedTransfer(address[] calldata from, address[] calldata to, uint256[] calldata amounts) external {
        _sameLength(from.length, to.length);
        _sameLength(from.length, amounts.length);
        for (uint256 i = 0; i < from.length; ++i) {
            _batchItem(i, abi.encodeCall(this.forcedTransfer, (from[i], to[i], amounts[i])));
        }
    }

    /// @notice `setAddressFrozen(accounts[i], frozen[i])` for each i.
    function batchSetAddressFrozen(address[] calldata accounts, bool[] calldata frozen) external {
        _sameLength(accounts.length, frozen.length);
        for (uint256 i = 0; i < accounts.length; ++i) {
            _batchItem(i, abi.encodeCall(this.setAddressFrozen, (accounts[i], frozen[i])));
        }
    }

    /// @notice `freezePartialTokens(accounts[i], amounts[i])` for each i.
    function batchFreezePartialTokens(address[] calldata accounts, uint256[] calldata amounts) external {
        _sameLength(accounts.length, amounts.length);
        for (uint256 i = 0; i < accounts.length; ++i) {
            _batchItem(i, abi.encodeCall(this.freezePartialTokens, (accounts[i], amounts[i])));
        }
    }

    // -- pause ------------------------------------------------------------------------------------

    /// @notice Stop all ordinary transfers (controller actions still work).
    function pause() external onlyRole(ISSUER_ROLE) {
        _pause();
    }

    /// @notice Resume ordinary transfers.
    function unpause() external onlyRole(ISSUER_ROLE) {
        _unpause();
    }

    // -- documents --------------------------------------------------------------------------------

    /// @notice Attach or replace the document `name` (URI and content hash).
    function setDocument(bytes32 name, string calldata uri, bytes32 documentHash) external onlyRole(ISSUER_ROLE) {
        if (bytes(uri).length == 0) revert EmptyDocumentUri();
        if (_documents[name].updatedAt == 0) _documentNames.push(name);
        _documents[name] = Document(uri, documentHash, uint64(block.timestamp));
        emit DocumentUpdated(name, uri, documentHash);
    }

    /// @notice Remove the document `name`.
    function removeDocument(bytes32 name) external onlyRole(ISSUER_ROLE) {
        Document memory doc = getDocument(name);
        uint256 last = _documentNames.length - 1;
        for (uint256 i = 0; i <= last; ++i) {
            if (_documentNames[i] == name) {
                _documentNames[i] = _documentNames[last];
                _documentNames.pop();
                break;
            }
        }
        delete _documents[name];
        emit DocumentRemoved(name, doc.uri, doc.documentHash);
    }

    /// @notice The document `name`.
    function getDocument(bytes32 name) public view returns (Document memory) {
        Document memory doc = _documents[name];
        if (doc.updatedAt == 0) revert DocumentNotFound(name);
        return doc;
    }

    /// @notice Names of all attached documents.
    function getAllDocuments() external view returns (bytes32[] memory) {
        return _documentNames;
    }

    // -- holders and history ----------------------------------------------------------------

    /// @notice Every address with a non-zero balance (the register of holders).
    function holders() external view returns (address[] memory) {
        return _holders.values();
    }

    /// @notice Balance of `account` at the end of the last block with timestamp <= `timestamp`.
    function balanceAt(address account, uint256 timestamp) public view returns (uint256) {
        _requirePast(timestamp);
        return _balanceHistory[account].upperLookupRecent(SafeCast.toUint48(timestamp));
    }

    /// @notice Total supply at the end of the last block with timestamp <= `timestamp`.
    function totalSupplyAt(uint256 timestamp) public view returns (uint256) {
        _requirePast(timestamp);
        return _supplyHistory.upperLookupRecent(SafeCast.toUint48(timestamp));
    }

    /// @dev Every balance change (transfer, mint, burn) lands here: record history and holders.
    /// @dev ... and the compliance hears of it, except during a corporate action (a split is no trade).
    function _update(address from, address to, uint256 value) internal virtual override {
        super._update(from, to, value);
        ICompliance c = compliance;
        if (address(c) != address(0) && !_corporateAction) c.transferred(from, to, value);
        uint48 now48 = SafeCast.toUint48(block.timestamp);
        if (from == address(0) || to == address(0)) {
            _supplyHistory.push(now48, SafeCast.toUint208(totalSupply()));
        }
        if (from != address(0)) _recordBalance(from, now48);
        if (to != address(0)) _recordBalance(to, now48);
    }

    function _recordBalance(address account, uint48 now48) private {
        uint256 balance = balanceOf(account);
        _balanceHistory[account].push(now48, SafeCast.toUint208(balance));
        if (balance == 0) _holders.remove(account);
        else _holders.add(account);
    }

    /// @dev While set, balance changes are not reported to the compliance (stock splits).
    function _setCorporateAction(bool active) internal {
        _corporateAction = active;
    }

    /// @dev Scale a holder's frozen amount (stock splits).
    function _scaleFrozen(address account, uint256 multiplier) internal {
        _frozenAmount[account] *= multiplier;
    }

    function _holderList() internal view returns (address[] memory) {
        return _holders.values();
    }

    function _releaseFrozenFor(address from, uint256 amount) private {
        uint256 free = freeBalanceOf(from);
        if (amount > free) {
            uint256 release = amount - free;
            uint256 frozen = _frozenAmount[from];
            if (release > frozen) release = frozen; // the ERC-20 balance check reports the shortfall
            _frozenAmount[from] = frozen - release;
            emit TokensUnfrozen(from, release);
        }
    }

    function _requireVerified(address account) internal view {
        if (!identityRegistry.isVerified(account)) revert InvestorNotVerified(account);
    }

    function _requirePast(uint256 timestamp) internal view {
        if (timestamp >= block.timestamp) revert FutureLookup(timestamp, block.timestamp);
    }
}

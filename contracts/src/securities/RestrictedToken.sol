// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @notice What a restricted token needs to know about an investor wallet.
interface IInvestorRegistry {
    /// @notice True if `wallet` is a currently verified investor.
    function isVerified(address wallet) external view returns (bool);
}

/// @title RestrictedToken
/// @notice The regulated-security core shared by Settle's equity and bond tokens: an ERC-20 whose
///         transfers are allowed only between verified investors, with a pre-transfer check that
///         returns a reason code, freezes (whole wallet or an amount), forced transfers, pause,
///         recovery of a lost wallet, issue/redeem, a document register, a holder list and
///         timestamp-keyed balance history for record dates.
/// @dev Roles (OpenZeppelin AccessControl): ISSUER_ROLE issues, redeems, pauses and keeps documents;
///      AGENT_ROLE freezes; CONTROLLER_ROLE forces transfers and recovers wallets; DEFAULT_ADMIN_ROLE
///      grants roles. Balance history is keyed by block timestamp, so `balanceAt(a, t)` is the balance
///      at the end of the last block with timestamp <= t; it is final once a block with a later timestamp exists.
abstract contract RestrictedToken is ERC20, AccessControl, Pausable {
    using Checkpoints for Checkpoints.Trace208;
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @notice Issues and redeems tokens, pauses, keeps documents and runs corporate actions.
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

    /// @notice A document attached to the security (prospectus, terms, notices).
    struct Document {
        string uri;
        bytes32 documentHash;
        uint64 updatedAt;
    }

    /// @notice The investor allow-list consulted on every transfer.
    IInvestorRegistry public immutable identityRegistry;
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
    /// @notice The holdings and freezes of `lostWallet` moved to `newWallet`.
    event WalletRecovered(address indexed lostWallet, address indexed newWallet, uint256 amount);
    /// @notice A document was added or replaced.
    event DocumentUpdated(bytes32 indexed name, string uri, bytes32 documentHash);
    /// @notice A document was removed.
    event DocumentRemoved(bytes32 indexed name, string uri, bytes32 documentHash);

    /// @notice A transfer failed the compliance check; `reason` is the `canTransfer` code.
    error TransferRestricted(uint8 reason);
    /// @notice `account` is not a verified investor, so it cannot receive tokens.
    error InvestorNotVerified(address account);
    /// @notice Freezing `requested` in total would exceed the balance of `account`.
    error FreezeExceedsBalance(address account, uint256 balance, uint256 requested);
    /// @notice `account` has only `frozen` frozen tokens.
    error UnfreezeExceedsFrozen(address account, uint256 frozen, uint256 requested);
    /// @notice `lostWallet` holds nothing to recover.
    error NothingToRecover(address lostWallet);
    /// @notice No document named `name`.
    error DocumentNotFound(bytes32 name);
    /// @notice A document needs a URI.
    error EmptyDocumentUri();
    /// @notice History can be read only for timestamps before the current block.
    error FutureLookup(uint256 timestamp, uint256 now_);
    /// @notice Amounts must be positive.
    error ZeroAmount();

    /// @param name_ ERC-20 name. @param symbol_ ERC-20 symbol.
    /// @param decimals_ ERC-20 decimals (0 for whole shares or bonds).
    /// @param registry The investor allow-list.
    /// @param admin Receives every role; hand them on with AccessControl.
    constructor(string memory name_, string memory symbol_, uint8 decimals_, IInvestorRegistry registry, address admin)
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

    // -- compliance -------------------------------------------------------------------------------

    /// @notice Why a transfer of `amount` from `from` to `to` would fail now, or TRANSFER_OK.
    function canTransfer(address from, address to, uint256 amount) public view returns (uint8) {
        if (paused()) return REASON_PAUSED;
        if (!identityRegistry.isVerified(from)) return REASON_SENDER_NOT_VERIFIED;
        if (!identityRegistry.isVerified(to)) return REASON_RECIPIENT_NOT_VERIFIED;
        if (_walletFrozen[from]) return REASON_SENDER_FROZEN;
        if (_walletFrozen[to]) return REASON_RECIPIENT_FROZEN;
        if (amount > freeBalanceOf(from)) return REASON_INSUFFICIENT_FREE_BALANCE;
        return TRANSFER_OK;
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

    function _requireCompliant(address from, address to, uint256 amount) internal view {
        uint8 reason = canTransfer(from, to, amount);
        if (reason != TRANSFER_OK) revert TransferRestricted(reason);
    }

    // -- issue and redeem ----------------------------------------------------------------------

    /// @notice Issue `amount` new tokens to the verified investor `to`.
    function issue(address to, uint256 amount) external onlyRole(ISSUER_ROLE) {
        if (amount == 0) revert ZeroAmount();
        _requireVerified(to);
        _mint(to, amount);
        emit Issued(msg.sender, to, amount);
    }

    /// @notice Redeem (burn) `amount` tokens of `from`; frozen tokens are released first if needed.
    function redeem(address from, uint256 amount) external onlyRole(ISSUER_ROLE) {
        if (amount == 0) revert ZeroAmount();
        _releaseFrozenFor(from, amount);
        _burn(from, amount);
        emit Redeemed(msg.sender, from, amount);
    }

    // -- freeze -----------------------------------------------------------------------------------

    /// @notice Freeze or unfreeze every token of `account` (it can neither send nor receive).
    function setAddressFrozen(address account, bool frozen) external onlyRole(AGENT_ROLE) {
        _walletFrozen[account] = frozen;
        emit AddressFrozen(account, frozen, msg.sender);
    }

    /// @notice Freeze `amount` more tokens of `account`.
    function freezePartialTokens(address account, uint256 amount) external onlyRole(AGENT_ROLE) {
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

    /// @notice Move `amount` from `from` to the verified `to` regardless of freezes and pause
    ///         (court order, error correction). Frozen tokens are released as needed.
    function forcedTransfer(address from, address to, uint256 amount) external onlyRole(CONTROLLER_ROLE) {
        if (amount == 0) revert ZeroAmount();
        _requireVerified(to);
        _releaseFrozenFor(from, amount);
        _transfer(from, to, amount);
        emit ForcedTransfer(msg.sender, from, to, amount);
    }

    /// @notice Move all tokens, the frozen amount and the wallet freeze of `lostWallet` to the
    ///         verified `newWallet` of the same investor (lost or compromised key).
    function recoverWallet(address lostWallet, address newWallet) external onlyRole(CONTROLLER_ROLE) {
        uint256 amount = balanceOf(lostWallet);
        if (amount == 0) revert NothingToRecover(lostWallet);
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
    function _update(address from, address to, uint256 value) internal virtual override {
        super._update(from, to, value);
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

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IIdentityRegistry} from "./IIdentityRegistry.sol";
import {RestrictedToken} from "./RestrictedToken.sol";

/// @title SecurityToken
/// @notice An equity share on Settle (thesis §3.5): a RestrictedToken with the shareholder rights
///         the thesis lists — dividends, votes — and stock splits as a corporate action.
/// @dev Dividends are deposited by the issuer in a cash token for a record date in the past; each
///      holder pulls its pro-rata share of the deposit (balance at the record date / supply at the
///      record date). Rounding dust and unclaimed amounts return to the issuer by `reclaimDividend`
///      after the expiry. Ballots weigh each vote by the voter's balance at the ballot's record date
///      (the block that created it). The contract must be allow-listed in the cash token it pays in.
contract SecurityToken is RestrictedToken, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice A dividend distribution.
    struct Dividend {
        IERC20 cashToken;
        uint48 recordDate;
        uint64 expiry;
        uint256 amount;
        uint256 supplyAtRecord;
        uint256 claimed;
        bool reclaimed;
    }

    /// @notice A shareholder ballot; tallies are in shares held at the record date.
    struct Ballot {
        bytes32 proposalHash;
        uint48 recordDate;
        uint64 deadline;
        uint256 against;
        uint256 support;
        uint256 abstain;
    }

    /// @notice Ballot choices.
    uint8 public constant VOTE_AGAINST = 0;
    uint8 public constant VOTE_FOR = 1;
    uint8 public constant VOTE_ABSTAIN = 2;

    Dividend[] private _dividends;
    mapping(uint256 dividendId => mapping(address holder => bool)) private _dividendClaimed;
    Ballot[] private _ballots;
    mapping(uint256 ballotId => mapping(address voter => bool)) private _voted;

    /// @notice The issuer deposited `amount` of `cashToken` for holders at `recordDate`.
    event DividendDeposited(uint256 indexed dividendId, address indexed cashToken, uint256 amount, uint256 recordDate, uint256 expiry);
    /// @notice `holder` claimed `amount` of dividend `dividendId`.
    event DividendClaimed(uint256 indexed dividendId, address indexed holder, uint256 amount);
    /// @notice The issuer took back the unclaimed `amount` after the expiry.
    event DividendReclaimed(uint256 indexed dividendId, uint256 amount);
    /// @notice A ballot opened on the proposal whose text hashes to `proposalHash`.
    event BallotCreated(uint256 indexed ballotId, bytes32 proposalHash, uint256 recordDate, uint256 deadline);
    /// @notice `voter` cast `weight` shares for `choice`.
    event VoteCast(uint256 indexed ballotId, address indexed voter, uint8 choice, uint256 weight);
    /// @notice Every holding was multiplied by `multiplier`.
    event StockSplit(uint256 multiplier, uint256 newTotalSupply);

    /// @notice No dividend with this id.
    error DividendNotFound(uint256 dividendId);
    /// @notice The record date must be before the current block.
    error RecordDateNotPast(uint256 recordDate, uint256 now_);
    /// @notice The expiry must be in the future.
    error ExpiryNotInFuture(uint256 expiry, uint256 now_);
    /// @notice No shares existed at the record date.
    error NoSharesAtRecordDate(uint256 recordDate);
    /// @notice Claims closed at `expiry`.
    error DividendExpired(uint256 dividendId, uint256 expiry);
    /// @notice Unclaimed amounts can be reclaimed only after `expiry`.
    error DividendNotExpired(uint256 dividendId, uint256 expiry);
    /// @notice `holder` already claimed this dividend.
    error DividendAlreadyClaimed(uint256 dividendId, address holder);
    /// @notice The issuer already reclaimed this dividend.
    error DividendAlreadyReclaimed(uint256 dividendId);
    /// @notice `holder` is owed nothing.
    error NothingToClaim(address holder);
    /// @notice No ballot with this id.
    error BallotNotFound(uint256 ballotId);
    /// @notice Voting opens in the block after the ballot was created.
    /// @notice Voting closed at `deadline`.
    error VotingClosed(uint256 ballotId, uint256 deadline);
    /// @notice `voter` has already voted.
    error AlreadyVoted(uint256 ballotId, address voter);
    /// @notice `voter` held no shares at the record date.
    error NoVotingPower(address voter);
    /// @notice Choices are VOTE_AGAINST, VOTE_FOR and VOTE_ABSTAIN.
    error InvalidChoice(uint8 choice);
    /// @notice A forward split needs a multiplier of at least 2.
    error InvalidSplitMultiplier(uint256 multiplier);

    /// @param name_ ERC-20 name. @param symbol_ ERC-20 symbol.
    /// @param decimals_ ERC-20 decimals (0 for whole shares).
    /// @param registry The investor allow-list.
    /// @param admin Receives every role.
    constructor(string memory name_, string memory symbol_, uint8 decimals_, IIdentityRegistry registry, address admin)
        RestrictedToken(name_, symbol_, decimals_, registry, admin)
    {}

    // -- dividends ------------------------------------------------------------------------------

    /// @notice Deposit `amount` of `cashToken` (pulled from the caller) as a dividend to the holders
    ///         at `recordDate`, claimable until `expiry`.
    function depositDividend(IERC20 cashToken, uint48 recordDate, uint64 expiry, uint256 amount)
        external
        onlyRole(ISSUER_ROLE)
        nonReentrant
        returns (uint256 dividendId)
    {
        if (amount == 0) revert ZeroAmount();
        if (recordDate >= block.timestamp) revert RecordDateNotPast(recordDate, block.timestamp);
        if (expiry <= block.timestamp) revert ExpiryNotInFuture(expiry, block.timestamp);
        uint256 supply = totalSupplyAt(recordDate);
        if (supply == 0) revert NoSharesAtRecordDate(recordDate);
        dividendId = _dividends.length;
        _dividends.push(Dividend(cashToken, recordDate, expiry, amount, supply, 0, false));
        cashToken.safeTransferFrom(msg.sender, address(this), amount);
        emit DividendDeposited(dividendId, address(cashToken), amount, recordDate, expiry);
    }

    /// @notice What `holder` is owed by dividend `dividendId` (0 once claimed).
    function dividendOwed(uint256 dividendId, address holder) public view returns (uint256) {
        Dividend storage dividend = _dividend(dividendId);
        if (_dividendClaimed[dividendId][holder]) return 0;
        return dividend.amount * balanceAt(holder, dividend.recordDate) / dividend.supplyAtRecord;
    }

    /// @notice Claim the caller's share of dividend `dividendId`.
    function claimDividend(uint256 dividendId) external nonReentrant returns (uint256 owed) {
        Dividend storage dividend = _dividend(dividendId);
        if (block.timestamp > dividend.expiry) revert DividendExpired(dividendId, dividend.expiry);
        if (_dividendClaimed[dividendId][msg.sender]) revert DividendAlreadyClaimed(dividendId, msg.sender);
        owed = dividendOwed(dividendId, msg.sender);
        if (owed == 0) revert NothingToClaim(msg.sender);
        _dividendClaimed[dividendId][msg.sender] = true;
        dividend.claimed += owed;
        dividend.cashToken.safeTransfer(msg.sender, owed);
        emit DividendClaimed(dividendId, msg.sender, owed);
    }

    /// @notice After the expiry, return what holders did not claim (and rounding dust) to the caller.
    function reclaimDividend(uint256 dividendId) external onlyRole(ISSUER_ROLE) nonReentrant returns (uint256 rest) {
        Dividend storage dividend = _dividend(dividendId);
        if (block.timestamp <= dividend.expiry) revert DividendNotExpired(dividendId, dividend.expiry);
        if (dividend.reclaimed) revert DividendAlreadyReclaimed(dividendId);
        dividend.reclaimed = true;
        rest = dividend.amount - dividend.claimed;
        if (rest > 0) dividend.cashToken.safeTransfer(msg.sender, rest);
        emit DividendReclaimed(dividendId, rest);
    }

    /// @notice The dividend `dividendId`.
    function getDividend(uint256 dividendId) external view returns (Dividend memory) {
        return _dividend(dividendId);
    }

    function _dividend(uint256 dividendId) private view returns (Dividend storage) {
        if (dividendId >= _dividends.length) revert DividendNotFound(dividendId);
        return _dividends[dividendId];
    }

    // -- votes -------------------------------------------------------------------------------------

    /// @notice Open a ballot on the proposal hashing to `proposalHash`, open at once until `deadline`.
    /// @dev The record date is the previous second: several blocks may share a timestamp, so the
    ///      balances "at now" can still change, while those at `block.timestamp - 1` are final.
    function createBallot(bytes32 proposalHash, uint64 deadline) external onlyRole(ISSUER_ROLE) returns (uint256 ballotId) {
        if (deadline <= block.timestamp) revert ExpiryNotInFuture(deadline, block.timestamp);
        ballotId = _ballots.length;
        _ballots.push(Ballot(proposalHash, uint48(block.timestamp - 1), deadline, 0, 0, 0));
        emit BallotCreated(ballotId, proposalHash, block.timestamp - 1, deadline);
    }

    /// @notice Vote `choice` with the caller's shares at the ballot's record date.
    function castVote(uint256 ballotId, uint8 choice) external returns (uint256 weight) {
        Ballot storage ballot = _ballot(ballotId);
        if (block.timestamp > ballot.deadline) revert VotingClosed(ballotId, ballot.deadline);
        if (_voted[ballotId][msg.sender]) revert AlreadyVoted(ballotId, msg.sender);
        if (choice > VOTE_ABSTAIN) revert InvalidChoice(choice);
        weight = balanceAt(msg.sender, ballot.recordDate);
        if (weight == 0) revert NoVotingPower(msg.sender);
        _voted[ballotId][msg.sender] = true;
        if (choice == VOTE_FOR) ballot.support += weight;
        else if (choice == VOTE_AGAINST) ballot.against += weight;
        else ballot.abstain += weight;
        emit VoteCast(ballotId, msg.sender, choice, weight);
    }

    /// @notice The ballot `ballotId` with its running tallies.
    function getBallot(uint256 ballotId) external view returns (Ballot memory) {
        return _ballot(ballotId);
    }

    /// @notice True if `voter` has voted on `ballotId`.
    function hasVoted(uint256 ballotId, address voter) external view returns (bool) {
        return _voted[ballotId][voter];
    }

    function _ballot(uint256 ballotId) private view returns (Ballot storage) {
        if (ballotId >= _ballots.length) revert BallotNotFound(ballotId);
        return _ballots[ballotId];
    }

    // -- stock split ---------------------------------------------------------------------------

    /// @notice Forward stock split: every holding (and frozen amount) is multiplied by `multiplier`.
    /// @dev Loops over the holder list, so its gas grows with the number of holders (about 60k gas
    ///      each); history before the split keeps the old units, so earlier record dates are unchanged.
    function split(uint256 multiplier) external onlyRole(ISSUER_ROLE) {
        if (multiplier < 2) revert InvalidSplitMultiplier(multiplier);
        address[] memory current = _holderList();
        _setCorporateAction(true);
        for (uint256 i = 0; i < current.length; ++i) {
            address holder = current[i];
            _mint(holder, balanceOf(holder) * (multiplier - 1));
            _scaleFrozen(holder, multiplier);
        }
        _setCorporateAction(false);
        emit StockSplit(multiplier, totalSupply());
    }
}

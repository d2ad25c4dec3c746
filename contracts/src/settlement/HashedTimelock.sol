// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title HashedTimelock
/// @notice Hash- and time-locked escrow of an ERC-20 amount: one half of an atomic cross-chain DvP
///         (thesis §3.2.1). Deploy one on each chain.
///         1. Alice picks a secret α and locks her cash on the cash chain for Bob under sha256(α),
///            refundable to her after the *long* time lock (the thesis' 48 h).
///         2. Bob sees the lock and locks his shares on the asset chain for Alice under the same hash,
///            refundable to him after the *short* time lock (24 h) — so Bob can always get his shares
///            back before Alice can get her cash back.
///         3. Alice claims the shares with α; the `Claimed` event publishes α on the asset chain.
///         4. Bob reads α and claims the cash before Alice's time lock ends.
/// @dev The hash is sha256, as in Bitcoin HTLC scripts, so the same α can also unlock a Bitcoin-style
///      leg. A lock's id is the keccak256 of its terms, so each side can recompute the other's id.
///      Claims are accepted only before the time lock; refunds only from it on. To escrow a restricted
///      security, this contract must be a verified investor of that token; for a cash token, allow-listed.
contract HashedTimelock is ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Lifecycle of a lock.
    enum Status {
        None,
        Locked,
        Claimed,
        Refunded
    }

    /// @notice One escrow.
    struct Lock {
        address sender;
        address recipient;
        IERC20 token;
        uint256 amount;
        bytes32 hashlock;
        uint64 timelock;
        Status status;
    }

    mapping(bytes32 id => Lock) private _locks;

    /// @notice `sender` escrowed `amount` of `token` for `recipient` under `hashlock` until `timelock`.
    event Locked(bytes32 indexed id, address indexed sender, address indexed recipient, address token, uint256 amount,
        bytes32 hashlock, uint256 timelock);
    /// @notice The recipient claimed lock `id`, revealing `preimage` (α).
    event Claimed(bytes32 indexed id, bytes32 hashlock, bytes preimage);
    /// @notice The sender took lock `id` back after its time lock.
    event Refunded(bytes32 indexed id);

    /// @notice A lock with these terms already exists.
    error LockExists(bytes32 id);
    /// @notice No lock with this id.
    error LockNotFound(bytes32 id);
    /// @notice The lock was already claimed or refunded.
    error LockNotActive(bytes32 id, Status status);
    /// @notice The time lock must be in the future.
    error TimelockNotInFuture(uint256 timelock, uint256 now_);
    /// @notice The time lock has passed: no more claims.
    error TimelockExpired(bytes32 id, uint256 timelock);
    /// @notice The time lock has not passed yet: no refund.
    error TimelockNotExpired(bytes32 id, uint256 timelock);
    /// @notice sha256(preimage) is not the hash lock.
    error WrongPreimage(bytes32 id);
    /// @notice Only the recipient may claim.
    error NotRecipient(bytes32 id, address caller);
    /// @notice Only the sender may take a refund.
    error NotSender(bytes32 id, address caller);
    /// @notice Amount must be positive and the recipient non-zero.
    error InvalidLock();

    /// @notice The id a lock with these terms gets.
    function lockId(address sender, address recipient, IERC20 token, uint256 amount, bytes32 hashlock, uint64 timelock)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(sender, recipient, token, amount, hashlock, timelock));
    }

    /// @notice Escrow `amount` of `token` (approved by the caller) for `recipient`.
    function lock(address recipient, IERC20 token, uint256 amount, bytes32 hashlock, uint64 timelock)
        external
        nonReentrant
        returns (bytes32 id)
    {
        if (amount == 0 || recipient == address(0)) revert InvalidLock();
        if (timelock <= block.timestamp) revert TimelockNotInFuture(timelock, block.timestamp);
        id = lockId(msg.sender, recipient, token, amount, hashlock, timelock);
        if (_locks[id].status != Status.None) revert LockExists(id);
        _locks[id] = Lock(msg.sender, recipient, token, amount, hashlock, timelock, Status.Locked);
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Locked(id, msg.sender, recipient, address(token), amount, hashlock, timelock);
    }

    /// @notice The recipient takes the escrow by revealing `preimage`, before the time lock.
    function claim(bytes32 id, bytes calldata preimage) external nonReentrant {
        Lock storage l = _active(id);
        if (msg.sender != l.recipient) revert NotRecipient(id, msg.sender);
        if (block.timestamp >= l.timelock) revert TimelockExpired(id, l.timelock);
        if (sha256(preimage) != l.hashlock) revert WrongPreimage(id);
        l.status = Status.Claimed;
        l.token.safeTransfer(l.recipient, l.amount);
        emit Claimed(id, l.hashlock, preimage);
    }

    /// @notice The sender takes the escrow back once the time lock has passed.
    function refund(bytes32 id) external nonReentrant {
        Lock storage l = _active(id);
        if (msg.sender != l.sender) revert NotSender(id, msg.sender);
        if (block.timestamp < l.timelock) revert TimelockNotExpired(id, l.timelock);
        l.status = Status.Refunded;
        l.token.safeTransfer(l.sender, l.amount);
        emit Refunded(id);
    }

    /// @notice The lock `id`.
    function getLock(bytes32 id) external view returns (Lock memory) {
        if (_locks[id].status == Status.None) revert LockNotFound(id);
        return _locks[id];
    }

    function _active(bytes32 id) private view returns (Lock storage l) {
        l = _locks[id];
        if (l.status == Status.None) revert LockNotFound(id);
        if (l.status != Status.Locked) revert LockNotActive(id, l.status);
    }
}

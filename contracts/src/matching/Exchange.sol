// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IMatching, MatchingEvents} from "./IMatching.sol";

/// @title Exchange
/// @notice An order book for one security against one cash token, matched by Settle's native engine
///         (`IMatching`) and settled delivery-versus-payment at every fill (LiquidShare's flow: order,
///         reservation, execution, DvP at execution).
///
///         * Reservation: before an order can rest, its assets move into this contract's escrow — a
///           seller's `qty` securities, a buyer's `price * qty` cash. Each order's reservation is its
///           `remaining` quantity (times its limit price for a buy).
///         * Execution: every fill pays the seller `fillPrice * qty` from the buyer's reservation and
///           delivers `qty` securities to the buyer from the seller's, in the same transaction; the
///           buyer gets back the difference between its limit and the fill price.
///         * Cancels (by the member, by the engine for an unfilled IOC/FOK/post-only remainder or a
///           self-trade, or by anyone once an order has expired) release exactly what remains.
///
///         Fair mode (LGO §5.1.1): members commit the hash of an order in batch k and reveal it in
///         batch k+1; after that batch's cut-off anyone calls `settleBatch(k)`, which places the revealed
///         orders in a call-auction book in an order fixed by a seed no participant can choose (the
///         revealed salts, each committed before any was revealed, and the hash of the cut-off block,
///         unknown until every reveal is in), runs the auction at one uniform price and cancels the rest.
///         Commitments never revealed expire with nothing reserved.
///         Every step is an event, so anyone can recompute the batch from the reveals.
///
///         This contract must be allow-listed in the cash token and verified in the security's identity
///         registry, as any escrow holder.
contract Exchange is ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint8 public constant BUY = 0;
    uint8 public constant SELL = 1;
    uint8 public constant REASON_EXPIRED = 100;

    IMatching public constant ENGINE = IMatching(MatchingEvents.MATCHING);

    IERC20 public immutable security;
    IERC20 public immutable cash;
    uint32 public immutable book;
    uint32 public immutable auctionBook;
    /// @notice Fair mode: blocks per batch, and the block batch 0 starts at.
    uint64 public immutable batchBlocks;
    uint64 public immutable startBlock;

    struct Order {
        address member;
        uint8 side;
        uint64 price;
        uint64 remaining;
        uint64 expiry;
    }

    struct Commitment {
        address member;
        uint64 batch;
        bool revealed;
        uint8 side;
        uint64 price;
        uint64 qty;
        bytes32 salt;
    }

    mapping(address => uint64) public memberId;
    mapping(uint64 => address) public memberOf;
    uint64 public memberCount;
    mapping(uint64 => Order) public orders;
    mapping(bytes32 => Commitment) public commitments;
    mapping(uint64 => bytes32[]) internal batchCommitments;
    mapping(uint64 => bool) public batchSettled;

    event OrderAccepted(uint64 indexed orderId, address indexed member, uint8 side, uint64 price, uint64 qty);
    event Trade(
        uint64 indexed buyOrder, uint64 indexed sellOrder, address buyer, address seller, uint64 price, uint64 qty
    );
    event OrderRested(uint64 indexed orderId, uint64 price, uint64 remaining);
    event OrderCancelled(uint64 indexed orderId, address indexed member, uint64 released, uint8 reason);
    event OrderAmended(uint64 indexed orderId, uint64 price, uint64 qty, bool keptPriority);
    event Committed(uint64 indexed batch, bytes32 indexed commitment, address indexed member);
    event Revealed(uint64 indexed batch, bytes32 indexed commitment, uint8 side, uint64 price, uint64 qty);
    event CommitmentExpired(uint64 indexed batch, bytes32 indexed commitment, address indexed member);
    event BatchSettled(uint64 indexed batch, bytes32 seed, uint256 orders, uint64 price, uint256 volume);

    error NotOrderOwner(uint64 orderId, address caller);
    error UnknownOrder(uint64 orderId);
    error NotExpired(uint64 orderId, uint64 expiry);
    error ExpiryInPast(uint64 expiry);
    error MarketBuyNotSupported();
    error WrongBatch(uint64 expected, uint64 current);
    error UnknownCommitment(bytes32 commitment);
    error CommitmentMismatch(bytes32 commitment);
    error AlreadyCommitted(bytes32 commitment);
    error AlreadyRevealed(bytes32 commitment);
    error BatchNotOver(uint64 batch, uint64 current);
    error BatchAlreadySettled(uint64 batch);

    /// @param stp self-trade prevention of the continuous book (see IMatching.createBook)
    constructor(IERC20 security_, IERC20 cash_, uint8 stp, uint64 batchBlocks_) {
        security = security_;
        cash = cash_;
        book = ENGINE.createBook(stp, false);
        auctionBook = ENGINE.createBook(0, true);
        batchBlocks = batchBlocks_ == 0 ? 1 : batchBlocks_;
        startBlock = uint64(block.number);
    }

    // ------------------------------------------------------------------ continuous trading

    /// @notice Place an order (limit, IOC, FOK or post-only; a sell may also be a market order).
    ///         Reserves the assets first; settles every fill at once. `expiry` 0 means good till cancelled.
    function placeOrder(uint8 side, uint8 orderType, uint64 price, uint64 qty, uint64 expiry)
        external
        nonReentrant
        returns (uint64 orderId)
    {
        if (expiry != 0 && expiry <= block.timestamp) revert ExpiryInPast(expiry);
        if (side == BUY && orderType == 1) revert MarketBuyNotSupported();
        uint64 owner = _member(msg.sender);
        _reserve(msg.sender, side, price, qty);
        uint256[] memory events = ENGINE.place(book, owner, side, orderType, price, qty);
        orderId = _apply(events, expiry);
    }

    /// @notice Many good-till-cancelled orders of one member in one engine call (`submit`): one reservation
    ///         transfer per asset for the whole batch, then every fill settled as in `placeOrder`.
    ///         Each entry is `side << 128 | price << 64 | qty` (limit orders).
    function placeOrders(uint256[] calldata packed) external nonReentrant {
        uint64 owner = _member(msg.sender);
        uint256 cashNeeded = 0;
        uint256 sharesNeeded = 0;
        uint256[] memory commands = new uint256[](packed.length);
        for (uint256 i = 0; i < packed.length; i++) {
            uint8 side = uint8(packed[i] >> 128);
            uint64 price = uint64(packed[i] >> 64);
            uint64 qty = uint64(packed[i]);
            if (side == BUY) cashNeeded += uint256(price) * qty;
            else sharesNeeded += qty;
            commands[i] = MatchingEvents.placeWord(owner, side, 0, price, qty);
        }
        if (cashNeeded > 0) cash.safeTransferFrom(msg.sender, address(this), cashNeeded);
        if (sharesNeeded > 0) security.safeTransferFrom(msg.sender, address(this), sharesNeeded);
        _apply(ENGINE.submit(book, commands), 0);
    }

    /// @notice Cancel one's own order, releasing its reservation.
    function cancelOrder(uint64 orderId) external nonReentrant {
        Order storage order = orders[orderId];
        if (order.member == address(0)) revert UnknownOrder(orderId);
        if (order.member != msg.sender) revert NotOrderOwner(orderId, msg.sender);
        _apply(ENGINE.cancel(book, orderId), 0);
    }

    /// @notice Cancel orders whose expiry has passed; anyone may call it. Releases exactly what remains.
    function expireOrders(uint64[] calldata orderIds) external nonReentrant {
        for (uint256 i = 0; i < orderIds.length; i++) {
            Order storage order = orders[orderIds[i]];
            if (order.member == address(0)) revert UnknownOrder(orderIds[i]);
            if (order.expiry == 0 || order.expiry > block.timestamp) revert NotExpired(orderIds[i], order.expiry);
            uint256[] memory events = ENGINE.cancel(book, orderIds[i]);
            MatchingEvents.Event memory e = MatchingEvents.eventAt(events, 0);
            _release(e.a, e.qty, REASON_EXPIRED);
        }
    }

    /// @notice Amend one's own order to a new price and remaining quantity; the reservation follows.
    function amendOrder(uint64 orderId, uint64 price, uint64 qty) external nonReentrant {
        Order storage order = orders[orderId];
        if (order.member == address(0)) revert UnknownOrder(orderId);
        if (order.member != msg.sender) revert NotOrderOwner(orderId, msg.sender);
        if (order.side == BUY) {
            uint256 before = uint256(order.price) * order.remaining;
            uint256 after_ = uint256(price) * qty;
            if (after_ > before) cash.safeTransferFrom(msg.sender, address(this), after_ - before);
            else if (before > after_) cash.safeTransfer(msg.sender, before - after_);
        } else if (qty > order.remaining) {
            security.safeTransferFrom(msg.sender, address(this), qty - order.remaining);
        } else if (order.remaining > qty) {
            security.safeTransfer(msg.sender, order.remaining - qty);
        }
        // The reservation is now price * qty (or qty): record it before the engine's events.
        if (qty == 0) {
            // a cancel: the CANCEL event releases what the order still had, which was just returned
            uint256[] memory cancelled = ENGINE.amend(book, orderId, price, 0);
            MatchingEvents.Event memory e = MatchingEvents.eventAt(cancelled, 0);
            emit OrderCancelled(orderId, order.member, e.qty, 1);
            delete orders[orderId];
            return;
        }
        order.price = price;
        order.remaining = qty;
        _apply(ENGINE.amend(book, orderId, price, qty), 0);
    }

    function bestBidAsk() external view returns (uint64 bid, uint64 bidQty, uint64 ask, uint64 askQty) {
        return ENGINE.bestBidAsk(book);
    }

    // ------------------------------------------------------------------ fair mode: commit, reveal, auction

    function currentBatch() public view returns (uint64) {
        return (uint64(block.number) - startBlock) / batchBlocks;
    }

    /// @notice The hash a member commits: nothing of the order is visible until the reveal.
    function commitmentOf(address member, uint8 side, uint64 price, uint64 qty, bytes32 salt)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(member, side, price, qty, salt));
    }

    function commit(bytes32 commitment) external {
        if (commitments[commitment].member != address(0)) revert AlreadyCommitted(commitment);
        uint64 batch = currentBatch();
        commitments[commitment] = Commitment(msg.sender, batch, false, 0, 0, 0, bytes32(0));
        batchCommitments[batch].push(commitment);
        emit Committed(batch, commitment, msg.sender);
    }

    /// @notice Reveal in the batch after the commitment's; reserves the order's assets.
    function reveal(bytes32 commitment, uint8 side, uint64 price, uint64 qty, bytes32 salt) external nonReentrant {
        Commitment storage c = commitments[commitment];
        if (c.member == address(0)) revert UnknownCommitment(commitment);
        if (c.revealed) revert AlreadyRevealed(commitment);
        if (currentBatch() != c.batch + 1) revert WrongBatch(c.batch + 1, currentBatch());
        if (commitmentOf(msg.sender, side, price, qty, salt) != commitment || c.member != msg.sender) {
            revert CommitmentMismatch(commitment);
        }
        _member(msg.sender);
        _reserve(msg.sender, side, price, qty);
        c.revealed = true;
        c.side = side;
        c.price = price;
        c.qty = qty;
        c.salt = salt;
        emit Revealed(c.batch, commitment, side, price, qty);
    }

    /// @notice After batch `batch + 1` (its reveal window) is over: the call auction of `batch`'s orders.
    ///         Callable from the block after the cut-off block (the first block of batch `batch + 2`).
    function settleBatch(uint64 batch) external nonReentrant {
        uint256 cutoff = uint256(startBlock) + (uint256(batch) + 2) * batchBlocks;
        if (block.number <= cutoff) revert BatchNotOver(batch, currentBatch());
        if (batchSettled[batch]) revert BatchAlreadySettled(batch);
        batchSettled[batch] = true;
        bytes32[] storage all = batchCommitments[batch];
        uint256 n = all.length;
        bytes32[] memory revealed = new bytes32[](n);
        uint256 m = 0;
        bytes32 saltMix = 0;
        for (uint256 i = 0; i < n; i++) {
            Commitment storage c = commitments[all[i]];
            if (c.revealed) {
                revealed[m++] = all[i];
                saltMix ^= c.salt;
            } else {
                emit CommitmentExpired(batch, all[i], c.member);
            }
        }
        // blockhash is 0 once the cut-off block is more than 256 blocks old: then the salts alone decide.
        bytes32 seed = keccak256(abi.encode(address(this), batch, saltMix, blockhash(cutoff)));
        // Priority at equal prices: ascending keccak(seed, commitment), which no single participant controls.
        bytes32[] memory keys = new bytes32[](m);
        for (uint256 i = 0; i < m; i++) {
            keys[i] = keccak256(abi.encode(seed, revealed[i]));
        }
        for (uint256 i = 1; i < m; i++) {
            (bytes32 key, bytes32 value) = (keys[i], revealed[i]);
            uint256 j = i;
            while (j > 0 && keys[j - 1] > key) {
                keys[j] = keys[j - 1];
                revealed[j] = revealed[j - 1];
                j--;
            }
            keys[j] = key;
            revealed[j] = value;
        }
        uint256[] memory commands = new uint256[](m);
        for (uint256 i = 0; i < m; i++) {
            Commitment storage c = commitments[revealed[i]];
            commands[i] = MatchingEvents.placeWord(memberId[c.member], c.side, 0, c.price, c.qty);
        }
        if (m > 0) _apply(ENGINE.submit(auctionBook, commands), 0);
        uint256[] memory result = ENGINE.runAuction(auctionBook, true);
        uint64 price = 0;
        uint256 volume = 0;
        uint256 count = MatchingEvents.count(result);
        for (uint256 i = 0; i < count; i++) {
            MatchingEvents.Event memory e = MatchingEvents.eventAt(result, i);
            if (e.kind == MatchingEvents.FILL) {
                price = e.price;
                volume += e.qty;
            }
        }
        _apply(result, 0);
        emit BatchSettled(batch, seed, m, price, volume);
    }

    // ------------------------------------------------------------------ internals

    function _member(address account) internal returns (uint64 id) {
        id = memberId[account];
        if (id == 0) {
            id = ++memberCount;
            memberId[account] = id;
            memberOf[id] = account;
        }
    }

    function _reserve(address member, uint8 side, uint64 price, uint64 qty) internal {
        if (side == BUY) cash.safeTransferFrom(member, address(this), uint256(price) * qty);
        else security.safeTransferFrom(member, address(this), qty);
    }

    /// @dev Settle the engine's events in order; returns the id of an ACCEPTed order (0 if none).
    function _apply(uint256[] memory events, uint64 expiry) internal returns (uint64 accepted) {
        uint256 count = MatchingEvents.count(events);
        for (uint256 i = 0; i < count; i++) {
            MatchingEvents.Event memory e = MatchingEvents.eventAt(events, i);
            if (e.kind == MatchingEvents.ACCEPT) {
                accepted = e.a;
                orders[e.a] = Order(memberOf[e.c], e.flag, e.price, e.qty, expiry);
                emit OrderAccepted(e.a, memberOf[e.c], e.flag, e.price, e.qty);
            } else if (e.kind == MatchingEvents.FILL) {
                _settleFill(e);
            } else if (e.kind == MatchingEvents.CANCEL) {
                _release(e.a, e.qty, uint8(e.b));
            } else if (e.kind == MatchingEvents.REST) {
                emit OrderRested(e.a, e.price, e.qty);
            } else if (e.kind == MatchingEvents.AMEND) {
                emit OrderAmended(e.a, e.price, e.qty, e.b == 1);
            }
        }
    }

    /// @dev One fill, both legs now: cash from the buyer's reservation to the seller, securities from
    ///      the seller's reservation to the buyer, and the buyer's price improvement back to the buyer.
    function _settleFill(MatchingEvents.Event memory e) internal {
        Order storage buy = orders[e.a];
        Order storage sell = orders[e.b];
        address buyer = buy.member;
        address seller = sell.member;
        cash.safeTransfer(seller, uint256(e.price) * e.qty);
        security.safeTransfer(buyer, e.qty);
        if (buy.price > e.price) cash.safeTransfer(buyer, uint256(buy.price - e.price) * e.qty);
        emit Trade(e.a, e.b, buyer, seller, e.price, e.qty);
        _reduce(e.a, e.qty);
        _reduce(e.b, e.qty);
    }

    function _release(uint64 orderId, uint64 qty, uint8 reason) internal {
        Order storage order = orders[orderId];
        address member = order.member;
        if (order.side == BUY) cash.safeTransfer(member, uint256(order.price) * qty);
        else security.safeTransfer(member, qty);
        emit OrderCancelled(orderId, member, qty, reason);
        _reduce(orderId, qty);
    }

    function _reduce(uint64 orderId, uint64 qty) internal {
        Order storage order = orders[orderId];
        order.remaining -= qty;
        if (order.remaining == 0) delete orders[orderId];
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IMatching
/// @notice Settle's native order-matching engine, a stateful precompile at `MATCHING` (docs/matching.md).
///         A book belongs to the contract that created it: only that operator places, cancels, amends
///         and runs auctions in it; anyone reads it. Every write returns the engine's events as pairs
///         of words (decode them with `MatchingEvents`). Bad input reverts with `Error(string)`.
interface IMatching {
    /// @notice A new book. `stp`: 0 none, 1 cancel the taker, 2 cancel the resting order, 3 both.
    ///         `auction`: a call-auction book (orders rest until `runAuction`).
    function createBook(uint8 stp, bool auction) external returns (uint32 book);

    /// @notice Place an order. `owner` is the operator's own account number (self-trade prevention).
    ///         side 0 buy, 1 sell; orderType 0 limit, 1 market (price 0), 2 IOC, 3 FOK, 4 post-only.
    function place(uint32 book, uint64 owner, uint8 side, uint8 orderType, uint64 price, uint64 qty)
        external
        returns (uint256[] memory events);

    function cancel(uint32 book, uint64 orderId) external returns (uint256[] memory events);

    /// @notice New price and remaining quantity: a reduce at the same price keeps time priority.
    function amend(uint32 book, uint64 orderId, uint64 price, uint64 qty) external returns (uint256[] memory events);

    /// @notice Many 32-byte commands in one call, all or nothing (formats in docs/matching.md).
    function submit(uint32 book, uint256[] calldata commands) external returns (uint256[] memory events);

    /// @notice Match a call-auction book at one uniform price; `cancelRest` cancels what is left.
    function runAuction(uint32 book, bool cancelRest) external returns (uint256[] memory events);

    function bestBidAsk(uint32 book) external view returns (uint64 bid, uint64 bidQty, uint64 ask, uint64 askQty);

    /// @notice Up to `levels` levels, best first, each `price << 128 | quantity << 64 | orders`.
    function depth(uint32 book, uint8 side, uint32 levels) external view returns (uint256[] memory);

    /// @notice SHA-256 of the whole engine's serialisation (the value committed into the state root per block).
    function digest() external view returns (bytes32);
}

/// @notice The precompile's address and the engine's event layout.
library MatchingEvents {
    address internal constant MATCHING = 0x0000000000000000000000000000000000000a11;

    uint8 internal constant ACCEPT = 1;
    uint8 internal constant FILL = 2;
    uint8 internal constant REST = 3;
    uint8 internal constant CANCEL = 4;
    uint8 internal constant REJECT = 5;
    uint8 internal constant AMEND = 6;

    /// @notice One event: `events[2i]`, `events[2i+1]`.
    struct Event {
        uint8 kind;
        uint8 flag;
        uint64 a;
        uint64 b;
        uint64 c;
        uint64 d;
        uint64 price;
        uint64 qty;
    }

    function eventAt(uint256[] memory events, uint256 i) internal pure returns (Event memory e) {
        uint256 w1 = events[2 * i];
        uint256 w2 = events[2 * i + 1];
        e.kind = uint8(w1 >> 248);
        e.flag = uint8(w1 >> 240);
        e.a = uint64(w1 >> 128);
        e.b = uint64(w1 >> 64);
        e.c = uint64(w1);
        e.d = uint64(w2 >> 128);
        e.price = uint64(w2 >> 64);
        e.qty = uint64(w2);
    }

    function count(uint256[] memory events) internal pure returns (uint256) {
        return events.length / 2;
    }

    /// @notice A PLACE command word for `submit`.
    function placeWord(uint64 owner, uint8 side, uint8 orderType, uint64 price, uint64 qty)
        internal
        pure
        returns (uint256)
    {
        return (uint256(1) << 248) | (uint256(side) << 240) | (uint256(orderType) << 232) | (uint256(owner) << 128)
            | (uint256(price) << 64) | uint256(qty);
    }
}

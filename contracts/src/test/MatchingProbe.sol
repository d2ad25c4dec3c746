// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IMatching, MatchingEvents} from "../matching/IMatching.sol";

/// @notice Test helper: operates one book of the matching precompile, and places orders in frames that revert.
contract MatchingProbe {
    IMatching internal constant ENGINE = IMatching(MatchingEvents.MATCHING);
    uint32 public immutable book;

    error Undone(uint256 events);

    event Placed(uint256 events);
    event ChildFailed(bytes reason);
    event Raw(bool ok, bytes output);

    constructor() {
        book = ENGINE.createBook(0, false);
    }

    function place(uint64 owner, uint8 side, uint64 price, uint64 qty) public returns (uint256[] memory events) {
        events = ENGINE.place(book, owner, side, 0, price, qty);
        emit Placed(events.length / 2);
    }

    /// @notice Places (and so matches) and then reverts the whole transaction.
    function placeThenRevert(uint64 owner, uint8 side, uint64 price, uint64 qty) external {
        uint256[] memory events = place(owner, side, price, qty);
        revert Undone(events.length / 2);
    }

    /// @notice Places (and so matches), then runs until the gas or a build deadline stops it.
    function placeThenSpin(uint64 owner, uint8 side, uint64 price, uint64 qty) external returns (uint256 spins) {
        place(owner, side, price, qty);
        while (gasleft() > 0) {
            unchecked {
                spins++;
            }
        }
    }

    /// @notice A child frame places and reverts; this frame then places `qty2` and succeeds.
    function childRevertsThenPlace(uint64 owner, uint8 side, uint64 price, uint64 qty, uint64 qty2) external {
        try this.placeThenRevert(owner, side, price, qty) {} catch (bytes memory reason) {
            emit ChildFailed(reason);
        }
        place(owner, side, price, qty2);
    }

    /// @notice Any calldata to the precompile; the outcome as an event.
    function raw(bytes calldata data) external returns (bool ok, bytes memory output) {
        (ok, output) = address(ENGINE).call(data);
        emit Raw(ok, output);
    }

    /// @notice The same by STATICCALL (reads only).
    function rawStatic(bytes calldata data) external returns (bool ok, bytes memory output) {
        (ok, output) = address(ENGINE).staticcall(data);
        emit Raw(ok, output);
    }

    /// @notice The same by DELEGATECALL (which the engine refuses).
    function rawDelegate(bytes calldata data) external returns (bool ok, bytes memory output) {
        (ok, output) = address(ENGINE).delegatecall(data);
        emit Raw(ok, output);
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ConsortiumOracle} from "../oracle/ConsortiumOracle.sol";

/// @title CashSettledFuture
/// @notice One cash-settled futures contract between a long and a short (thesis §3.6), with the sale
///         of a position to a third party (§3.7).
///         - Terms fixed at creation: underlying (an oracle asset id), contract price, size, leverage,
///           maturity, mark-to-market interval, margin-call window, maintenance level, the two parties.
///         - Both sides deposit the initial margin (notional / leverage) in the cash token; then the
///           contract is active.
///         - Every `markInterval` anyone may mark to market with the latest ConsortiumOracle price:
///           the price change times size moves between the margin balances. A side whose margin falls
///           below the maintenance level gets a margin call with a deadline; topping up to the initial
///           margin meets it, otherwise anyone may `liquidate` after the deadline and the defaulting
///           side's margin goes to the counterparty.
///         - From maturity anyone may settle with a price observed at or after maturity and both
///           margins are paid out. A gain is always capped by the loser's margin: the contract is
///           solvent by construction.
///         - If the oracle never reports after maturity, once `settlementGrace` has passed after it
///           anyone may settle at the last accepted mark (`settleAtLastMark`): no further gain or
///           loss, each side takes back its margin as it stands, so no margin is locked for ever.
///         - Payouts are made side by side: a payout address the cash token refuses (not
///           allow-listed, frozen) only defers that side's payout (`PayoutDeferred`); its holder
///           pulls it later with `withdrawPayout(side, to)`. One side can never block the other's.
///         - A side's holder may list its position at a price; a buyer names the price it accepts and
///           a deadline (thesis §3.7 step 4: "a transaction containing the funds matching the price
///           set by Alice"), pays the seller, and becomes the side's payout address, atomically.
/// @dev Sides: 0 = long, 1 = short. Prices are cash units per unit of the underlying. The contract
///      must be allow-listed in the cash token.
contract CashSettledFuture is ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint8 public constant LONG = 0;
    uint8 public constant SHORT = 1;

    /// @notice Lifecycle.
    enum Status {
        Funding,
        Active,
        Liquidated,
        Settled,
        Cancelled
    }

    /// @notice The terms fixed at creation.
    struct Terms {
        IERC20 cashToken;
        ConsortiumOracle oracle;
        bytes32 asset;
        uint256 contractPrice;
        uint256 size;
        uint256 leverage;
        uint64 maturity;
        uint64 markInterval;
        uint64 marginCallWindow;
        uint16 maintenanceBps;
        address long;
        address short;
        uint64 settlementGrace;
    }

    Terms private _terms;
    /// @notice Cash each side must deposit: contractPrice * size / leverage.
    uint256 public immutable initialMargin;
    /// @notice Below this margin a side gets a margin call.
    uint256 public immutable maintenanceMargin;

    Status public status;
    /// @notice Price of the last mark (the contract price before the first).
    uint256 public lastMarkPrice;
    /// @notice Time of the last mark (activation before the first).
    uint64 public lastMarkTime;
    address[2] private _holder;
    uint256[2] private _margin;
    uint64[2] private _marginCallDeadline;
    uint256[2] private _askPrice;
    uint256[2] private _owed;

    /// @notice `from` added `amount` to `side`'s margin.
    event MarginDeposited(uint8 indexed side, address indexed from, uint256 amount);
    /// @notice Both sides funded; the contract is live.
    event Activated(uint256 initialMargin);
    /// @notice Margins after marking to `price` (oracle round `round`).
    event MarkedToMarket(uint256 price, uint64 round, uint256 longMargin, uint256 shortMargin);
    /// @notice `side` must top up to `initialMargin` by `deadline`.
    event MarginCall(uint8 indexed side, address indexed holder, uint256 margin, uint256 deadline);
    /// @notice `side` topped up and its margin call is over.
    event MarginCallMet(uint8 indexed side, uint256 margin);
    /// @notice `defaulter` failed a margin call (or ran out of margin); `winner` received `payout`.
    event Liquidated(uint8 indexed defaulter, address indexed winner, uint256 payout);
    /// @notice Final settlement at `price`.
    event Settled(uint256 price, uint256 longPayout, uint256 shortPayout);
    /// @notice The contract was called off before activation; deposits returned.
    event Cancelled();
    /// @notice `side` is for sale at `price` (0: listing withdrawn).
    event PositionListed(uint8 indexed side, address indexed holder, uint256 price);
    /// @notice `side` was sold by `seller` to `buyer` for `price`; its payout address is now `payout`.
    event PositionSold(uint8 indexed side, address indexed seller, address indexed buyer, address payout, uint256 price);

    /// @notice `side`'s payout of `amount` could not be sent to `holder`; it waits for `withdrawPayout`.
    event PayoutDeferred(uint8 indexed side, address indexed holder, uint256 amount);
    /// @notice `side`'s deferred payout of `amount` went to `to`.
    event PayoutWithdrawn(uint8 indexed side, address indexed to, uint256 amount);
    /// @notice The oracle had not reported after maturity within the grace period: settled at `price`,
    ///         the last accepted mark.
    event SettledAtLastMark(uint256 price);

    /// @notice The asking price of `side` is `askPrice`, not the `accepted` price.
    error PriceChanged(uint8 side, uint256 askPrice, uint256 accepted);
    /// @notice The buyer's offer expired at `deadline`.
    error OfferExpired(uint256 deadline);
    /// @notice Nothing is owed to `side`.
    error NothingOwed(uint8 side);
    /// @notice The fallback opens at `opensAt` (maturity + settlementGrace).
    error GraceNotOver(uint256 opensAt);
    /// @notice The oracle has a price observed at or after maturity: use `settleAtMaturity`.
    error OraclePriceAvailable(uint256 price);
    /// @notice The terms are inconsistent (zero amounts, same parties, past maturity, ...).
    error InvalidTerms();
    /// @notice Sides are 0 (long) and 1 (short).
    error InvalidSide(uint8 side);
    /// @notice The call needs status `expected`; the contract is in `actual`.
    error WrongStatus(Status expected, Status actual);
    /// @notice Only the holder (payout address) of `side` may do this.
    error NotPositionHolder(uint8 side, address caller);
    /// @notice The next mark is allowed from `nextMark`.
    error MarkTooEarly(uint256 nextMark);
    /// @notice The oracle has no price observed after `since`.
    error NoNewPrice(uint256 since);
    /// @notice Maturity reached: settle instead.
    error Matured(uint256 maturity);
    /// @notice Not yet at maturity.
    error NotMatured(uint256 maturity);
    /// @notice No margin call has passed its deadline.
    error NothingToLiquidate();
    /// @notice `side` is not for sale.
    error PositionNotForSale(uint8 side);
    /// @notice Amounts and prices must be positive; addresses non-zero.
    error InvalidAmount();

    /// @param terms_ See `Terms`.
    constructor(Terms memory terms_) {
        if (terms_.contractPrice == 0 || terms_.size == 0 || terms_.leverage == 0 || terms_.markInterval == 0
            || terms_.maturity <= block.timestamp || terms_.maintenanceBps == 0 || terms_.maintenanceBps > 10_000
            || terms_.long == address(0) || terms_.short == address(0) || terms_.long == terms_.short
            || terms_.settlementGrace == 0) {
            revert InvalidTerms();
        }
        _terms = terms_;
        initialMargin = terms_.contractPrice * terms_.size / terms_.leverage;
        maintenanceMargin = initialMargin * terms_.maintenanceBps / 10_000;
        if (initialMargin == 0) revert InvalidTerms();
        _holder[LONG] = terms_.long;
        _holder[SHORT] = terms_.short;
        lastMarkPrice = terms_.contractPrice;
    }

    // -- views -------------------------------------------------------------------------------------

    /// @notice The terms fixed at creation.
    function terms() external view returns (Terms memory) {
        return _terms;
    }

    /// @notice Payout address of `side`.
    function holder(uint8 side) external view returns (address) {
        return _holder[_side(side)];
    }

    /// @notice Margin balance of `side`.
    function margin(uint8 side) external view returns (uint256) {
        return _margin[_side(side)];
    }

    /// @notice Deadline of `side`'s open margin call (0: none).
    function marginCallDeadline(uint8 side) external view returns (uint64) {
        return _marginCallDeadline[_side(side)];
    }

    /// @notice Payout of `side` waiting for `withdrawPayout`.
    function owed(uint8 side) external view returns (uint256) {
        return _owed[_side(side)];
    }

    /// @notice Asking price of `side` (0: not for sale).
    function askPrice(uint8 side) external view returns (uint256) {
        return _askPrice[_side(side)];
    }

    // -- margin ------------------------------------------------------------------------------------

    /// @notice Add `amount` (pulled from the caller) to `side`'s margin. Activates the contract once
    ///         both sides hold the initial margin; meets an open margin call once back at it.
    function depositMargin(uint8 side, uint256 amount) external nonReentrant {
        _side(side);
        if (amount == 0) revert InvalidAmount();
        if (status != Status.Funding && status != Status.Active) revert WrongStatus(Status.Active, status);
        _terms.cashToken.safeTransferFrom(msg.sender, address(this), amount);
        _margin[side] += amount;
        emit MarginDeposited(side, msg.sender, amount);
        if (status == Status.Funding) {
            if (_margin[LONG] >= initialMargin && _margin[SHORT] >= initialMargin) {
                status = Status.Active;
                lastMarkTime = uint64(block.timestamp);
                emit Activated(initialMargin);
            }
        } else if (_marginCallDeadline[side] != 0 && _margin[side] >= initialMargin) {
            _marginCallDeadline[side] = 0;
            emit MarginCallMet(side, _margin[side]);
        }
    }

    /// @notice Before activation, either party may call the contract off; deposits go back to the holders.
    function cancel() external nonReentrant {
        _requireStatus(Status.Funding);
        if (msg.sender != _holder[LONG] && msg.sender != _holder[SHORT]) revert NotPositionHolder(LONG, msg.sender);
        status = Status.Cancelled;
        _payOut();
        emit Cancelled();
    }

    // -- mark to market, margin calls, liquidation ------------------------------------------------

    /// @notice Mark to the oracle's latest price; allowed once per `markInterval`, before maturity.
    function markToMarket() external nonReentrant {
        _requireStatus(Status.Active);
        uint256 nextMark = uint256(lastMarkTime) + _terms.markInterval;
        if (block.timestamp < nextMark) revert MarkTooEarly(nextMark);
        if (block.timestamp >= _terms.maturity) revert Matured(_terms.maturity);
        ConsortiumOracle.Price memory p = _terms.oracle.latestPrice(_terms.asset);
        if (p.observedAt <= lastMarkTime) revert NoNewPrice(lastMarkTime);
        lastMarkTime = uint64(block.timestamp);
        (bool exhausted, uint8 payer) = _applyPrice(p.price);
        emit MarkedToMarket(p.price, p.round, _margin[LONG], _margin[SHORT]);
        if (exhausted) {
            _liquidate(payer);
            return;
        }
        _checkMaintenance(LONG);
        _checkMaintenance(SHORT);
    }

    /// @notice Close the contract against a side whose margin call deadline has passed: the
    ///         counterparty receives both margins.
    function liquidate() external nonReentrant {
        _requireStatus(Status.Active);
        for (uint8 side = 0; side < 2; ++side) {
            uint64 deadline = _marginCallDeadline[side];
            if (deadline != 0 && block.timestamp > deadline) {
                _liquidate(side);
                return;
            }
        }
        revert NothingToLiquidate();
    }

    /// @notice From maturity, settle at the oracle's latest price, which must have been observed at or
    ///         after maturity, and pay both margins out (the gain capped by the loser's margin).
    function settleAtMaturity() external nonReentrant {
        _requireStatus(Status.Active);
        if (block.timestamp < _terms.maturity) revert NotMatured(_terms.maturity);
        ConsortiumOracle.Price memory p = _terms.oracle.latestPrice(_terms.asset);
        if (p.observedAt < _terms.maturity) revert NoNewPrice(_terms.maturity);
        _applyPrice(p.price);
        status = Status.Settled;
        (uint256 longPayout, uint256 shortPayout) = (_margin[LONG], _margin[SHORT]);
        _payOut();
        emit Settled(p.price, longPayout, shortPayout);
    }

    /// @notice If no oracle price observed at or after maturity arrived within `settlementGrace` after
    ///         it, settle at the last accepted mark and pay both margins out as they stand.
    function settleAtLastMark() external nonReentrant {
        _requireStatus(Status.Active);
        uint256 opensAt = uint256(_terms.maturity) + _terms.settlementGrace;
        if (block.timestamp < opensAt) revert GraceNotOver(opensAt);
        try _terms.oracle.latestPrice(_terms.asset) returns (ConsortiumOracle.Price memory p) {
            if (p.observedAt >= _terms.maturity) revert OraclePriceAvailable(p.price);
        } catch {} // no price, or a stale one: the oracle has not reported
        status = Status.Settled;
        (uint256 longPayout, uint256 shortPayout) = (_margin[LONG], _margin[SHORT]);
        _payOut();
        emit SettledAtLastMark(lastMarkPrice);
        emit Settled(lastMarkPrice, longPayout, shortPayout);
    }

    /// @notice The holder of `side` takes its deferred payout to `to`.
    function withdrawPayout(uint8 side, address to) external nonReentrant {
        _requireHolder(side);
        uint256 amount = _owed[side];
        if (amount == 0) revert NothingOwed(side);
        if (to == address(0)) revert InvalidAmount();
        _owed[side] = 0;
        _terms.cashToken.safeTransfer(to, amount);
        emit PayoutWithdrawn(side, to, amount);
    }

    // -- selling a position (§3.7) ---------------------------------------------------------------

    /// @notice Offer the caller's side for `price` cash (replaces an earlier offer).
    function listPosition(uint8 side, uint256 price) external {
        _requireHolder(side);
        _requireStatus(Status.Active);
        if (price == 0) revert InvalidAmount();
        _askPrice[side] = price;
        emit PositionListed(side, msg.sender, price);
    }

    /// @notice Withdraw the caller's offer.
    function cancelListing(uint8 side) external {
        _requireHolder(side);
        if (_askPrice[side] == 0) revert PositionNotForSale(side);
        _askPrice[side] = 0;
        emit PositionListed(side, msg.sender, 0);
    }

    /// @notice Buy `side` at `price`, which must be its asking price, before `deadline`: the caller
    ///         pays the seller and `payout` becomes the side's holder, in one transaction. A seller who
    ///         re-lists between the buyer's read and this transaction makes it revert (`PriceChanged`).
    ///         Open margin calls pass to the buyer.
    function buyPosition(uint8 side, address payout, uint256 price, uint64 deadline) external nonReentrant {
        _side(side);
        _requireStatus(Status.Active);
        if (block.timestamp > deadline) revert OfferExpired(deadline);
        uint256 ask = _askPrice[side];
        if (ask == 0) revert PositionNotForSale(side);
        if (ask != price) revert PriceChanged(side, ask, price);
        if (payout == address(0)) revert InvalidAmount();
        address seller = _holder[side];
        _askPrice[side] = 0;
        _holder[side] = payout;
        _terms.cashToken.safeTransferFrom(msg.sender, seller, price);
        emit PositionSold(side, seller, msg.sender, payout, price);
    }

    // -- internals ---------------------------------------------------------------------------------

    /// @dev Move (price - lastMarkPrice) * size from the losing side's margin to the winner's, capped
    ///      by the loser's margin. `exhausted` is true when the loss reached the loser's whole margin.
    function _applyPrice(uint256 price) private returns (bool exhausted, uint8 payer) {
        uint256 last = lastMarkPrice;
        lastMarkPrice = price;
        if (price == last) return (false, LONG);
        uint256 loss;
        if (price > last) {
            payer = SHORT;
            loss = (price - last) * _terms.size;
        } else {
            payer = LONG;
            loss = (last - price) * _terms.size;
        }
        uint256 available = _margin[payer];
        if (loss >= available) {
            loss = available;
            exhausted = true;
        }
        _margin[payer] = available - loss;
        _margin[1 - payer] += loss;
    }

    function _checkMaintenance(uint8 side) private {
        if (_margin[side] < maintenanceMargin) {
            if (_marginCallDeadline[side] == 0) {
                uint64 deadline = uint64(block.timestamp) + _terms.marginCallWindow;
                _marginCallDeadline[side] = deadline;
                emit MarginCall(side, _holder[side], _margin[side], deadline);
            }
        } else if (_marginCallDeadline[side] != 0 && _margin[side] >= initialMargin) {
            _marginCallDeadline[side] = 0;
            emit MarginCallMet(side, _margin[side]);
        }
    }

    function _liquidate(uint8 defaulter) private {
        uint8 winner = 1 - defaulter;
        _margin[winner] += _margin[defaulter];
        _margin[defaulter] = 0;
        status = Status.Liquidated;
        uint256 payout = _margin[winner];
        _payOut();
        emit Liquidated(defaulter, _holder[winner], payout);
    }

    /// @dev Each side separately: a transfer the cash token refuses defers that side's payout only.
    function _payOut() private {
        for (uint8 side = 0; side < 2; ++side) {
            uint256 amount = _margin[side];
            if (amount == 0) continue;
            _margin[side] = 0;
            address to = _holder[side];
            if (!_tryTransfer(to, amount)) {
                _owed[side] += amount;
                emit PayoutDeferred(side, to, amount);
            }
        }
    }

    function _tryTransfer(address to, uint256 amount) private returns (bool) {
        (bool ok, bytes memory ret) = address(_terms.cashToken).call(abi.encodeCall(IERC20.transfer, (to, amount)));
        return ok && (ret.length == 0 ? address(_terms.cashToken).code.length > 0 : abi.decode(ret, (bool)));
    }

    function _requireStatus(Status expected) private view {
        if (status != expected) revert WrongStatus(expected, status);
    }

    function _requireHolder(uint8 side) private view {
        if (msg.sender != _holder[_side(side)]) revert NotPositionHolder(side, msg.sender);
    }

    function _side(uint8 side) private pure returns (uint8) {
        if (side > SHORT) revert InvalidSide(side);
        return side;
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IIdentityRegistry} from "./IIdentityRegistry.sol";
import {RestrictedToken} from "./RestrictedToken.sol";

/// @title Bond
/// @notice A fixed-coupon bond on Settle. One token is one bond of `faceValue` cash units. On each
///         coupon date every holder of record may pull `couponAmount` per bond; at maturity each holder
///         redeems its bonds for the face value.
/// @dev Payments are *pulled* from the issuer's payment account (thesis §4.5): the issuer keeps its
///      cash liquid in that account and approves this contract, instead of locking funds here. When a
///      due payment cannot be pulled (balance or allowance short) the call does not revert: it emits
///      `PaymentDefault`, records the missed payment (coupon, holder, time) and leaves the claim open,
///      so the missed payment is on-chain for everyone; a later funded claim pays it (`CouponPaid`
///      with `late = true`) and records the cure (`DefaultCured`). `defaulted()` is true while a
///      missed payment is uncured; a coupon paid on time is never `late`.
///      Holders of record: a coupon due at `d` goes to the balances at the end of second `d - 1`
///      (`balanceAt(holder, d - 1)`), which are final once a block at `d` exists. So a redemption or
///      transfer in the due second itself — many 200 ms blocks share it, and the last coupon may fall
///      due at maturity, the first second redemption is open — never takes a coupon away.
contract Bond is RestrictedToken, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice The terms fixed at issue.
    struct Terms {
        IERC20 cashToken;
        address paymentAccount;
        uint256 faceValue;
        uint256 couponAmount;
        uint64[] couponDates;
        uint64 maturity;
    }

    /// @notice Cash token coupons and principal are paid in.
    IERC20 public immutable cashToken;
    /// @notice Cash per bond repaid at maturity.
    uint256 public immutable faceValue;
    /// @notice Cash per bond paid on each coupon date.
    uint256 public immutable couponAmount;
    /// @notice Unix time from which bonds can be redeemed.
    uint64 public immutable maturity;
    /// @notice The issuer's account that funds coupons and principal (it approves this contract).
    address public paymentAccount;
    /// @notice Missed payments not yet cured.
    uint256 public openDefaults;

    uint64[] private _couponDates;
    mapping(uint256 couponIndex => mapping(address holder => bool)) private _couponPaid;
    mapping(uint256 couponIndex => mapping(address holder => MissedPayment)) private _missed;
    mapping(uint256 couponIndex => DefaultRecord) private _defaults;

    /// @notice When a payment to one holder was first missed, and when it was cured (0: not yet).
    struct MissedPayment {
        uint64 missedAt;
        uint64 curedAt;
    }

    /// @notice Per coupon (type(uint256).max: the principal): holders missed and cured, first miss, last cure.
    struct DefaultRecord {
        uint32 missed;
        uint32 cured;
        uint64 firstMissedAt;
        uint64 lastCuredAt;
    }

    /// @notice `holder` received `amount` for coupon `couponIndex`; `late` if a default preceded it.
    event CouponPaid(uint256 indexed couponIndex, address indexed holder, uint256 amount, bool late);
    /// @notice A payment of `amount` due to `holder` could not be pulled from the payment account.
    ///         `couponIndex` is the coupon, or type(uint256).max for the principal.
    event PaymentDefault(uint256 indexed couponIndex, address indexed holder, uint256 amount, uint256 dueDate);
    /// @notice The payment of `couponIndex` to `holder`, missed at `missedAt`, was made at `curedAt`.
    event DefaultCured(uint256 indexed couponIndex, address indexed holder, uint256 missedAt, uint256 curedAt);
    /// @notice `holder` redeemed `bonds` at maturity for `amount`.
    event PrincipalRedeemed(address indexed holder, uint256 bonds, uint256 amount);
    /// @notice The payment account changed.
    event PaymentAccountChanged(address indexed account);

    /// @notice Coupon dates must rise strictly and end at or before maturity.
    error InvalidSchedule();
    /// @notice No coupon with this index.
    error CouponNotFound(uint256 couponIndex);
    /// @notice Coupon `couponIndex` falls due at `dueDate`.
    error CouponNotDue(uint256 couponIndex, uint256 dueDate);
    /// @notice `holder` already received coupon `couponIndex`.
    error CouponAlreadyPaid(uint256 couponIndex, address holder);
    /// @notice `holder` held no bonds at the record date.
    error NothingToClaim(address holder);
    /// @notice Principal is repaid only from `maturity`.
    error NotMatured(uint256 maturity);
    /// @notice New bonds can be issued only before maturity.
    error AlreadyMatured(uint256 maturity);

    /// @param name_ ERC-20 name. @param symbol_ ERC-20 symbol.
    /// @param registry The investor allow-list.
    /// @param admin Receives every role.
    /// @param terms Cash token, payment account, face value, coupon per bond, coupon dates, maturity.
    constructor(string memory name_, string memory symbol_, IIdentityRegistry registry, address admin, Terms memory terms)
        RestrictedToken(name_, symbol_, 0, registry, admin)
    {
        uint64 previous = 0;
        for (uint256 i = 0; i < terms.couponDates.length; ++i) {
            if (terms.couponDates[i] <= previous) revert InvalidSchedule();
            previous = terms.couponDates[i];
        }
        if (terms.maturity < previous || terms.maturity <= block.timestamp) revert InvalidSchedule();
        cashToken = terms.cashToken;
        paymentAccount = terms.paymentAccount;
        faceValue = terms.faceValue;
        couponAmount = terms.couponAmount;
        _couponDates = terms.couponDates;
        maturity = terms.maturity;
    }

    /// @notice Every coupon date, in order.
    function couponDates() external view returns (uint64[] memory) {
        return _couponDates;
    }

    /// @notice Move coupon and principal payments to another issuer account.
    function setPaymentAccount(address account) external onlyRole(ISSUER_ROLE) {
        paymentAccount = account;
        emit PaymentAccountChanged(account);
    }

    /// @notice True while some missed payment is not yet cured.
    function defaulted() external view returns (bool) {
        return openDefaults > 0;
    }

    /// @notice The missed payment of `couponIndex` (type(uint256).max: principal) to `holder`, if any.
    function missedPayment(uint256 couponIndex, address holder) external view returns (MissedPayment memory) {
        return _missed[couponIndex][holder];
    }

    /// @notice How many holders missed coupon `couponIndex` (max: principal), how many were cured, when.
    function defaultRecord(uint256 couponIndex) external view returns (DefaultRecord memory) {
        return _defaults[couponIndex];
    }

    /// @notice Cash owed to `holder` for coupon `couponIndex` (0 once paid, or before it is due).
    function couponOwed(uint256 couponIndex, address holder) public view returns (uint256) {
        uint64 dueDate = _couponDate(couponIndex);
        if (_couponPaid[couponIndex][holder] || dueDate > block.timestamp) return 0;
        return balanceAt(holder, dueDate - 1) * couponAmount;
    }

    /// @notice Pull the caller's coupon `couponIndex` from the payment account. Returns false, and
    ///         records a default, if the payment account cannot pay.
    function claimCoupon(uint256 couponIndex) external nonReentrant returns (bool paid) {
        uint64 dueDate = _couponDate(couponIndex);
        if (dueDate > block.timestamp) revert CouponNotDue(couponIndex, dueDate);
        if (_couponPaid[couponIndex][msg.sender]) revert CouponAlreadyPaid(couponIndex, msg.sender);
        uint256 amount = balanceAt(msg.sender, dueDate - 1) * couponAmount;
        if (amount == 0) revert NothingToClaim(msg.sender);
        if (!_canPull(amount)) {
            _default(couponIndex, amount, dueDate);
            return false;
        }
        _couponPaid[couponIndex][msg.sender] = true;
        bool late = _cure(couponIndex);
        cashToken.safeTransferFrom(paymentAccount, msg.sender, amount);
        emit CouponPaid(couponIndex, msg.sender, amount, late);
        return true;
    }

    /// @notice From maturity, redeem all the caller's bonds for their face value. Returns false, and
    ///         records a default, if the payment account cannot pay (the bonds stay with the holder).
    function redeemAtMaturity() external nonReentrant returns (bool paid) {
        if (block.timestamp < maturity) revert NotMatured(maturity);
        uint256 bonds = balanceOf(msg.sender);
        if (bonds == 0) revert NothingToClaim(msg.sender);
        uint256 amount = bonds * faceValue;
        if (!_canPull(amount)) {
            _default(type(uint256).max, amount, maturity);
            return false;
        }
        _cure(type(uint256).max);
        _burn(msg.sender, bonds);
        cashToken.safeTransferFrom(paymentAccount, msg.sender, amount);
        emit PrincipalRedeemed(msg.sender, bonds, amount);
        return true;
    }

    /// @dev Primary issuance closes at maturity.
    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) && block.timestamp >= maturity) revert AlreadyMatured(maturity);
        super._update(from, to, value);
    }

    function _canPull(uint256 amount) private view returns (bool) {
        return cashToken.balanceOf(paymentAccount) >= amount
            && cashToken.allowance(paymentAccount, address(this)) >= amount;
    }

    function _default(uint256 couponIndex, uint256 amount, uint256 dueDate) private {
        MissedPayment storage missed = _missed[couponIndex][msg.sender];
        if (missed.missedAt == 0) {
            missed.missedAt = uint64(block.timestamp);
            ++openDefaults;
            DefaultRecord storage record = _defaults[couponIndex];
            ++record.missed;
            if (record.firstMissedAt == 0) record.firstMissedAt = uint64(block.timestamp);
        }
        emit PaymentDefault(couponIndex, msg.sender, amount, dueDate);
    }

    /// @dev The caller is being paid `couponIndex`: if it had been missed, record the cure. Returns late.
    function _cure(uint256 couponIndex) private returns (bool late) {
        MissedPayment storage missed = _missed[couponIndex][msg.sender];
        if (missed.missedAt == 0 || missed.curedAt != 0) return false;
        missed.curedAt = uint64(block.timestamp);
        --openDefaults;
        DefaultRecord storage record = _defaults[couponIndex];
        ++record.cured;
        record.lastCuredAt = uint64(block.timestamp);
        emit DefaultCured(couponIndex, msg.sender, missed.missedAt, block.timestamp);
        return true;
    }

    function _couponDate(uint256 couponIndex) private view returns (uint64) {
        if (couponIndex >= _couponDates.length) revert CouponNotFound(couponIndex);
        return _couponDates[couponIndex];
    }
}

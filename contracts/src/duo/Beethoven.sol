// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ICustodian, ICustodianToken} from "./ICustodian.sol";

/// @title Beethoven
/// @notice The DUO custodian (DUO Technical Whitepaper v0.3.0, §2 and §3.4). It holds the native
///         coin as collateral and keeps the balances of Token A (fixed coupon per period) and
///         Token B (leveraged), rebalancing both at upward, downward and periodic resets.
/// @dev Fixed point: every price, NAV, coupon, limit, alpha and beta is a WAD (1e18 = 1.0), the
///      whitepaper contract's own "InWei" scale; fee rates and price tolerances are basis points
///      (1e4 = 100%). Token amounts have 18 decimals like the native coin. Divisions round down,
///      so rounding always leaves the contract over- rather than under-collateralised.
contract Beethoven is ICustodian {
    using SafeERC20 for IERC20;

    // ---------------------------------------------------------------- types and constants
    /// @notice §2.2.1. Numbering is the whitepaper's order.
    enum State {
        Inception,
        Trading,
        PreReset,
        UpwardReset,
        DownwardReset,
        PeriodicReset
    }

    /// @notice Admin roles of §2.6, in the order of `getSystemAddresses` (after the two tokens).
    uint256 public constant ROLE_OPERATOR = 0;
    uint256 public constant ROLE_FEE_COLLECTOR = 1;
    uint256 public constant ROLE_PRICE_FEED_1 = 2;
    uint256 public constant ROLE_PRICE_FEED_2 = 3;
    uint256 public constant ROLE_PRICE_FEED_3 = 4;
    uint256 public constant ROLE_POOL_MANAGER = 5;

    /// @notice Indices of the parameters the operator may change with `setValue`.
    uint256 public constant VALUE_CREATE_COMM_BP = 0;
    uint256 public constant VALUE_REDEEM_COMM_BP = 1;
    uint256 public constant VALUE_ETH_DUO_FEE_RATIO = 2;
    uint256 public constant VALUE_PRE_RESET_WAITING_BLOCKS = 3;
    uint256 public constant VALUE_PRICE_COOL_DOWN = 4;
    uint256 public constant VALUE_PRICE_FEED_TIME_TOL = 5;
    uint256 public constant VALUE_PRICE_TOL_BP = 6;
    uint256 public constant VALUE_PRICE_FEED_TOL_BP = 7;
    uint256 public constant VALUE_ITERATION_GAS_THRESHOLD = 8;
    uint256 public constant VALUE_LIMIT_PERIODIC = 9;
    uint256 public constant VALUE_LIMIT_UPPER = 10;
    uint256 public constant VALUE_LIMIT_LOWER = 11;
    uint256 internal constant VALUE_COUNT = 12;

    uint256 internal constant WAD = 1e18;
    uint256 internal constant BP = 1e4;
    /// @notice §2.5: an address with both balances below 0.01 is not processed at resets.
    uint256 public constant MIN_BALANCE = 1e16;
    uint256 internal constant MIN_POOL_SIZE = 3;
    uint8 internal constant ADDRESS_IN_POOL = 1;
    uint8 internal constant ADDRESS_USED = 2;

    /// @notice Constructor parameters. Limits, coupon and period are parameters of the product.
    struct Config {
        address duoToken;
        address tokenA;
        address tokenB;
        uint256 alpha; // A:B ratio (WAD)
        uint256 periodCoupon; // NAV_A accrual per period (WAD)
        uint256 period; // seconds
        uint256 adminCoolDown; // seconds between admin operations (§2.6: one day)
        uint256[12] values; // initial values of the setValue parameters, by VALUE_* index
    }

    struct StagedPrice {
        uint256 price;
        uint256 time;
        address sender;
    }

    // ---------------------------------------------------------------- errors
    error WrongState(State current);
    error NotPriceFeed(address caller);
    error NotRole(uint256 role, address caller);
    error NotToken(uint256 index, address caller);
    error NotInPool(address account);
    error AddressNotFresh(address account);
    error DuplicateAddress(address account);
    error ZeroAddress();
    error PoolTooSmall(uint256 size, uint256 needed);
    error InvalidRole(uint256 role);
    error InvalidValueIndex(uint256 index);
    error ValueOutOfRange(uint256 index, uint256 value);
    error InvalidConfig();
    error AdminCoolDown(uint256 readyAt);
    error PriceCoolDown(uint256 readyAt);
    error SenderAlreadyCommitted(address sender);
    error InvalidPrice();
    error ZeroAmount();
    error InsufficientBalance(uint256 index, uint256 balance, uint256 needed);
    error InsufficientAllowance(uint256 index, uint256 allowance, uint256 needed);
    error InsufficientFee(uint256 balance, uint256 needed);
    error InsufficientCollateral(uint256 available, uint256 needed);
    error EthTransferFailed();
    error InvalidTime(uint256 time, uint256 resetTime);

    // ---------------------------------------------------------------- events (§3.4.5–3.4.7)
    event StartTrading(uint256 navA, uint256 navB);
    event StartPreReset();
    event StartReset(uint256 nextIndex, uint256 total);
    event CommitPrice(uint256 price, uint256 time, address sender, uint256 index);
    event AcceptPrice(uint256 price, uint256 time, uint256 navA, uint256 navB);
    event Create(address indexed sender, uint256 ethAmount, uint256 tokenA, uint256 tokenB, uint256 ethFee, uint256 duoFee);
    event Redeem(address indexed sender, uint256 ethAmount, uint256 tokenA, uint256 tokenB, uint256 ethFee, uint256 duoFee);
    event TotalSupply(uint256 totalSupplyA, uint256 totalSupplyB);
    event AddAddress(address added1, address added2, address newPoolManager);
    event UpdateAddress(address indexed assignor, address indexed newAddress, uint256 role, address previous);
    event RemoveAddress(address removed, address newPoolManager);
    event SetValue(uint256 index, uint256 oldValue, uint256 newValue);
    event CollectFee(address collector, uint256 amount, uint256 feeBalance);
    event Transfer(address indexed from, address indexed to, uint256 value, uint256 index);
    event Approval(address indexed owner, address indexed spender, uint256 value, uint256 index);

    // ---------------------------------------------------------------- storage
    IERC20 public immutable duoToken;
    address public immutable tokenA;
    address public immutable tokenB;
    uint256 public immutable alpha;
    uint256 public immutable periodCoupon;
    uint256 public immutable period;
    uint256 public immutable adminCoolDown;

    State public state;
    uint256 public beta = WAD;
    uint256 public navA = WAD;
    uint256 public navB = WAD;
    uint256[2] public totalSupplies;
    uint256 public feeBalance;
    uint256[12] public values;

    uint256 public lastPrice;
    uint256 public lastPriceTime;
    uint256 public resetPrice;
    uint256 public resetPriceTime;
    uint256 public numStaged;
    StagedPrice[2] internal staged;

    uint256 public lastPreResetBlock;
    uint256 public nextResetIndex;
    /// @notice Reset map for one holder: A' = (A*cAA + B*cBA)/WAD, B' = (A*cAB + B*cBB)/WAD.
    uint256 internal cAA;
    uint256 internal cBA;
    uint256 internal cAB;
    uint256 internal cBB;
    /// @notice Beta once the running reset is done: 1, except at a periodic reset with NAV_B < 1.
    uint256 internal nextBeta;

    mapping(address => uint256)[2] internal balances;
    mapping(address => mapping(address => uint256))[2] internal allowances;
    address[] public users;
    mapping(address => uint256) internal userSlot; // index + 1

    address[6] internal roles;
    address[] internal pool;
    mapping(address => uint8) public addressStatus;
    uint256 public lastAdminTime;

    // ---------------------------------------------------------------- modifiers
    modifier inState(State required) {
        if (state != required) revert WrongState(state);
        _;
    }

    modifier onlyRole(uint256 role) {
        if (msg.sender != roles[role]) revert NotRole(role, msg.sender);
        _;
    }

    modifier onlyPriceFeed() {
        if (msg.sender != roles[ROLE_PRICE_FEED_1] && msg.sender != roles[ROLE_PRICE_FEED_2]
            && msg.sender != roles[ROLE_PRICE_FEED_3]) revert NotPriceFeed(msg.sender);
        _;
    }

    modifier onlyToken(uint256 index) {
        if (index > 1 || msg.sender != (index == 0 ? tokenA : tokenB)) revert NotToken(index, msg.sender);
        _;
    }

    /// @notice §2.6 / §3.4.4: admin operations only in the update window, i.e. once the one-day
    ///         admin cool-down since the last admin operation has passed, and never mid-reset.
    modifier adminWindow() {
        if (state != State.Trading && state != State.Inception) revert WrongState(state);
        uint256 readyAt = lastAdminTime + adminCoolDown;
        if (block.timestamp < readyAt) revert AdminCoolDown(readyAt);
        _;
        lastAdminTime = block.timestamp;
    }

    /// @param config Token addresses, product parameters and initial `setValue` parameters.
    /// @param roleAddresses Initial opt, fc, pf1, pf2, pf3, pm (ROLE_* order); all marked used.
    /// @param poolAddresses The initial candidate pool (§2.6: six candidates; at least three).
    constructor(Config memory config, address[6] memory roleAddresses, address[] memory poolAddresses) {
        if (config.alpha == 0 || config.period == 0 || config.duoToken == address(0)
            || config.tokenA == address(0) || config.tokenB == address(0)) revert InvalidConfig();
        if (poolAddresses.length < MIN_POOL_SIZE) revert PoolTooSmall(poolAddresses.length, MIN_POOL_SIZE);
        duoToken = IERC20(config.duoToken);
        tokenA = config.tokenA;
        tokenB = config.tokenB;
        alpha = config.alpha;
        periodCoupon = config.periodCoupon;
        period = config.period;
        adminCoolDown = config.adminCoolDown;
        for (uint256 i = 0; i < VALUE_COUNT; i++) {
            _checkValue(i, config.values[i]);
            values[i] = config.values[i];
        }
        if (!_limitsOrdered()) revert InvalidConfig();
        for (uint256 i = 0; i < 6; i++) {
            _claimFresh(roleAddresses[i], ADDRESS_USED);
            roles[i] = roleAddresses[i];
        }
        for (uint256 i = 0; i < poolAddresses.length; i++) {
            _claimFresh(poolAddresses[i], ADDRESS_IN_POOL);
            pool.push(poolAddresses[i]);
        }
    }

    // ---------------------------------------------------------------- price feed (§2.3.3, §3.4.1)
    /// @notice Start the contract with its first price and move to Trading.
    function startContract(uint256 price) external onlyPriceFeed inState(State.Inception) {
        if (price == 0) revert InvalidPrice();
        lastPrice = price;
        lastPriceTime = block.timestamp;
        resetPrice = price;
        resetPriceTime = block.timestamp;
        state = State.Trading;
        emit AcceptPrice(price, block.timestamp, WAD, WAD);
        emit StartTrading(WAD, WAD);
    }

    /// @notice One of the three price feeds commits a price; consensus per §2.3.3, rule by rule.
    /// @dev A price's arrival time is the block timestamp of its commit: the one time the contract
    ///      can trust. An accepted price is stamped with the time it is accepted.
    function commitPrice(uint256 price) external onlyPriceFeed inState(State.Trading) {
        if (price == 0) revert InvalidPrice();
        uint256 coolDown = values[VALUE_PRICE_COOL_DOWN];
        // "Price commits within cool down period from last commit are rejected."
        if (block.timestamp < lastPriceTime + coolDown) revert PriceCoolDown(lastPriceTime + coolDown);
        uint256 count = numStaged;
        if (count == 0) {
            // "The first price arrived is accepted immediately if the price is similar (5% difference)
            //  to the previous accepted price. Otherwise, smart contract will wait for the second price."
            if (_within(price, lastPrice, values[VALUE_PRICE_TOL_BP])) return _accept(price);
            return _stage(0, price);
        }
        StagedPrice memory first = staged[0];
        bool beyondCoolDown = block.timestamp > first.time + coolDown;
        bool lateForFirst = block.timestamp - first.time > values[VALUE_PRICE_FEED_TIME_TOL];
        if (count == 1) {
            if (beyondCoolDown) {
                // "When the second price arrives beyond the cool down period after first price, the second
                //  price is accepted immediately if second sender is same as first sender, or first price is
                //  accepted if second sender is not the same as first sender."
                return _accept(msg.sender == first.sender ? price : first.price);
            }
            // "All commits from the same sender as the first price are rejected if they are within cool
            //  down period from the first price."
            if (msg.sender == first.sender) revert SenderAlreadyCommitted(msg.sender);
            // "First price is accepted if the second price arrives too late."
            if (lateForFirst) return _accept(first.price);
            // "If the difference is within tolerance, the first price is accepted. If not, contract will
            //  wait for the third price."
            if (_within(price, first.price, values[VALUE_PRICE_FEED_TOL_BP])) return _accept(first.price);
            return _stage(1, price);
        }
        address secondSender = staged[1].sender;
        bool knownSender = msg.sender == first.sender || msg.sender == secondSender;
        if (beyondCoolDown) {
            // "When the third price arrives beyond the cool down period from the first price ... If the
            //  price sender is different from previous senders, the second price is accepted. If the price
            //  sender is same as any of the first two senders, the third price is accepted."
            return _accept(knownSender ? price : staged[1].price);
        }
        // "All commits from the first or second sender are rejected if they are within cool down period
        //  from the first price."
        if (knownSender) revert SenderAlreadyCommitted(msg.sender);
        // "If the difference is too big, the first price will be accepted. If the difference is within
        //  tolerance, the median of the three prices are accepted."
        if (lateForFirst) return _accept(first.price);
        _accept(_median(first.price, staged[1].price, price));
    }

    function _stage(uint256 slot, uint256 price) internal {
        staged[slot] = StagedPrice(price, block.timestamp, msg.sender);
        numStaged = slot + 1;
        emit CommitPrice(price, block.timestamp, msg.sender, slot);
    }

    /// @notice Accept a price, update the NAVs and move to PreReset if a limit is reached (§2.2.2).
    function _accept(uint256 price) internal {
        numStaged = 0;
        lastPrice = price;
        lastPriceTime = block.timestamp;
        (uint256 a, uint256 b) = calculateNav(price, block.timestamp, resetPrice, resetPriceTime, beta);
        navA = a;
        navB = b;
        emit AcceptPrice(price, block.timestamp, a, b);
        if (b >= values[VALUE_LIMIT_UPPER] || b <= values[VALUE_LIMIT_LOWER] || a >= values[VALUE_LIMIT_PERIODIC]) {
            state = State.PreReset;
            lastPreResetBlock = block.number;
            emit StartPreReset();
        }
    }

    function _within(uint256 price, uint256 anchor, uint256 toleranceBP) internal pure returns (bool) {
        uint256 diff = price > anchor ? price - anchor : anchor - price;
        return diff * BP <= anchor * toleranceBP;
    }

    function _median(uint256 x, uint256 y, uint256 z) internal pure returns (uint256) {
        if ((x <= y && y <= z) || (z <= y && y <= x)) return y;
        if ((y <= x && x <= z) || (z <= x && x <= y)) return x;
        return z;
    }

    // ---------------------------------------------------------------- NAV
    /// @notice NAV_A = 1 + coupon * n; NAV_B = (1+alpha) * beta * P / P0 - alpha * NAV_A, with n the
    ///         whole periods between the reset time and `time`. If the collateral cannot cover A's
    ///         NAV, B is worth 0 and A gets all of it.
    function calculateNav(uint256 price, uint256 time, uint256 resetPrice_, uint256 resetTime, uint256 beta_)
        public
        view
        returns (uint256, uint256)
    {
        if (time < resetTime) revert InvalidTime(time, resetTime);
        if (resetPrice_ == 0) revert InvalidPrice();
        uint256 periods = (time - resetTime) / period;
        uint256 parent = (WAD + alpha) * beta_ * price / (resetPrice_ * WAD);
        uint256 a = WAD + periodCoupon * periods;
        uint256 aPart = a * alpha / WAD;
        if (parent <= aPart) return (parent * WAD / alpha, 0);
        return (a, parent - aPart);
    }

    // ---------------------------------------------------------------- create / redeem (§3.4.2)
    /// @notice Create Token A and B from the native coin sent, at the last reset price.
    /// @param payFeeInEth true: the fee is taken from the coin sent; false: the fee is paid in DUO at
    ///        the ETH:DUO fee ratio (approve Beethoven on the DUO token first).
    function create(bool payFeeInEth) external payable inState(State.Trading) {
        (uint256 ethNet, uint256 ethFee, uint256 duoFee) =
            _fee(msg.value, values[VALUE_CREATE_COMM_BP], payFeeInEth);
        uint256 amountB = ethNet * resetPrice * WAD / ((WAD + alpha) * beta);
        uint256 amountA = amountB * alpha / WAD;
        if (amountB == 0 || amountA == 0) revert ZeroAmount();
        _mintOrBurn(msg.sender, amountA, amountB, true);
        emit Create(msg.sender, ethNet, amountA, amountB, ethFee, duoFee);
    }

    /// @notice Redeem the largest A:B pair (in the alpha ratio) within the given amounts.
    function redeem(uint256 amountA, uint256 amountB, bool payFeeInEth) external inState(State.Trading) {
        uint256 pairB = amountA * WAD / alpha;
        if (amountB < pairB) pairB = amountB;
        uint256 pairA = pairB * alpha / WAD;
        if (pairA == 0 || pairB == 0) revert ZeroAmount();
        uint256 ethGross = (pairA + pairB) * beta / resetPrice;
        (uint256 ethNet, uint256 ethFee, uint256 duoFee) =
            _fee(ethGross, values[VALUE_REDEEM_COMM_BP], payFeeInEth);
        uint256 available = address(this).balance - feeBalance;
        if (ethNet > available) revert InsufficientCollateral(available, ethNet);
        _mintOrBurn(msg.sender, pairA, pairB, false);
        emit Redeem(msg.sender, ethNet, pairA, pairB, ethFee, duoFee);
        (bool ok,) = payable(msg.sender).call{value: ethNet}("");
        if (!ok) revert EthTransferFailed();
    }

    /// @dev The ETH fee stays in the contract as `feeBalance` (collectable); a DUO fee is pulled
    ///      into the contract and can never leave it (burnt, §3.4.4).
    function _fee(uint256 ethAmount, uint256 commBP, bool payFeeInEth)
        internal
        returns (uint256 ethNet, uint256 ethFee, uint256 duoFee)
    {
        uint256 fee = ethAmount * commBP / BP;
        if (payFeeInEth) {
            feeBalance += fee;
            return (ethAmount - fee, fee, 0);
        }
        duoFee = fee * values[VALUE_ETH_DUO_FEE_RATIO];
        if (duoFee > 0) duoToken.safeTransferFrom(msg.sender, address(this), duoFee);
        return (ethAmount, 0, duoFee);
    }

    function _mintOrBurn(address account, uint256 amountA, uint256 amountB, bool mint) internal {
        if (mint) {
            balances[0][account] += amountA;
            balances[1][account] += amountB;
            totalSupplies[0] += amountA;
            totalSupplies[1] += amountB;
        } else {
            uint256 balA = balances[0][account];
            uint256 balB = balances[1][account];
            if (balA < amountA) revert InsufficientBalance(0, balA, amountA);
            if (balB < amountB) revert InsufficientBalance(1, balB, amountB);
            balances[0][account] = balA - amountA;
            balances[1][account] = balB - amountB;
            totalSupplies[0] -= amountA;
            totalSupplies[1] -= amountB;
        }
        _trackUser(account);
        (address from, address to) = mint ? (address(0), account) : (account, address(0));
        ICustodianToken(tokenA).emitTransfer(from, to, amountA);
        ICustodianToken(tokenB).emitTransfer(from, to, amountB);
        emit TotalSupply(totalSupplies[0], totalSupplies[1]);
    }

    // ---------------------------------------------------------------- user list (§2.5)
    /// @notice Keep `account` in the reset list iff at least one balance is at or above 0.01.
    function _trackUser(address account) internal {
        bool qualifies = balances[0][account] >= MIN_BALANCE || balances[1][account] >= MIN_BALANCE;
        uint256 slot = userSlot[account];
        if (qualifies && slot == 0) {
            users.push(account);
            userSlot[account] = users.length;
        } else if (!qualifies && slot != 0) {
            address last = users[users.length - 1];
            users[slot - 1] = last;
            userSlot[last] = slot;
            users.pop();
            userSlot[account] = 0;
        }
    }

    // ---------------------------------------------------------------- resets (§2.4, §3.4.2)
    /// @notice Wait `preResetWaitingBlocks` blocks after entering PreReset, then enter the reset state
    ///         the NAVs call for and fix the payout map (§3.4.2: StartReset and TotalSupply, or
    ///         StartPreReset while still waiting). Every branch is defined for every reachable pair:
    ///         either NAV_B = 0 (B wiped out, NAV_A anything) or NAV_A = 1 + coupon*n >= 1.
    /// @dev Each holder's value A*NAV_A + B*NAV_B is kept (rounded down) at the NAVs after the reset.
    function startPreReset() external inState(State.PreReset) {
        if (block.number - lastPreResetBlock < values[VALUE_PRE_RESET_WAITING_BLOCKS]) {
            emit StartPreReset();
            return;
        }
        uint256 a = navA;
        uint256 b = navB;
        uint256 units = WAD + alpha;
        nextBeta = WAD;
        if (b <= values[VALUE_LIMIT_LOWER]) {
            // Downward (§2.4: new A and B "in 1:1 ratio, same as standard creation"): every token keeps
            // NAV_B of itself, so B is back at NAV 1; A's excess NAV_A - NAV_B is paid as new A and B in
            // the alpha ratio. a >= b: either b = 0, or a >= 1 > lower >= b.
            state = State.DownwardReset;
            uint256 newBPerA = (a - b) * WAD / units;
            (cAA, cAB, cBA, cBB) = (b + newBPerA * alpha / WAD, newBPerA, 0, b);
        } else if (b >= values[VALUE_LIMIT_UPPER] && b >= a) {
            // Upward (§2.4): A holders are paid all in A; B holders take B for A's excess and the rest of
            // their excess as new A and B in the alpha ratio. That is payable only while B's new A covers
            // A's new B, i.e. NAV_B >= NAV_A (§2.4's note); otherwise it is a periodic reset, below.
            state = State.UpwardReset;
            uint256 rest = (b - a) * WAD / units;
            (cAA, cAB, cBA, cBB) = (a, 0, rest * alpha / WAD, a + rest);
        } else {
            // Periodic: NAV_A >= periodic limit, or NAV_A > NAV_B >= upper limit (>= periodic limit).
            // b > lower >= 0, so a = 1 + coupon*n >= 1. Every token is kept and its excess over NAV 1 is
            // paid as new A and B in the alpha ratio, as a fee-free creation (§2.4). With NAV_B < 1 B has
            // no excess and is not cut: it keeps its NAV, with beta = (alpha + NAV_B)/(1 + alpha) so that
            // a new pair costs what it is worth (alpha*1 + NAV_B), and A's coupon buys pairs at that.
            state = State.PeriodicReset;
            if (b >= WAD) {
                uint256 newBPerA = (a - WAD) * WAD / units;
                uint256 newBPerB = (b - WAD) * WAD / units;
                (cAA, cAB, cBA, cBB) =
                    (WAD + newBPerA * alpha / WAD, newBPerA, newBPerB * alpha / WAD, WAD + newBPerB);
            } else {
                uint256 newBPerA = (a - WAD) * WAD / (alpha + b);
                (cAA, cAB, cBA, cBB) = (WAD + newBPerA * alpha / WAD, newBPerA, 0, WAD);
                nextBeta = (alpha + b) * WAD / units;
            }
        }
        nextResetIndex = 0;
        // Supplies change holder by holder in startReset, each batch emitting the running TotalSupply;
        // this one is the supply the reset starts from.
        emit TotalSupply(totalSupplies[0], totalSupplies[1]);
        emit StartReset(0, users.length);
    }

    /// @notice Apply the payout map to as many listed holders as the gas allows; StartReset while
    ///         holders remain, then StartTrading with NAV_A back at 1 and NAV_B at 1 (or kept, at a
    ///         periodic reset with NAV_B < 1).
    function startReset() external {
        State current = state;
        if (current != State.UpwardReset && current != State.DownwardReset && current != State.PeriodicReset) {
            revert WrongState(current);
        }
        uint256 index = nextResetIndex;
        uint256 total = users.length;
        uint256 threshold = values[VALUE_ITERATION_GAS_THRESHOLD];
        (uint256 kAA, uint256 kAB, uint256 kBA, uint256 kBB) = (cAA, cAB, cBA, cBB);
        uint256 supplyA = totalSupplies[0];
        uint256 supplyB = totalSupplies[1];
        while (index < total && gasleft() > threshold) {
            address holder = users[index];
            uint256 oldA = balances[0][holder];
            uint256 oldB = balances[1][holder];
            uint256 newA = (oldA * kAA + oldB * kBA) / WAD;
            uint256 newB = (oldA * kAB + oldB * kBB) / WAD;
            balances[0][holder] = newA;
            balances[1][holder] = newB;
            supplyA = supplyA + newA - oldA;
            supplyB = supplyB + newB - oldB;
            index++;
        }
        totalSupplies[0] = supplyA;
        totalSupplies[1] = supplyB;
        emit TotalSupply(supplyA, supplyB);
        if (index < total) {
            nextResetIndex = index;
            emit StartReset(index, total);
            return;
        }
        nextResetIndex = 0;
        resetPrice = lastPrice;
        resetPriceTime = lastPriceTime;
        uint256 newBeta = nextBeta;
        beta = newBeta;
        (uint256 a, uint256 b) = calculateNav(lastPrice, lastPriceTime, lastPrice, lastPriceTime, newBeta);
        navA = a;
        navB = b;
        state = State.Trading;
        emit StartTrading(a, b);
    }

    // ---------------------------------------------------------------- Token A / B (§3.4.3)
    function totalSupplyOf(uint256 index) external view returns (uint256) {
        return totalSupplies[index];
    }

    function balanceOf(uint256 index, address account) external view returns (uint256) {
        return balances[index][account];
    }

    function allowance(uint256 index, address owner, address spender) external view returns (uint256) {
        return allowances[index][owner][spender];
    }

    function transfer(uint256 index, address from, address to, uint256 value)
        external
        onlyToken(index)
        inState(State.Trading)
        returns (bool)
    {
        _transfer(index, from, to, value);
        return true;
    }

    function transferFrom(uint256 index, address spender, address from, address to, uint256 value)
        external
        onlyToken(index)
        inState(State.Trading)
        returns (bool)
    {
        uint256 allowed = allowances[index][from][spender];
        if (allowed < value) revert InsufficientAllowance(index, allowed, value);
        if (allowed != type(uint256).max) allowances[index][from][spender] = allowed - value;
        _transfer(index, from, to, value);
        return true;
    }

    function approve(uint256 index, address owner, address spender, uint256 value)
        external
        onlyToken(index)
        returns (bool)
    {
        if (spender == address(0)) revert ZeroAddress();
        allowances[index][owner][spender] = value;
        emit Approval(owner, spender, value, index);
        return true;
    }

    function _transfer(uint256 index, address from, address to, uint256 value) internal {
        if (to == address(0)) revert ZeroAddress();
        uint256 balance = balances[index][from];
        if (balance < value) revert InsufficientBalance(index, balance, value);
        balances[index][from] = balance - value;
        balances[index][to] += value;
        _trackUser(from);
        _trackUser(to);
        emit Transfer(from, to, value, index);
    }

    // ---------------------------------------------------------------- administration (§2.6, §3.4.4)
    /// @notice Withdraw ETH fees. DUO fees are not collectable: they stay here forever.
    function collectFee(uint256 amount) external onlyRole(ROLE_FEE_COLLECTOR) inState(State.Trading) {
        if (amount == 0) revert ZeroAmount();
        if (amount > feeBalance) revert InsufficientFee(feeBalance, amount);
        feeBalance -= amount;
        emit CollectFee(msg.sender, amount, feeBalance);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert EthTransferFailed();
    }

    /// @notice §3.4.4. Every check the constructor makes applies here too: a value in its range, and
    ///         the upper limit never below the periodic limit.
    function setValue(uint256 index, uint256 newValue) external onlyRole(ROLE_OPERATOR) adminWindow {
        _checkValue(index, newValue);
        uint256 oldValue = values[index];
        values[index] = newValue;
        if (!_limitsOrdered()) revert ValueOutOfRange(index, newValue);
        emit SetValue(index, oldValue, newValue);
    }

    /// @notice Pool manager adds two fresh addresses; it is first replaced by a random pool member.
    function addAddress(address added1, address added2) external onlyRole(ROLE_POOL_MANAGER) adminWindow {
        if (added1 == added2) revert DuplicateAddress(added1);
        address newManager = _takeRandomFromPool();
        roles[ROLE_POOL_MANAGER] = newManager;
        _claimFresh(added1, ADDRESS_IN_POOL);
        _claimFresh(added2, ADDRESS_IN_POOL);
        pool.push(added1);
        pool.push(added2);
        emit AddAddress(added1, added2, newManager);
    }

    /// @notice Pool manager removes one pool address. §2.6: "the pool manager is replaced randomly
    ///         before candidate removal": the draw is over the pool as it stands, candidate included,
    ///         so the removal cannot shape it. A drawn candidate becomes the manager, which already
    ///         takes it out of the pool.
    function removeAddress(address removed) external onlyRole(ROLE_POOL_MANAGER) adminWindow {
        if (addressStatus[removed] != ADDRESS_IN_POOL) revert NotInPool(removed);
        _requirePoolAfter(2);
        address newManager = _takeRandomFromPool();
        roles[ROLE_POOL_MANAGER] = newManager;
        if (newManager != removed) _removeFromPool(removed);
        emit RemoveAddress(removed, newManager);
    }

    /// @notice A pool member assigns a random other pool member to `role`; both leave the pool.
    function updateAddress(uint256 role) external adminWindow {
        if (role > ROLE_POOL_MANAGER) revert InvalidRole(role);
        if (addressStatus[msg.sender] != ADDRESS_IN_POOL) revert NotInPool(msg.sender);
        _requirePoolAfter(2);
        _removeFromPool(msg.sender);
        address newAddress = _takeRandomFromPool();
        address previous = roles[role];
        roles[role] = newAddress;
        emit UpdateAddress(msg.sender, newAddress, role, previous);
    }

    /// @notice §2.7.3: the previous block hash as a number; with more than 255 users, the address
    ///         of the user at (hash mod user count) as a number.
    function _random() internal view returns (uint256) {
        uint256 seed = uint256(blockhash(block.number - 1));
        uint256 count = users.length;
        if (count <= 255) return seed;
        return uint256(uint160(users[seed % count]));
    }

    function _takeRandomFromPool() internal returns (address taken) {
        taken = pool[_random() % pool.length];
        _removeFromPool(taken);
    }

    function _removeFromPool(address account) internal {
        uint256 last = pool.length - 1;
        for (uint256 i = 0; i <= last; i++) {
            if (pool[i] == account) {
                pool[i] = pool[last];
                pool.pop();
                addressStatus[account] = ADDRESS_USED;
                return;
            }
        }
    }

    function _requirePoolAfter(uint256 leaving) internal view {
        if (pool.length < MIN_POOL_SIZE + leaving) revert PoolTooSmall(pool.length, MIN_POOL_SIZE + leaving);
    }

    function _claimFresh(address account, uint8 status) internal {
        if (account == address(0)) revert ZeroAddress();
        if (addressStatus[account] != 0) revert AddressNotFresh(account);
        addressStatus[account] = status;
    }

    /// @notice The upper limit is at or above the periodic limit (both are above 1).
    function _limitsOrdered() internal view returns (bool) {
        return values[VALUE_LIMIT_UPPER] >= values[VALUE_LIMIT_PERIODIC];
    }

    function _checkValue(uint256 index, uint256 value) internal pure {
        if (index >= VALUE_COUNT) revert InvalidValueIndex(index);
        bool ok;
        if (index == VALUE_CREATE_COMM_BP || index == VALUE_REDEEM_COMM_BP) ok = value <= 500;
        else if (index == VALUE_PRICE_TOL_BP || index == VALUE_PRICE_FEED_TOL_BP) ok = value > 0 && value < BP;
        else if (index == VALUE_ITERATION_GAS_THRESHOLD) ok = value >= 30_000;
        else if (index == VALUE_LIMIT_PERIODIC || index == VALUE_LIMIT_UPPER) ok = value > WAD;
        else if (index == VALUE_LIMIT_LOWER) ok = value < WAD;
        else ok = value > 0;
        if (!ok) revert ValueOutOfRange(index, value);
    }

    // ---------------------------------------------------------------- views (§3.4.2)
    /// @notice Token A, Token B, then operator, fee collector, pf1, pf2, pf3, pool manager.
    function getSystemAddresses() external view returns (address[8] memory addrs) {
        addrs[0] = tokenA;
        addrs[1] = tokenB;
        for (uint256 i = 0; i < 6; i++) addrs[i + 2] = roles[i];
    }

    /// @notice The current pool of candidate admin addresses.
    function getPool() external view returns (address[] memory) {
        return pool;
    }

    function userCount() external view returns (uint256) {
        return users.length;
    }

    /// @notice State, NAVs, supplies, collateral and parameters; indices are listed in docs/duo.md.
    function getSystemStates() external view returns (uint256[32] memory s) {
        s[0] = uint256(state);
        s[1] = navA;
        s[2] = navB;
        s[3] = totalSupplies[0];
        s[4] = totalSupplies[1];
        s[5] = address(this).balance - feeBalance;
        s[6] = feeBalance;
        s[7] = duoToken.balanceOf(address(this));
        s[8] = alpha;
        s[9] = beta;
        s[10] = periodCoupon;
        s[11] = period;
        s[12] = users.length;
        s[13] = nextResetIndex;
        s[14] = lastPreResetBlock;
        s[15] = lastAdminTime;
        s[16] = adminCoolDown;
        s[17] = pool.length;
        s[18] = numStaged;
        s[19] = MIN_BALANCE;
        for (uint256 i = 0; i < VALUE_COUNT; i++) s[20 + i] = values[i];
    }

    /// @notice The two staged prices (value, time, sender), the last reset price and the last
    ///         accepted price.
    function getSystemPrices()
        external
        view
        returns (uint256[8] memory prices, address[2] memory senders)
    {
        prices = [
            staged[0].price, staged[0].time, staged[1].price, staged[1].time,
            resetPrice, resetPriceTime, lastPrice, lastPriceTime
        ];
        senders = [staged[0].sender, staged[1].sender];
    }
}

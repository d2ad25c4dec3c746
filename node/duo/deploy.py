"""Deploy the DUO contract set and name Beethoven's view indices.

Token A and Token B take Beethoven's address in their constructors and Beethoven takes theirs, so
the deployer predicts Beethoven's address from its own nonce (CREATE address = keccak(rlp(sender,
nonce))) and deploys DUO, Token A, Token B and Beethoven in that order with consecutive nonces.
"""
from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth_utils import keccak, to_canonical_address, to_checksum_address
from web3 import Web3
from web3.contract import Contract

from contracts.compiler import load_artifact

WAD = 10**18


class State(enum.IntEnum):
    """Beethoven's states, §2.2.1 (the Solidity enum's order)."""

    INCEPTION = 0
    TRADING = 1
    PRE_RESET = 2
    UPWARD_RESET = 3
    DOWNWARD_RESET = 4
    PERIODIC_RESET = 5


class Role(enum.IntEnum):
    """Admin roles, §2.6 (``getSystemAddresses`` lists them after Token A and Token B)."""

    OPERATOR = 0
    FEE_COLLECTOR = 1
    PRICE_FEED_1 = 2
    PRICE_FEED_2 = 3
    PRICE_FEED_3 = 4
    POOL_MANAGER = 5


class Value(enum.IntEnum):
    """Indices of the operator's ``setValue`` parameters."""

    CREATE_COMM_BP = 0
    REDEEM_COMM_BP = 1
    ETH_DUO_FEE_RATIO = 2
    PRE_RESET_WAITING_BLOCKS = 3
    PRICE_COOL_DOWN = 4
    PRICE_FEED_TIME_TOL = 5
    PRICE_TOL_BP = 6
    PRICE_FEED_TOL_BP = 7
    ITERATION_GAS_THRESHOLD = 8
    LIMIT_PERIODIC = 9
    LIMIT_UPPER = 10
    LIMIT_LOWER = 11


#: Positions in ``getSystemStates()``; positions 20..31 are the ``Value`` parameters in order.
SYSTEM_STATE_FIELDS = (
    "state", "nav_a", "nav_b", "total_supply_a", "total_supply_b", "collateral", "fee_balance",
    "duo_received", "alpha", "beta", "period_coupon", "period", "user_count", "next_reset_index",
    "last_pre_reset_block", "last_admin_time", "admin_cool_down", "pool_size", "staged_prices",
    "min_balance",
) + tuple(v.name.lower() for v in Value)


@dataclass(frozen=True, slots=True)
class DuoParams:
    """Beethoven's parameters; defaults are the whitepaper's (§4.3 screen, §2.3.3, §2.6)."""

    alpha: int = WAD
    """A:B ratio (WAD): 1."""
    period_coupon: int = 17 * 10**12
    """NAV_A accrual per period (WAD): 0.0017%."""
    period: int = 3600
    """Seconds per period: 60 minutes."""
    admin_cool_down: int = 86_400
    """Seconds between admin operations: one day."""
    create_comm_bp: int = 100
    """Creation fee: 1% of the coin sent."""
    redeem_comm_bp: int = 100
    """Redemption fee: 1% of the coin paid out."""
    eth_duo_fee_ratio: int = 800
    """DUO per ETH of fee when the fee is paid in DUO: 1:800."""
    pre_reset_waiting_blocks: int = 10
    """Blocks to wait in PreReset before a reset starts."""
    price_cool_down: int = 3000
    """Seconds after an accepted price during which commits are rejected (period - 10 min)."""
    price_feed_time_tol: int = 60
    """Seconds within which a later price still counts as arriving together with the first."""
    price_tol_bp: int = 500
    """First price accepted at once within 5% of the last accepted price."""
    price_feed_tol_bp: int = 100
    """Second price within 1% of the first confirms the first."""
    iteration_gas_threshold: int = 65_000
    """startReset stops a batch when less gas than this is left."""
    limit_periodic: int = 1_035 * 10**15
    """NAV_A upper limit: 1.035."""
    limit_upper: int = 2 * WAD
    """NAV_B upper limit: 2.0."""
    limit_lower: int = 25 * 10**16
    """NAV_B lower limit: 0.25."""

    def values(self) -> list[int]:
        """The ``setValue`` parameters in ``Value`` order."""
        return [getattr(self, value.name.lower()) for value in Value]


@dataclass(frozen=True)
class DuoDeployment:
    """Web3 handles of one deployed DUO set."""

    w3: Web3
    beethoven: Contract
    token_a: Contract
    token_b: Contract
    duo: Contract
    receipts: dict[str, Any] = field(default_factory=dict)

    def system_states(self) -> dict[str, int]:
        return dict(zip(SYSTEM_STATE_FIELDS, self.beethoven.functions.getSystemStates().call(), strict=True))

    def system_addresses(self) -> dict[str, str]:
        addrs = self.beethoven.functions.getSystemAddresses().call()
        names = ["token_a", "token_b"] + [r.name.lower() for r in Role]
        return dict(zip(names, addrs, strict=True))

    def state(self) -> State:
        return State(self.beethoven.functions.state().call())


def create_address(sender: str, nonce: int) -> str:
    """The address a CREATE from ``sender`` at ``nonce`` deploys to."""
    return to_checksum_address(keccak(rlp.encode([to_canonical_address(sender), nonce]))[12:])


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=to_checksum_address(address), abi=load_artifact(name).abi)


def deploy_duo(
    w3: Web3,
    deployer: str,
    roles: Sequence[str],
    pool: Sequence[str],
    params: DuoParams = DuoParams(),
    duo_supply: int = 10**9 * WAD,
    timeout: float = 60.0,
) -> DuoDeployment:
    """Deploy DUO, Token A, Token B and Beethoven from an unlocked ``deployer`` account.

    ``roles`` are the initial operator, fee collector, pf1, pf2, pf3 and pool manager; ``pool`` the
    initial candidate pool. The whole DUO supply goes to ``deployer``.
    """
    if len(roles) != len(Role):
        raise ValueError(f"need {len(Role)} role addresses (opt, fc, pf1, pf2, pf3, pm), got {len(roles)}")
    nonce = w3.eth.get_transaction_count(to_checksum_address(deployer), "pending")
    beethoven_address = create_address(deployer, nonce + 3)
    receipts: dict[str, Any] = {}

    def deploy(name: str, *args: Any) -> Contract:
        artifact = load_artifact(name)
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        tx_hash = factory.constructor(*args).transact({"from": deployer, "gas": 8_000_000})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.05)
        address = receipt["contractAddress"]
        if receipt["status"] != 1 or address is None:
            raise RuntimeError(f"deploying {name} reverted (transaction {tx_hash.hex()})")
        receipts[name if name not in receipts else name + "B"] = receipt
        return w3.eth.contract(address=address, abi=artifact.abi)

    duo = deploy("DuoToken", duo_supply)
    token_a = deploy("DuoClassToken", "DUO Token A", "DUOA", beethoven_address, 0)
    token_b = deploy("DuoClassToken", "DUO Token B", "DUOB", beethoven_address, 1)
    config = (
        duo.address, token_a.address, token_b.address, params.alpha, params.period_coupon,
        params.period, params.admin_cool_down, params.values(),
    )
    beethoven = deploy("Beethoven", config, [to_checksum_address(r) for r in roles],
                       [to_checksum_address(a) for a in pool])
    if beethoven.address != beethoven_address:
        raise RuntimeError(f"Beethoven landed at {beethoven.address}, expected {beethoven_address}: "
                           "another transaction from the deployer interleaved")
    return DuoDeployment(w3, beethoven, token_a, token_b, duo, receipts)

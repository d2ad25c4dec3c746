"""The exchange on a real dev node: orders matched by the native precompile, every fill settled DvP,
reservations released exactly; and a fair-mode commit-reveal batch auction with a non-revealer."""
from __future__ import annotations

from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak

from tests.contracts.suite import Market, deploy_market, events

pytestmark = pytest.mark.e2e

BUY, SELL = 0, 1
LIMIT, MARKET, IOC, FOK, POST_ONLY = range(5)
STP_CANCEL_MAKER = 2
MAX = 2**256 - 1
SHARES, CASH = 1_000, 1_000_000


class Ledger:
    """Expected balances: each member's deposits, plus or minus its fills (and what the exchange escrows)."""

    def __init__(self, market: Market, exchange: Any, members: list[str]) -> None:
        self.market, self.exchange, self.members = market, exchange, members
        self.shares = dict.fromkeys(members, SHARES)
        self.cash = dict.fromkeys(members, CASH)

    def trade(self, buyer: str, seller: str, price: int, qty: int) -> None:
        self.shares[buyer] += qty
        self.shares[seller] -= qty
        self.cash[buyer] -= price * qty
        self.cash[seller] += price * qty

    def check(self, escrow_shares: int, escrow_cash: int) -> None:
        """Free balances = deposits ± fills − what rests in the book; the exchange holds exactly that."""
        for member in self.members:
            free_shares = self.market.share.functions.balanceOf(member).call()
            free_cash = self.market.cash.functions.balanceOf(member).call()
            assert (free_shares, free_cash) == (self.shares[member] - self.reserved_shares(member),
                                                self.cash[member] - self.reserved_cash(member)), member
        held = (self.market.share.functions.balanceOf(self.exchange.address).call(),
                self.market.cash.functions.balanceOf(self.exchange.address).call())
        assert held == (escrow_shares, escrow_cash)
        assert sum(self.shares.values()) == SHARES * len(self.members)
        assert sum(self.cash.values()) == CASH * len(self.members)

    def reserved_shares(self, member: str) -> int:
        return sum(o[3] for o in self.resting() if o[0] == member and o[1] == SELL)

    def reserved_cash(self, member: str) -> int:
        return sum(o[2] * o[3] for o in self.resting() if o[0] == member and o[1] == BUY)

    def resting(self) -> list[tuple[str, int, int, int]]:
        out = []
        for order_id in range(1, 64):
            member, side, price, remaining, _ = self.exchange.functions.orders(order_id).call()
            if remaining:
                out.append((member, side, price, remaining))
        return out


def open_market(chain: Any, members: list[str], stp: int = 0, batch_blocks: int = 1) -> tuple[Market, Any]:
    market = deploy_market(chain)
    exchange = chain.deploy("Exchange", market.share.address, market.cash.address, stp, batch_blocks)
    market.verify(exchange.address, *members)
    market.allow_cash(exchange.address)
    for member in members:
        market.fund(member, CASH)
        chain.tx(market.cash.functions.approve(exchange.address, MAX), member)
        chain.tx(market.share.functions.approve(exchange.address, MAX), member)
    market.issue(dict.fromkeys(members, SHARES))
    return market, exchange


def place(chain: Any, exchange: Any, member: str, side: int, kind: int, price: int, qty: int,
          expiry: int = 0) -> Any:
    return chain.tx(exchange.functions.placeOrder(side, kind, price, qty, expiry), member)


def trades(exchange: Any, receipt: Any) -> list[tuple[str, str, int, int]]:
    return [(t["buyer"], t["seller"], t["price"], t["qty"]) for t in events(exchange, "Trade", receipt)]


def test_session_places_matches_cancels_and_settles(chain: Any) -> None:
    alice, bob, carol, dave = chain.accounts[1:5]
    market, exchange = open_market(chain, [alice, bob, carol, dave], stp=STP_CANCEL_MAKER)
    ledger = Ledger(market, exchange, [alice, bob, carol, dave])

    place(chain, exchange, alice, SELL, LIMIT, 100, 10)
    place(chain, exchange, bob, SELL, LIMIT, 101, 5)
    ledger.check(15, 0)
    assert exchange.functions.bestBidAsk().call() == [0, 0, 100, 10]

    # carol sweeps: 10 @ 100 from alice, 2 @ 101 from bob; her limit was 101, so she gets 10 back
    receipt = place(chain, exchange, carol, BUY, LIMIT, 101, 12)
    assert trades(exchange, receipt) == [(carol, alice, 100, 10), (carol, bob, 101, 2)]
    ledger.trade(carol, alice, 100, 10)
    ledger.trade(carol, bob, 101, 2)
    ledger.check(3, 0)

    # dave's IOC takes bob's last 3 and its remainder is released at once
    receipt = place(chain, exchange, dave, BUY, IOC, 102, 10)
    assert trades(exchange, receipt) == [(dave, bob, 101, 3)]
    assert [(c["released"], c["reason"]) for c in events(exchange, "OrderCancelled", receipt)] == [(7, 2)]
    ledger.trade(dave, bob, 101, 3)
    ledger.check(0, 0)

    # resting bids; a post-only sell that would take is refused and released
    place(chain, exchange, carol, BUY, LIMIT, 95, 4)
    receipt = place(chain, exchange, dave, BUY, LIMIT, 96, 6)
    (dave_order,) = [e["orderId"] for e in events(exchange, "OrderAccepted", receipt)]
    ledger.check(0, 95 * 4 + 96 * 6)
    receipt = place(chain, exchange, alice, SELL, POST_ONLY, 96, 1)
    assert [(c["released"], c["reason"]) for c in events(exchange, "OrderCancelled", receipt)] == [(1, 7)]
    ledger.check(0, 95 * 4 + 96 * 6)

    # dave reduces (keeps priority, gets cash back), then alice's FOK for more than the book is killed
    chain.tx(exchange.functions.amendOrder(dave_order, 96, 2), dave)
    ledger.check(0, 95 * 4 + 96 * 2)
    receipt = place(chain, exchange, alice, SELL, FOK, 95, 7)
    assert trades(exchange, receipt) == []
    receipt = place(chain, exchange, alice, SELL, FOK, 95, 5)
    assert trades(exchange, receipt) == [(dave, alice, 96, 2), (carol, alice, 95, 3)]
    ledger.trade(dave, alice, 96, 2)
    ledger.trade(carol, alice, 95, 3)
    ledger.check(0, 95 * 1)

    # self-trade prevention (cancel the resting order): carol's own bid is cancelled, not crossed
    receipt = place(chain, exchange, carol, SELL, LIMIT, 95, 1)
    assert trades(exchange, receipt) == []
    assert (1, 3) in [(c["released"], c["reason"]) for c in events(exchange, "OrderCancelled", receipt)]
    ledger.check(1, 0)

    # a cancel by someone else is refused; by the owner it releases everything left
    (carol_ask,) = [o for o in range(1, 64) if exchange.functions.orders(o).call()[3]]
    chain.reverts(exchange.functions.cancelOrder(carol_ask), dave, "NotOrderOwner")
    chain.tx(exchange.functions.cancelOrder(carol_ask), carol)
    ledger.check(0, 0)
    assert exchange.functions.bestBidAsk().call() == [0, 0, 0, 0]


def test_expired_orders_are_released_by_anyone(chain: Any) -> None:
    alice, bob = chain.accounts[5:7]
    market, exchange = open_market(chain, [alice, bob])
    ledger = Ledger(market, exchange, [alice, bob])
    expiry = chain.now() + 30
    receipt = place(chain, exchange, alice, BUY, LIMIT, 50, 4, expiry)
    (order_id,) = [e["orderId"] for e in events(exchange, "OrderAccepted", receipt)]
    chain.reverts(exchange.functions.expireOrders([order_id]), bob, "NotExpired")
    # a partial fill first: the expiry must release only what remains
    receipt = place(chain, exchange, bob, SELL, LIMIT, 50, 1)
    ledger.trade(alice, bob, 50, 1)
    ledger.check(0, 150)
    chain.advance(60)
    receipt = chain.tx(exchange.functions.expireOrders([order_id]), bob)
    assert [(c["released"], c["reason"]) for c in events(exchange, "OrderCancelled", receipt)] == [(3, 100)]
    ledger.check(0, 0)


def mine_to_batch(chain: Any, exchange: Any, batch: int) -> None:
    while exchange.functions.currentBatch().call() < batch:
        chain.mine()


def test_fair_mode_commit_reveal_batch_with_a_non_revealer(chain: Any) -> None:
    members = chain.accounts[1:6]
    alice, bob, carol, dave, erin = members
    market, exchange = open_market(chain, members, batch_blocks=12)
    ledger = Ledger(market, exchange, members)
    # start at a fresh batch so that all five commitments land in one
    batch = exchange.functions.currentBatch().call() + 1
    mine_to_batch(chain, exchange, batch)
    plan = {alice: (BUY, 102, 5), bob: (BUY, 100, 5), carol: (SELL, 99, 4), dave: (SELL, 101, 4),
            erin: (SELL, 90, 50)}  # erin will not reveal
    salts = {m: keccak(text=f"salt {m}") for m in members}
    hashes = {}
    for member, (side, price, qty) in plan.items():
        hashes[member] = exchange.functions.commitmentOf(member, side, price, qty, salts[member]).call()
        receipt = chain.tx(exchange.functions.commit(hashes[member]), member)
        assert events(exchange, "Committed", receipt)[0]["batch"] == batch
    # nothing of the orders is visible yet, and revealing early is refused
    assert exchange.functions.bestBidAsk().call() == [0, 0, 0, 0]
    chain.reverts(exchange.functions.reveal(hashes[alice], BUY, 102, 5, salts[alice]), alice, "WrongBatch")

    mine_to_batch(chain, exchange, batch + 1)
    chain.reverts(exchange.functions.reveal(hashes[alice], BUY, 103, 5, salts[alice]), alice, "CommitmentMismatch")
    for member in (alice, bob, carol, dave):
        side, price, qty = plan[member]
        chain.tx(exchange.functions.reveal(hashes[member], side, price, qty, salts[member]), member)
    chain.reverts(exchange.functions.settleBatch(batch), alice, "BatchNotOver")

    mine_to_batch(chain, exchange, batch + 2)
    chain.mine()  # settling starts the block after the cut-off block, whose hash is part of the seed
    receipt = chain.tx(exchange.functions.settleBatch(batch), bob)
    (settled,) = events(exchange, "BatchSettled", receipt)
    # anyone can recompute the seed from the reveals and the cut-off block
    salt_mix = 0
    for member in (alice, bob, carol, dave):
        salt_mix ^= int.from_bytes(salts[member], "big")
    cutoff = exchange.functions.startBlock().call() + (batch + 2) * 12
    anchor = bytes(chain.w3.eth.get_block(cutoff)["hash"])
    expected_seed = keccak(encode(["address", "uint64", "bytes32", "bytes32"],
                                  [exchange.address, batch, salt_mix.to_bytes(32, "big"), anchor]))
    assert bytes(settled["seed"]) == expected_seed
    # demand >=99: 10, >=100: 10, >=101: 5, >=102: 5; supply <=99: 4, <=100: 4, <=101: 8, <=102: 8
    # volume 4 at 99/100, 5 at 101/102; imbalance 3 at both 101 and 102 (excess supply) -> lowest: 101
    assert (settled["price"], settled["volume"], settled["orders"]) == (101, 5, 4)
    expired = events(exchange, "CommitmentExpired", receipt)
    assert [(e["member"], e["commitment"]) for e in expired] == [(erin, hashes[erin])]
    fills = trades(exchange, receipt)
    assert {f[2] for f in fills} == {101} and sum(f[3] for f in fills) == 5
    assert all(f[0] == alice for f in fills)  # the only bid at or above 101
    for buyer, seller, price, qty in fills:
        ledger.trade(buyer, seller, price, qty)
    ledger.check(0, 0)  # everything unfilled was released at the cut-off
    chain.reverts(exchange.functions.settleBatch(batch), bob, "BatchAlreadySettled")

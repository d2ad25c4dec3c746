"""Cross-chain DvP with hash- and time-locks (thesis §3.2.1) between two separate dev node processes.

Chain A is the cash ledger (Alice's cash), chain B the asset ledger (Bob's shares). Alice's lock has
the long time lock (48 h), Bob's the short one (24 h), so Bob can always refund before Alice.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import pytest
from web3.contract import Contract

from tests.contracts.chain import Chain
from tests.contracts.conftest import start_chain
from tests.contracts.suite import Market, deploy_market, events

pytestmark = pytest.mark.e2e

HOUR = 3600
ALICE_LOCK = 48 * HOUR
BOB_LOCK = 24 * HOUR
PRICE = 1_000
SHARES = 5
LOCKED, CLAIMED, REFUNDED = 1, 2, 3


@pytest.fixture(scope="module")
def chain_b(tmp_path_factory):
    """The asset ledger: a second, independent dev node process."""
    node, session = start_chain(tmp_path_factory, "asset-chain")
    yield session
    if node.alive():
        node.stop()


@dataclass
class Ledgers:
    cash_chain: Chain
    asset_chain: Chain
    cash_market: Market
    asset_market: Market
    htlc_a: Contract
    htlc_b: Contract
    alice: str
    bob: str

    def cash(self, who: str) -> int:
        return self.cash_market.cash.functions.balanceOf(who).call()

    def shares(self, who: str) -> int:
        return self.asset_market.share.functions.balanceOf(who).call()


@pytest.fixture
def ledgers(chain, chain_b):
    alice, bob = chain.accounts[1], chain.accounts[2]  # the same keys exist on both chains
    cash_market = deploy_market(chain)
    htlc_a = chain.deploy("HashedTimelock")
    cash_market.allow_cash(bob, htlc_a.address)
    cash_market.fund(alice, PRICE)

    asset_market = deploy_market(chain_b)
    htlc_b = chain_b.deploy("HashedTimelock")
    asset_market.verify(alice, bob, htlc_b.address)  # the escrow must be able to hold the share
    asset_market.issue({bob: SHARES})
    return Ledgers(chain, chain_b, cash_market, asset_market, htlc_a, htlc_b, alice, bob)


def alice_locks_cash(lg: Ledgers, hashlock: bytes) -> tuple[bytes, int]:
    """Transaction 1 (and 2: the refund path is the time lock): Alice escrows cash for Bob on chain A."""
    timelock = lg.cash_chain.now() + ALICE_LOCK
    lg.cash_chain.tx(lg.cash_market.cash.functions.approve(lg.htlc_a.address, PRICE), lg.alice)
    receipt = lg.cash_chain.tx(
        lg.htlc_a.functions.lock(lg.bob, lg.cash_market.cash.address, PRICE, hashlock, timelock), lg.alice)
    (locked,) = events(lg.htlc_a, "Locked", receipt)
    return locked["id"], timelock


def bob_locks_shares(lg: Ledgers, alice_lock: bytes) -> tuple[bytes, int]:
    """Transactions 3 and 4: Bob checks Alice's lock, then escrows his shares for Alice on chain B."""
    sender, recipient, token, amount, hashlock, alice_timelock, status = lg.htlc_a.functions.getLock(alice_lock).call()
    assert (sender, recipient, token, amount, status) == (lg.alice, lg.bob, lg.cash_market.cash.address, PRICE, LOCKED)
    timelock = lg.asset_chain.now() + BOB_LOCK
    assert alice_timelock - lg.cash_chain.now() > timelock - lg.asset_chain.now()  # Bob's refund comes first
    lg.asset_chain.tx(lg.asset_market.share.functions.approve(lg.htlc_b.address, SHARES), lg.bob)
    receipt = lg.asset_chain.tx(
        lg.htlc_b.functions.lock(lg.alice, lg.asset_market.share.address, SHARES, hashlock, timelock), lg.bob)
    (locked,) = events(lg.htlc_b, "Locked", receipt)
    return locked["id"], timelock


def test_happy_path(ledgers):
    lg = ledgers
    alpha = os.urandom(32)
    hashlock = hashlib.sha256(alpha).digest()
    lock_a, _ = alice_locks_cash(lg, hashlock)
    assert lg.cash(lg.alice) == 0 and lg.cash(lg.htlc_a.address) == PRICE
    lock_b, _ = bob_locks_shares(lg, lock_a)
    assert lg.shares(lg.bob) == 0 and lg.shares(lg.htlc_b.address) == SHARES

    # Wrong callers and wrong secrets are refused.
    lg.asset_chain.reverts(lg.htlc_b.functions.claim(lock_b, alpha), lg.bob, "NotRecipient")
    lg.asset_chain.reverts(lg.htlc_b.functions.claim(lock_b, os.urandom(32)), lg.alice, "WrongPreimage")
    lg.asset_chain.reverts(lg.htlc_b.functions.refund(lock_b), lg.bob, "TimelockNotExpired")
    lg.asset_chain.reverts(lg.htlc_b.functions.refund(lock_b), lg.alice, "NotSender")

    # Transaction 5: Alice takes the shares, revealing α on chain B.
    receipt = lg.asset_chain.tx(lg.htlc_b.functions.claim(lock_b, alpha), lg.alice)
    assert lg.shares(lg.alice) == SHARES

    # Bob reads α from chain B's log, not from Alice.
    (log,) = lg.htlc_b.events.Claimed().get_logs(from_block=receipt.blockNumber, argument_filters={"id": lock_b})
    revealed = log.args.preimage
    assert revealed == alpha and log.args.hashlock == hashlock

    # Transaction 6: Bob takes the cash with α on chain A.
    lg.cash_chain.tx(lg.htlc_a.functions.claim(lock_a, revealed), lg.bob)
    assert (lg.cash(lg.alice), lg.cash(lg.bob), lg.shares(lg.alice), lg.shares(lg.bob)) == (0, PRICE, SHARES, 0)
    assert lg.htlc_a.functions.getLock(lock_a).call()[-1] == CLAIMED
    lg.cash_chain.reverts(lg.htlc_a.functions.claim(lock_a, revealed), lg.bob, "LockNotActive")
    lg.asset_chain.reverts(lg.htlc_b.functions.refund(lock_b), lg.bob, "LockNotActive")


def test_alice_disappears_bob_refunds_first(ledgers):
    lg = ledgers
    alpha = os.urandom(32)
    lock_a, _ = alice_locks_cash(lg, hashlib.sha256(alpha).digest())
    lock_b, _ = bob_locks_shares(lg, lock_a)

    # Alice never claims. After 24 h Bob takes his shares back...
    lg.asset_chain.advance(BOB_LOCK + 1)
    lg.cash_chain.advance(BOB_LOCK + 1)
    lg.asset_chain.reverts(lg.htlc_b.functions.claim(lock_b, alpha), lg.alice, "TimelockExpired")
    receipt = lg.asset_chain.tx(lg.htlc_b.functions.refund(lock_b), lg.bob)
    assert events(lg.htlc_b, "Refunded", receipt) == [{"id": lock_b}]
    assert lg.shares(lg.bob) == SHARES and lg.shares(lg.alice) == 0
    # ... while Alice's cash is still locked for another day.
    lg.cash_chain.reverts(lg.htlc_a.functions.refund(lock_a), lg.alice, "TimelockNotExpired")

    lg.cash_chain.advance(ALICE_LOCK - BOB_LOCK)
    lg.cash_chain.tx(lg.htlc_a.functions.refund(lock_a), lg.alice)
    assert lg.cash(lg.alice) == PRICE and lg.cash(lg.bob) == 0
    assert lg.htlc_a.functions.getLock(lock_a).call()[-1] == REFUNDED


def test_bob_disappears_alice_refunds(ledgers):
    lg = ledgers
    alpha = os.urandom(32)
    lock_a, timelock = alice_locks_cash(lg, hashlib.sha256(alpha).digest())
    # Bob never locks his shares, so α is never revealed and he cannot claim.
    lg.cash_chain.reverts(lg.htlc_a.functions.claim(lock_a, os.urandom(32)), lg.bob, "WrongPreimage")
    lg.cash_chain.reverts(lg.htlc_a.functions.refund(lock_a), lg.alice, "TimelockNotExpired")
    lg.cash_chain.advance(ALICE_LOCK + 1)
    lg.cash_chain.reverts(lg.htlc_a.functions.claim(lock_a, alpha), lg.bob, "TimelockExpired")
    lg.cash_chain.reverts(lg.htlc_a.functions.refund(lock_a), lg.bob, "NotSender")
    lg.cash_chain.tx(lg.htlc_a.functions.refund(lock_a), lg.alice)
    assert lg.cash(lg.alice) == PRICE and lg.cash(lg.htlc_a.address) == 0
    assert lg.shares(lg.bob) == SHARES
    lg.cash_chain.reverts(lg.htlc_a.functions.refund(lock_a), lg.alice, "LockNotActive")


def test_lock_input_checks(chain):
    htlc = chain.deploy("HashedTimelock")
    cash = chain.deploy("CashToken", "K", "K", 2, chain.accounts[0])
    alice, bob = chain.accounts[0], chain.accounts[1]
    chain.reverts(htlc.functions.lock(bob, cash.address, 0, b"\1" * 32, chain.now() + 100), alice, "InvalidLock")
    chain.reverts(htlc.functions.lock(bob, cash.address, 5, b"\1" * 32, chain.now() - 1), alice, "TimelockNotInFuture")
    chain.call_reverts(htlc.functions.getLock(b"\2" * 32), "LockNotFound")
    chain.tx(cash.functions.setAllowed(htlc.address, True), alice)
    chain.tx(cash.functions.mint(alice, 10), alice)
    chain.tx(cash.functions.approve(htlc.address, 10), alice)
    terms = (bob, cash.address, 5, b"\1" * 32, chain.now() + 100)
    chain.tx(htlc.functions.lock(*terms), alice)
    chain.reverts(htlc.functions.lock(*terms), alice, "LockExists")

"""Same-chain DvP: atomic settle, failed legs, expiry and cancel, a 3-party netting batch."""
from __future__ import annotations

import pytest

from tests.contracts.chain import decode_error
from tests.contracts.suite import deploy_market, events

pytestmark = pytest.mark.e2e

SECURITY_LEG, CASH_LEG = 0, 1
PENDING, SETTLED, CANCELLED = 1, 2, 3


@pytest.fixture
def setup(chain):
    market = deploy_market(chain)
    alice, bob, carol = chain.accounts[1:4]
    market.verify(alice, bob, carol)
    market.allow_cash(alice, bob, carol)
    dvp = chain.deploy("DvPSettlement")
    return market, dvp


def approve(chain, token, owner, dvp, amount):
    chain.tx(token.functions.approve(dvp.address, amount), owner)


def instruct(chain, market, dvp, seller, buyer, shares, cash, expiry=None, affirm=True):
    """Seller creates, buyer affirms; returns the instruction id."""
    expiry = expiry or chain.now() + 3600
    call = dvp.functions.createInstruction(
        seller, buyer, market.share.address, shares, market.cash.address, cash, expiry
    )
    (created,) = events(dvp, "InstructionCreated", chain.tx(call, seller))
    if affirm:
        chain.tx(dvp.functions.affirm(created["id"]), buyer)
    return created["id"]


def holdings(market, *accounts):
    return [(market.share.functions.balanceOf(a).call(), market.cash.functions.balanceOf(a).call()) for a in accounts]


def test_atomic_settle(chain, setup):
    market, dvp = setup
    alice, bob, mallory = chain.accounts[1], chain.accounts[2], chain.accounts[7]
    market.issue({alice: 10})
    chain.tx(market.cash.functions.mint(bob, 1_000), market.issuer)

    chain.reverts(
        dvp.functions.createInstruction(
            alice, bob, market.share.address, 10, market.cash.address, 1_000, chain.now() + 3600
        ),
        mallory,
        "NotParty",
    )
    chain.reverts(
        dvp.functions.createInstruction(
            alice, alice, market.share.address, 10, market.cash.address, 1_000, chain.now() + 3600
        ),
        alice,
        "InvalidInstruction",
    )
    ins = instruct(chain, market, dvp, alice, bob, 10, 1_000, affirm=False)
    chain.reverts(dvp.functions.settle(ins), alice, "NotAffirmed")
    chain.reverts(dvp.functions.affirm(ins), mallory, "NotParty")
    chain.reverts(dvp.functions.affirm(ins), alice, "AlreadyAffirmed")
    chain.tx(dvp.functions.affirm(ins), bob)
    approve(chain, market.share, alice, dvp, 10)
    approve(chain, market.cash, bob, dvp, 1_000)

    receipt = chain.tx(dvp.functions.settle(ins), mallory)  # anyone may trigger an affirmed instruction
    assert events(dvp, "InstructionSettled", receipt) == [{"id": ins, "batchId": 0}]
    assert holdings(market, alice, bob) == [(0, 1_000), (10, 0)]
    assert dvp.functions.getInstruction(ins).call()[-1] == SETTLED
    assert chain.reverts(dvp.functions.settle(ins), alice, "NotPending") == (ins, SETTLED)
    chain.reverts(dvp.functions.cancel(ins), alice, "NotPending")
    chain.call_reverts(dvp.functions.getInstruction(ins + 1), "InstructionNotFound")


def test_failed_leg_leaves_both_sides_unchanged(chain, setup):
    market, dvp = setup
    alice, bob, dave = chain.accounts[1], chain.accounts[2], chain.accounts[4]
    market.issue({alice: 10})
    chain.tx(market.cash.functions.mint(bob, 500), market.issuer)  # short of the 1,000 price
    ins = instruct(chain, market, dvp, alice, bob, 10, 1_000)
    approve(chain, market.share, alice, dvp, 10)
    approve(chain, market.cash, bob, dvp, 1_000)

    # The security leg would succeed; the cash leg fails, so neither moves.
    leg, reason = chain.reverts(dvp.functions.settle(ins), alice, "LegFailed")[1:]
    assert leg == CASH_LEG
    assert decode_error(reason) == ("ERC20InsufficientBalance", (bob.lower(), 500, 1_000))
    assert holdings(market, alice, bob) == [(10, 0), (0, 500)]
    assert dvp.functions.getInstruction(ins).call()[-1] == PENDING

    # A security leg refused by compliance (unverified buyer) fails the same way.
    market.allow_cash(dave)
    chain.tx(market.cash.functions.mint(dave, 1_000), market.issuer)
    ins2 = instruct(chain, market, dvp, alice, dave, 10, 1_000)
    approve(chain, market.cash, dave, dvp, 1_000)
    leg, reason = chain.reverts(dvp.functions.settle(ins2), alice, "LegFailed")[1:]
    assert leg == SECURITY_LEG
    assert decode_error(reason) == ("TransferRestricted", (3,))
    assert holdings(market, alice, dave) == [(10, 0), (0, 1_000)]

    # Once the buyer is funded the same instruction settles.
    chain.tx(market.cash.functions.mint(bob, 500), market.issuer)
    chain.tx(dvp.functions.settle(ins), bob)
    assert holdings(market, alice, bob) == [(0, 1_000), (10, 0)]


def test_expiry_and_cancel(chain, setup):
    market, dvp = setup
    alice, bob, mallory = chain.accounts[1], chain.accounts[2], chain.accounts[7]
    market.issue({alice: 10})
    chain.tx(market.cash.functions.mint(bob, 1_000), market.issuer)
    approve(chain, market.share, alice, dvp, 10)
    approve(chain, market.cash, bob, dvp, 1_000)

    expiring = instruct(chain, market, dvp, alice, bob, 10, 1_000, expiry=chain.now() + 100)
    chain.advance(101)
    assert chain.reverts(dvp.functions.settle(expiring), alice, "InstructionExpired")[0] == expiring
    chain.reverts(dvp.functions.settleBatch([expiring]), alice, "InstructionExpired")

    cancelled = instruct(chain, market, dvp, alice, bob, 10, 1_000)
    chain.reverts(dvp.functions.cancel(cancelled), mallory, "NotParty")
    receipt = chain.tx(dvp.functions.cancel(cancelled), bob)
    assert events(dvp, "InstructionCancelled", receipt) == [{"id": cancelled, "party": bob}]
    assert chain.reverts(dvp.functions.settle(cancelled), alice, "NotPending") == (cancelled, CANCELLED)
    chain.reverts(dvp.functions.affirm(cancelled), alice, "NotPending")
    assert holdings(market, alice, bob) == [(10, 0), (0, 1_000)]


def test_three_party_netting_batch(chain, setup):
    """Alice sells 10 to Bob for 100, Bob sells 10 to Carol for 110, Carol sells 4 to Alice for 48.

    Gross, Bob needs 100 cash and Carol 4 shares that they do not have. Net, only three transfers
    are needed: 6 shares Alice -> Carol, and Carol pays 52 to Alice and 10 to Bob.
    """
    market, dvp = setup
    alice, bob, carol = chain.accounts[1:4]
    market.issue({alice: 10})
    chain.tx(market.cash.functions.mint(carol, 62), market.issuer)
    i1 = instruct(chain, market, dvp, alice, bob, 10, 100)
    i2 = instruct(chain, market, dvp, bob, carol, 10, 110)
    i3 = instruct(chain, market, dvp, carol, alice, 4, 48, affirm=False)
    for party, shares, cash in ((alice, 10, 48), (bob, 10, 100), (carol, 4, 110)):
        approve(chain, market.share, party, dvp, shares)
        approve(chain, market.cash, party, dvp, cash)

    # Gross settlement of the first trade fails: Bob has no cash yet.
    assert chain.reverts(dvp.functions.settle(i1), alice, "LegFailed")[1] == CASH_LEG
    chain.reverts(dvp.functions.settleBatch([i1, i2, i3]), alice, "NotAffirmed")
    chain.tx(dvp.functions.affirm(i3), alice)
    chain.reverts(dvp.functions.settleBatch([i1, i2, i1]), alice, "NotPending")
    chain.reverts(dvp.functions.settleBatch([]), alice, "InvalidBatch")

    receipt = chain.tx(dvp.functions.settleBatch([i1, i2, i3]), alice)
    assert events(dvp, "BatchSettled", receipt) == [{"batchId": 1, "count": 3, "transfers": 3}]
    assert [e["id"] for e in events(dvp, "InstructionSettled", receipt)] == [i1, i2, i3]
    assert holdings(market, alice, bob, carol) == [(4, 52), (0, 10), (6, 0)]
    assert all(dvp.functions.getInstruction(i).call()[-1] == SETTLED for i in (i1, i2, i3))
    print(f"gas: settleBatch(3 instructions, 3 net transfers) = {receipt.gasUsed}")

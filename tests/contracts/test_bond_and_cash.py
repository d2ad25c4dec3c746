"""Bond (coupons, default event, redemption) and CashToken against a real dev node.

Time moves with the chain's own clock: `evm_increaseTime` + `evm_mine`, never sleeping.
"""
from __future__ import annotations

import pytest

from contracts.compiler import load_artifact
from tests.contracts.suite import deploy_market, events

pytestmark = pytest.mark.e2e

FACE = 1000
COUPON = 25
PERIOD = 1000
PRINCIPAL = 2**256 - 1  # PaymentDefault's index for the principal


def test_cash_token_mint_burn_allow_list_and_freeze(chain):
    bank, alice, bob, mallory = chain.accounts[0], chain.accounts[1], chain.accounts[2], chain.accounts[7]
    cash = chain.deploy("CashToken", "Krona Token", "SEKT", 2, bank)
    assert cash.functions.decimals().call() == 2
    assert chain.reverts(cash.functions.mint(alice, 100), bank, "NotAllowListed") == (alice.lower(),)
    chain.reverts(cash.functions.setAllowed(alice, True), mallory, "AccessControlUnauthorizedAccount")
    receipt = chain.tx(cash.functions.setAllowed(alice, True), bank)
    assert events(cash, "AllowListUpdated", receipt) == [{"account": alice, "allowed": True}]
    chain.reverts(cash.functions.mint(alice, 100), mallory, "AccessControlUnauthorizedAccount")
    chain.tx(cash.functions.mint(alice, 10_000), bank)
    assert chain.reverts(cash.functions.transfer(bob, 1), alice, "NotAllowListed") == (bob.lower(),)
    chain.tx(cash.functions.setAllowed(bob, True), bank)
    chain.tx(cash.functions.transfer(bob, 300), alice)
    chain.tx(cash.functions.setFrozen(bob, True), bank)
    assert chain.reverts(cash.functions.transfer(alice, 1), bob, "AccountFrozen") == (bob.lower(),)
    assert chain.reverts(cash.functions.transfer(bob, 1), alice, "AccountFrozen") == (bob.lower(),)
    chain.tx(cash.functions.setFrozen(bob, False), bank)
    chain.reverts(cash.functions.burn(bob, 100), mallory, "AccessControlUnauthorizedAccount")
    chain.tx(cash.functions.burn(bob, 100), bank)
    assert [cash.functions.balanceOf(a).call() for a in (alice, bob)] == [9_700, 200]
    assert cash.functions.totalSupply().call() == 9_900


def deploy_bond(chain, market, treasury, start):
    dates = [start + PERIOD, start + 2 * PERIOD, start + 3 * PERIOD]
    terms = (market.cash.address, treasury, FACE, COUPON, dates, dates[-1])
    bond = chain.deploy("Bond", "Acme 2.5% 2029", "ACME29", market.registry.address, market.issuer, terms)
    return bond, dates


def test_bond_full_life(chain):
    market = deploy_market(chain)
    issuer, cash = market.issuer, market.cash
    alice, bob, carol, treasury = chain.accounts[1], chain.accounts[2], chain.accounts[3], chain.accounts[6]
    market.verify(alice, bob)
    market.allow_cash(alice, bob, carol)
    market.fund(treasury, 50_000)

    # Terms are checked at creation: coupon dates rise and end by maturity.
    start = chain.now()
    factory = chain.w3.eth.contract(abi=load_artifact("Bond").abi, bytecode=load_artifact("Bond").bytecode)
    bad_terms = (cash.address, treasury, FACE, COUPON, [start + 200, start + 100], start + 300)
    chain.reverts(factory.constructor("x", "x", market.registry.address, issuer, bad_terms), issuer, "InvalidSchedule")

    bond, dates = deploy_bond(chain, market, treasury, start)
    assert bond.functions.couponDates().call() == dates
    assert bond.functions.decimals().call() == 0
    chain.tx(bond.functions.issue(alice, 10), issuer)
    chain.tx(bond.functions.issue(bob, 5), issuer)
    # The issuer keeps the cash in its own account and lets the bond pull from it (thesis §4.5).
    chain.tx(cash.functions.approve(bond.address, 10 * COUPON + 5 * COUPON), treasury)

    chain.reverts(bond.functions.claimCoupon(0), alice, "CouponNotDue")
    chain.reverts(bond.functions.claimCoupon(3), alice, "CouponNotFound")
    chain.reverts(bond.functions.redeemAtMaturity(), alice, "NotMatured")
    chain.reverts(bond.functions.setPaymentAccount(alice), alice, "AccessControlUnauthorizedAccount")

    # Coupon 0 on schedule.
    chain.advance(dates[0] - chain.now() + 1)
    assert bond.functions.couponOwed(0, alice).call() == 250
    receipt = chain.tx(bond.functions.claimCoupon(0), alice)
    assert events(bond, "CouponPaid", receipt) == [{"couponIndex": 0, "holder": alice, "amount": 250, "late": False}]
    chain.tx(bond.functions.claimCoupon(0), bob)
    chain.reverts(bond.functions.claimCoupon(0), alice, "CouponAlreadyPaid")
    chain.reverts(bond.functions.claimCoupon(0), carol, "NothingToClaim")
    assert [cash.functions.balanceOf(a).call() for a in (alice, bob)] == [250, 125]

    # Alice sells 5 bonds to Bob before the next record date.
    chain.tx(bond.functions.transfer(bob, 5), alice)

    # Coupon 1: the issuer left its allowance empty, so Alice's pull fails: a default event, on-chain.
    chain.advance(dates[1] - chain.now() + 1)
    assert not bond.functions.defaulted().call()
    receipt = chain.tx(bond.functions.claimCoupon(1), alice)
    assert events(bond, "PaymentDefault", receipt) == [
        {"couponIndex": 1, "holder": alice, "amount": 125, "dueDate": dates[1]}]
    assert events(bond, "CouponPaid", receipt) == []
    assert bond.functions.defaulted().call()
    assert cash.functions.balanceOf(alice).call() == 250
    # The issuer cures: the late coupon is paid and marked late.
    chain.tx(cash.functions.approve(bond.address, 100_000), treasury)
    receipt = chain.tx(bond.functions.claimCoupon(1), alice)
    assert events(bond, "CouponPaid", receipt) == [{"couponIndex": 1, "holder": alice, "amount": 125, "late": True}]
    receipt = chain.tx(bond.functions.claimCoupon(1), bob)
    assert events(bond, "CouponPaid", receipt)[0]["amount"] == 10 * COUPON

    # Maturity: the last coupon, then principal; the bonds are burnt.
    chain.advance(dates[2] - chain.now() + 1)
    chain.reverts(bond.functions.issue(alice, 1), issuer, "AlreadyMatured")
    chain.tx(bond.functions.claimCoupon(2), alice)
    chain.tx(bond.functions.claimCoupon(2), bob)
    receipt = chain.tx(bond.functions.redeemAtMaturity(), alice)
    assert events(bond, "PrincipalRedeemed", receipt) == [{"holder": alice, "bonds": 5, "amount": 5 * FACE}]
    # The treasury runs short for Bob's principal: another default event, Bob keeps his bonds.
    moved_out = cash.functions.balanceOf(treasury).call() - 5_000
    chain.tx(cash.functions.transfer(issuer, moved_out), treasury)
    receipt = chain.tx(bond.functions.redeemAtMaturity(), bob)
    assert events(bond, "PaymentDefault", receipt) == [
        {"couponIndex": PRINCIPAL, "holder": bob, "amount": 10 * FACE, "dueDate": dates[2]}]
    assert bond.functions.balanceOf(bob).call() == 10
    chain.tx(cash.functions.transfer(treasury, 5_000), issuer)
    chain.tx(bond.functions.redeemAtMaturity(), bob)
    chain.reverts(bond.functions.redeemAtMaturity(), bob, "NothingToClaim")

    assert bond.functions.totalSupply().call() == 0
    # Alice: coupons 250 + 125 + 125 and principal 5,000; Bob: 125 + 250 + 250 and 10,000.
    assert [cash.functions.balanceOf(a).call() for a in (alice, bob)] == [5_500, 10_625]
    assert cash.functions.balanceOf(treasury).call() == 50_000 - 5_500 - 10_625 - moved_out + 5_000

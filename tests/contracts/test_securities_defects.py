"""The eight defects of issue 25, one test each, against a real dev node.

Each test names the thesis paragraph or the standard its rule comes from, and failed against the
contracts before the fix (run once against the previous artifacts).
"""
from __future__ import annotations

import pytest
from web3 import Web3

from tests.contracts.chain import Chain
from tests.contracts.suite import deploy_market, events
from tests.contracts.test_dvp import approve, instruct
from tests.contracts.test_futures import DAY, GRACE, LONG, SHORT, deploy_future, deploy_oracle, fund, publish

pytestmark = pytest.mark.e2e

SECURITY_LEG, CASH_LEG = 0, 1
REASON_RECIPIENT_NOT_VERIFIED = 3
REASON_RECIPIENT_FROZEN = 5
CASH_SENDER_RESTRICTED = 1  # CashToken.settlementRestriction: `from` not allow-listed or frozen
SETTLED = 3
CONTROLLER_ROLE = Web3.keccak(text="CONTROLLER_ROLE")


# -- 1. DvP netting: every party checked as if gross (thesis §3.2.2 and §3.4; LGO Annex 1 netting) ----

def test_netting_batch_checks_every_party_as_if_the_trades_settled_gross(chain):
    market = deploy_market(chain)
    alice, bob, carol = chain.accounts[1:4]
    market.verify(alice, bob, carol)
    market.allow_cash(alice, bob, carol)
    dvp = chain.deploy("DvPSettlement")
    market.issue({alice: 5})
    chain.tx(market.cash.functions.mint(carol, 55), market.issuer)
    approve(chain, market.share, alice, dvp, 5)
    approve(chain, market.cash, carol, dvp, 55)
    # Alice sells Bob 5 for 50; Bob sells the same 5 to Carol for 55. Bob's net share position is 0.
    first = instruct(chain, market, dvp, alice, bob, 5, 50)
    second = instruct(chain, market, dvp, bob, carol, 5, 55)

    chain.tx(market.share.functions.setAddressFrozen(bob, True), market.issuer)
    assert chain.reverts(dvp.functions.settle(first), alice, "LegFailed")[:2] == (first, SECURITY_LEG)
    assert chain.reverts(dvp.functions.settleBatch([first, second]), alice, "PartyRestricted") == (
        first, SECURITY_LEG, REASON_RECIPIENT_FROZEN)
    chain.tx(market.share.functions.setAddressFrozen(bob, False), market.issuer)

    chain.tx(market.registry.functions.removeInvestor(bob), market.issuer)  # Bob has no identity at all
    assert chain.reverts(dvp.functions.settleBatch([first, second]), alice, "PartyRestricted") == (
        first, SECURITY_LEG, REASON_RECIPIENT_NOT_VERIFIED)
    market.verify(bob)

    chain.tx(market.cash.functions.setFrozen(bob, True), market.issuer)  # the cash token's rules too
    assert chain.reverts(dvp.functions.settleBatch([first, second]), alice, "PartyRestricted") == (
        first, CASH_LEG, CASH_SENDER_RESTRICTED)  # Bob pays Alice gross, though his net cash is +5
    chain.tx(market.cash.functions.setFrozen(bob, False), market.issuer)

    chain.tx(dvp.functions.settleBatch([first, second]), alice)
    assert market.balances(market.share, alice, bob, carol) == [0, 0, 5]
    assert market.balances(market.cash, alice, bob, carol) == [50, 5, 0]


# -- 2. A position is bought only at the price the buyer accepted (thesis §3.7, step 4) ----------------

@pytest.fixture
def desk(chain):
    bank, alice, bob, carol = chain.accounts[0:4]
    oracle = deploy_oracle(chain)
    cash = chain.deploy("CashToken", "Krona Token", "SEKT", 2, bank)
    for who in (alice, bob, carol):
        chain.tx(cash.functions.setAllowed(who, True), bank)
        chain.tx(cash.functions.mint(who, 1_000_00), bank)
    return oracle, cash


def test_buyer_transaction_fixes_the_price_and_an_expiry(chain, desk):
    oracle, cash = desk
    alice, bob, carol = chain.accounts[1:4]
    future = deploy_future(chain, oracle, cash, alice, bob)
    fund(chain, cash, future, LONG, alice)
    fund(chain, cash, future, SHORT, bob)
    chain.tx(future.functions.listPosition(LONG, 1_00), alice)
    chain.tx(cash.functions.approve(future.address, 900_00), carol)
    shown = future.functions.askPrice(LONG).call()
    chain.tx(future.functions.listPosition(LONG, 30_00), alice)  # Alice re-lists before Carol's tx lands
    deadline = chain.now() + 600
    assert chain.reverts(future.functions.buyPosition(LONG, carol, shown, deadline), carol, "PriceChanged") == (
        LONG, 30_00, 1_00)
    assert chain.reverts(future.functions.buyPosition(LONG, carol, 30_00, chain.now() - 1), carol,
                         "OfferExpired")[0] > 0
    assert cash.functions.balanceOf(carol).call() == 1_000_00
    assert future.functions.holder(LONG).call() == alice
    chain.tx(future.functions.buyPosition(LONG, carol, 30_00, deadline), carol)  # the price she accepts
    assert cash.functions.balanceOf(carol).call() == 970_00
    assert future.functions.holder(LONG).call() == carol


# -- 3. One side's payout address cannot lock the other side's margin (thesis §3.6: payout addresses) --

def test_an_unpayable_side_defers_only_its_own_payout(chain, desk):
    oracle, cash = desk
    alice, bob, mallory = chain.accounts[1], chain.accounts[2], chain.accounts[7]
    future = deploy_future(chain, oracle, cash, alice, bob, maturity_days=3)
    fund(chain, cash, future, LONG, alice)
    fund(chain, cash, future, SHORT, bob)
    # Bob, about to lose, sells his side to himself with a payout address the cash token refuses.
    chain.tx(future.functions.listPosition(SHORT, 1), bob)
    chain.tx(cash.functions.approve(future.address, 1), bob)
    chain.tx(future.functions.buyPosition(SHORT, mallory, 1, chain.now() + 600), bob)
    assert not cash.functions.isAllowed(mallory).call()

    maturity = future.functions.terms().call()[6]
    chain.advance(maturity - chain.now())
    publish(chain, oracle, 104_00)  # long +40.00
    alice_before = cash.functions.balanceOf(alice).call()
    receipt = chain.tx(future.functions.settleAtMaturity(), alice)
    assert events(future, "Settled", receipt) == [{"price": 104_00, "longPayout": 240_00, "shortPayout": 160_00}]
    assert events(future, "PayoutDeferred", receipt) == [{"side": SHORT, "holder": mallory, "amount": 160_00}]
    assert cash.functions.balanceOf(alice).call() == alice_before + 240_00
    assert future.functions.owed(SHORT).call() == 160_00
    # The short side's holder takes its payout to an address the cash token accepts.
    chain.reverts(future.functions.withdrawPayout(SHORT, bob), bob, "NotPositionHolder")
    bob_before = cash.functions.balanceOf(bob).call()
    chain.tx(future.functions.withdrawPayout(SHORT, bob), mallory)
    assert cash.functions.balanceOf(bob).call() == bob_before + 160_00
    assert cash.functions.balanceOf(future.address).call() == 0
    chain.reverts(future.functions.withdrawPayout(SHORT, bob), mallory, "NothingOwed")


# -- 4. An oracle that never reports after maturity does not lock the margins (§3.6, §4.5 oracle) -----

def test_without_an_oracle_report_after_maturity_both_margins_are_released(chain, desk):
    oracle, cash = desk
    alice, bob = chain.accounts[1:3]
    future = deploy_future(chain, oracle, cash, alice, bob, maturity_days=2)
    fund(chain, cash, future, LONG, alice)
    fund(chain, cash, future, SHORT, bob)
    chain.advance(DAY)
    publish(chain, oracle, 102_00)
    chain.tx(future.functions.markToMarket(), alice)  # the last accepted mark: long 220.00, short 180.00
    maturity = future.functions.terms().call()[6]
    chain.advance(maturity - chain.now() + 1)
    chain.reverts(future.functions.settleAtMaturity(), alice, "NoNewPrice")
    assert chain.reverts(future.functions.settleAtLastMark(), alice, "GraceNotOver") == (maturity + GRACE,)
    chain.advance(GRACE)
    before = [cash.functions.balanceOf(a).call() for a in (alice, bob)]
    receipt = chain.tx(future.functions.settleAtLastMark(), bob)
    assert events(future, "SettledAtLastMark", receipt) == [{"price": 102_00}]
    assert [cash.functions.balanceOf(a).call() for a in (alice, bob)] == [before[0] + 220_00, before[1] + 180_00]
    assert future.functions.status().call() == SETTLED


def test_the_fallback_gives_way_to_an_oracle_price_after_maturity(chain, desk):
    oracle, cash = desk
    alice, bob = chain.accounts[1:3]
    future = deploy_future(chain, oracle, cash, alice, bob, maturity_days=1)
    fund(chain, cash, future, LONG, alice)
    fund(chain, cash, future, SHORT, bob)
    maturity = future.functions.terms().call()[6]
    chain.advance(maturity - chain.now() + GRACE)
    publish(chain, oracle, 90_00)
    assert chain.reverts(future.functions.settleAtLastMark(), alice, "OraclePriceAvailable") == (90_00,)
    chain.tx(future.functions.settleAtMaturity(), alice)


# -- 5. Redeeming a bond in the maturity second keeps the last coupon (thesis §3.5: interest at ------
#       regular intervals; the holder of record is final before the due second) ----------------------

FACE, COUPON = 1000, 25


def deploy_bond(chain: Chain, market, treasury: str, dates: list[int]):
    terms = (market.cash.address, treasury, FACE, COUPON, dates, dates[-1])
    return chain.deploy("Bond", "Acme 2.5%", "ACME", market.registry.address, market.issuer, terms)


def redeem_in_the_maturity_second(chain: Chain, market, alice: str, treasury: str):
    """Deploy a bond whose last coupon is due at maturity and redeem Alice's 10 bonds in that very
    second: the dev chain's evm_setNextBlockTimestamp puts the redemption's block at maturity exactly.
    Returns the bond and the maturity."""
    start = chain.now()
    maturity = start + 60
    bond = deploy_bond(chain, market, treasury, [start + 30, maturity])
    chain.tx(bond.functions.issue(alice, 10), market.issuer)
    chain.tx(market.cash.functions.approve(bond.address, 100_000), treasury)
    chain.w3.provider.make_request("evm_setNextBlockTimestamp", [maturity])
    receipt = chain.tx(bond.functions.redeemAtMaturity(), alice)
    assert events(bond, "PrincipalRedeemed", receipt)[0]["bonds"] == 10
    assert chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == maturity
    return bond, maturity


def test_redeeming_in_the_maturity_second_keeps_the_last_coupon(chain):
    market = deploy_market(chain)
    alice, treasury = chain.accounts[1], chain.accounts[6]
    market.verify(alice)
    market.allow_cash(alice)
    market.fund(treasury, 100_000)
    bond, maturity = redeem_in_the_maturity_second(chain, market, alice, treasury)
    assert bond.functions.balanceOf(alice).call() == 0 and bond.functions.maturity().call() == maturity
    assert bond.functions.couponOwed(1, alice).call() == 10 * COUPON
    receipt = chain.tx(bond.functions.claimCoupon(1), alice)
    assert events(bond, "CouponPaid", receipt) == [{"couponIndex": 1, "holder": alice, "amount": 250, "late": False}]


# -- 6. A cured default is recorded, and a later coupon paid on time is not late (thesis §3.5: the ----
#       issuer keeps the funds; a missed payment is on-chain for all) ---------------------------------

def test_a_cured_default_is_recorded_and_later_coupons_are_on_time(chain):
    market = deploy_market(chain)
    alice, treasury = chain.accounts[1], chain.accounts[6]
    market.verify(alice)
    market.allow_cash(alice)
    market.fund(treasury, 100_000)
    start = chain.now()
    dates = [start + 100, start + 200, start + 300]
    bond = deploy_bond(chain, market, treasury, dates)
    chain.tx(bond.functions.issue(alice, 10), market.issuer)

    chain.advance(dates[0] - chain.now() + 1)
    receipt = chain.tx(bond.functions.claimCoupon(0), alice)  # no allowance: missed
    missed_at = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert events(bond, "PaymentDefault", receipt)[0]["couponIndex"] == 0
    assert bond.functions.defaulted().call()
    assert bond.functions.missedPayment(0, alice).call() == (missed_at, 0)

    chain.tx(market.cash.functions.approve(bond.address, 100_000), treasury)  # the issuer pays late
    receipt = chain.tx(bond.functions.claimCoupon(0), alice)
    cured_at = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert events(bond, "CouponPaid", receipt)[0]["late"] is True
    assert events(bond, "DefaultCured", receipt) == [
        {"couponIndex": 0, "holder": alice, "missedAt": missed_at, "curedAt": cured_at}]
    assert bond.functions.missedPayment(0, alice).call() == (missed_at, cured_at)
    assert bond.functions.defaultRecord(0).call() == (1, 1, missed_at, cured_at)
    assert not bond.functions.defaulted().call()

    chain.advance(dates[1] - chain.now() + 1)
    receipt = chain.tx(bond.functions.claimCoupon(1), alice)  # funded and claimed on time
    assert events(bond, "CouponPaid", receipt) == [{"couponIndex": 1, "holder": alice, "amount": 250, "late": False}]
    assert bond.functions.missedPayment(1, alice).call() == (0, 0)


# -- 7. recoverWallet(w, w) is refused (ERC-3643 recovery: a lost wallet and a new one) ----------------

def test_recovering_a_wallet_into_itself_is_refused_and_keeps_its_freezes(chain):
    market = deploy_market(chain)
    share, issuer = market.share, market.issuer
    alice, controller = chain.accounts[1], chain.accounts[8]
    market.verify(alice)
    market.issue({alice: 100})
    chain.tx(share.functions.freezePartialTokens(alice, 40), issuer)
    chain.tx(share.functions.setAddressFrozen(alice, True), issuer)
    chain.tx(share.functions.grantRole(CONTROLLER_ROLE, controller), issuer)  # the controller role alone

    assert chain.reverts(share.functions.recoverWallet(alice, alice), controller, "SameWallet") == (alice.lower(),)
    assert share.functions.isFrozen(alice).call()
    assert share.functions.frozenTokens(alice).call() == 40


# -- 8. Recovery moves the investor's identity; the lost wallet is refused afterwards (ERC-3643) -------

def test_recovery_moves_the_identity_and_the_lost_wallet_is_refused(chain):
    market = deploy_market(chain)
    share, registry, issuer = market.share, market.registry, market.issuer
    alice, bob, alice_new = chain.accounts[1], chain.accounts[2], chain.accounts[5]
    market.verify(alice, bob)
    market.issue({alice: 100, bob: 10})
    identity = registry.functions.identityOf(alice).call()

    receipt = chain.tx(share.functions.recoverWallet(alice, alice_new), issuer)
    assert events(registry, "WalletRecovered", receipt) == [
        {"lostWallet": alice, "newWallet": alice_new, "identity": identity}]
    assert registry.functions.identityOf(alice_new).call() == identity
    assert registry.functions.identityOf(alice).call() == "0x" + "00" * 20
    assert registry.functions.walletsOf(identity).call() == [alice_new]
    assert registry.functions.isVerified(alice_new).call()
    assert not registry.functions.isVerified(alice).call()
    assert share.functions.canTransfer(bob, alice, 1).call() == REASON_RECIPIENT_NOT_VERIFIED
    assert chain.reverts(share.functions.transfer(alice, 1), bob, "TransferRestricted") == (
        REASON_RECIPIENT_NOT_VERIFIED,)
    assert chain.reverts(share.functions.issue(alice, 1), issuer, "InvestorNotVerified") == (alice.lower(),)
    chain.tx(share.functions.transfer(alice_new, 1), bob)
    assert market.balances(share, alice, alice_new) == [0, 101]

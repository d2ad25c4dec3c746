"""Pluggable compliance modules (ERC-3643's idea): each module allows and refuses, on transfers, mints,
forced transfers, DvP (gross and netted) and recovery; modules are added and removed while the token
runs, and the registry and compliance are replaceable by the admin. Against a real dev node."""
from __future__ import annotations

import pytest
from web3 import Web3

from tests.contracts.chain import decode_error
from tests.contracts.suite import SWEDEN, YEAR, deploy_market, events
from tests.contracts.test_dvp import approve, instruct

pytestmark = pytest.mark.e2e

FINLAND, NORWAY = 246, 578
DAY = 24 * 3600
MONTH = 30 * DAY
REASON_COMPLIANCE = 7
SECURITY_LEG = 0


def reason(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


@pytest.fixture
def market(chain):
    """Alice, Bob and Carol verified in Sweden, allowed in cash; the share has an empty compliance."""
    market = deploy_market(chain)
    market.verify(*chain.accounts[1:4])
    market.allow_cash(*chain.accounts[1:4])
    compliance = chain.deploy("ModularCompliance", market.issuer)
    chain.tx(compliance.functions.bindToken(market.share.address), market.issuer)
    chain.tx(market.share.functions.setCompliance(compliance.address), market.issuer)
    market.compliance = compliance  # type: ignore[attr-defined]
    return market


def add_module(chain, market, name, *args):
    module = chain.deploy(name, market.compliance.address, *args)
    chain.tx(market.compliance.functions.addModule(module.address), market.issuer)
    return module


def refused(chain, call, sender, text):
    assert chain.reverts(call, sender, "ComplianceRefused") == (reason(text),)


def gross_refused(chain, dvp, ins, text):
    """Settling instruction ``ins`` alone fails on its security leg with the module's reason."""
    id_, leg, raw = chain.reverts(dvp.functions.settle(ins), chain.accounts[0], "LegFailed")
    assert (id_, leg, decode_error(raw)) == (ins, SECURITY_LEG, ("ComplianceRefused", (reason(text),)))


def netted_refused(chain, dvp, ids, ins):
    assert chain.reverts(dvp.functions.settleBatch(ids), chain.accounts[0], "PartyRestricted") == (
        ins, SECURITY_LEG, REASON_COMPLIANCE)


def trade(chain, market, dvp, seller, buyer, shares, cash):
    """An affirmed instruction with both legs approved and the buyer funded."""
    chain.tx(market.cash.functions.mint(buyer, cash), market.issuer)
    approve(chain, market.share, seller, dvp, market.share.functions.allowance(seller, dvp.address).call() + shares)
    approve(chain, market.cash, buyer, dvp, market.cash.functions.allowance(buyer, dvp.address).call() + cash)
    return instruct(chain, market, dvp, seller, buyer, shares, cash)


def test_max_holders(chain, market):
    share, issuer = market.share, market.issuer
    alice, bob, carol, dave, carol_new = chain.accounts[1:6]
    market.issue({alice: 50, bob: 50})
    module = add_module(chain, market, "MaxHoldersModule", 2)
    assert module.functions.holderCount().call() == 2  # counted the holders already there

    refused(chain, share.functions.issue(carol, 1), issuer, "MAX_HOLDERS")
    assert share.functions.canTransfer(alice, carol, 1).call() == REASON_COMPLIANCE
    refused(chain, share.functions.transfer(carol, 1), alice, "MAX_HOLDERS")
    refused(chain, share.functions.forcedTransfer(alice, carol, 1), issuer, "MAX_HOLDERS")
    dvp = chain.deploy("DvPSettlement")
    ins = trade(chain, market, dvp, alice, carol, 10, 100)
    gross_refused(chain, dvp, ins, "MAX_HOLDERS")
    netted_refused(chain, dvp, [ins], ins)
    chain.tx(share.functions.transfer(bob, 10), alice)  # between holders: fine

    chain.tx(share.functions.transfer(carol, 40), alice)  # Alice leaves as Carol joins: still 2
    assert module.functions.holderCount().call() == 2 and not module.functions.isHolder(alice).call()
    # Recovery moves Carol's identity: no new holder, allowed at the cap.
    chain.tx(share.functions.recoverWallet(carol, carol_new), issuer)
    assert module.functions.holderCount().call() == 2
    # Removed without redeploying the token: a third holder is welcome.
    chain.tx(market.compliance.functions.removeModule(module.address), issuer)
    market.verify(dave)
    chain.tx(share.functions.issue(dave, 1), issuer)
    chain.reverts(market.compliance.functions.removeModule(module.address), issuer, "ModuleNotFound")


def test_max_balance_per_investor_over_all_its_wallets(chain, market):
    share, registry, issuer = market.share, market.registry, market.issuer
    alice, bob, w1, w2 = chain.accounts[1], chain.accounts[2], chain.accounts[4], chain.accounts[5]
    erik = Web3.to_checksum_address("0x" + "e1" * 20)
    for wallet in (w1, w2):
        chain.tx(registry.functions.registerIdentity(wallet, erik, SWEDEN), issuer)
    chain.tx(registry.functions.addClaim(erik, 1, chain.now() + YEAR), issuer)
    module = add_module(chain, market, "MaxBalanceModule", 100)
    market.issue({alice: 100, bob: 50, w1: 60})
    refused(chain, share.functions.issue(alice, 1), issuer, "MAX_BALANCE")
    refused(chain, share.functions.issue(w2, 41), issuer, "MAX_BALANCE")  # Erik's 60 + 41 over two wallets
    chain.tx(share.functions.transfer(w2, 60), w1)  # within one investor: always allowed
    refused(chain, share.functions.transfer(alice, 1), bob, "MAX_BALANCE")
    refused(chain, share.functions.forcedTransfer(bob, alice, 1), issuer, "MAX_BALANCE")
    dvp = chain.deploy("DvPSettlement")
    ins = trade(chain, market, dvp, bob, alice, 1, 10)
    gross_refused(chain, dvp, ins, "MAX_BALANCE")
    # Netted: Alice buys 1 from Bob and sells 1 to Bob: net zero, but gross she would exceed 100.
    back = trade(chain, market, dvp, alice, bob, 1, 10)
    netted_refused(chain, dvp, [ins, back], ins)
    chain.reverts(module.functions.setMaxBalance(200), bob, "NotComplianceAdmin")
    chain.tx(module.functions.setMaxBalance(200), issuer)
    chain.tx(dvp.functions.settleBatch([ins, back]), bob)
    chain.tx(share.functions.transfer(alice, 50), bob)
    assert market.balances(share, alice, bob) == [150, 0]
    chain.tx(module.functions.setMaxBalance(150), issuer)
    alice_new = chain.accounts[6]
    chain.tx(share.functions.recoverWallet(alice, alice_new), issuer)  # at the cap, one investor: allowed
    refused(chain, share.functions.issue(alice_new, 1), issuer, "MAX_BALANCE")


def test_country_allow_and_deny_lists(chain, market):
    share, registry, issuer = market.share, market.registry, market.issuer
    alice, bob, carol, bob_new = chain.accounts[1], chain.accounts[2], chain.accounts[3], chain.accounts[5]
    chain.tx(registry.functions.updateInvestor(bob, FINLAND, chain.now() + YEAR), issuer)
    assert registry.functions.investorCountry(bob).call() == FINLAND
    market.issue({alice: 100, bob: 10})
    module = add_module(chain, market, "CountryModule")
    chain.tx(module.functions.setCountryBlocked(FINLAND, True), issuer)
    refused(chain, share.functions.issue(bob, 1), issuer, "COUNTRY_BLOCKED")
    refused(chain, share.functions.transfer(bob, 1), alice, "COUNTRY_BLOCKED")
    refused(chain, share.functions.forcedTransfer(alice, bob, 1), issuer, "COUNTRY_BLOCKED")
    chain.tx(share.functions.transfer(alice, 1), bob)  # only receivers are checked: Bob may sell
    dvp = chain.deploy("DvPSettlement")
    ins = trade(chain, market, dvp, alice, bob, 5, 50)
    gross_refused(chain, dvp, ins, "COUNTRY_BLOCKED")
    back = trade(chain, market, dvp, bob, alice, 5, 50)
    netted_refused(chain, dvp, [back, ins], ins)
    chain.tx(share.functions.recoverWallet(bob, bob_new), issuer)  # the same Finnish investor: allowed
    assert share.functions.balanceOf(bob_new).call() == 9

    # An allow list: only Sweden and Norway receive; Finland unblocked is still not on it.
    chain.tx(module.functions.setCountryBlocked(FINLAND, False), issuer)
    chain.tx(module.functions.setCountryAllowed(SWEDEN, True), issuer)
    chain.tx(module.functions.setCountryAllowed(NORWAY, True), issuer)
    refused(chain, share.functions.transfer(bob_new, 1), alice, "COUNTRY_NOT_ALLOWED")
    chain.tx(share.functions.transfer(carol, 1), alice)
    chain.tx(module.functions.setCountryAllowed(FINLAND, True), issuer)
    chain.tx(share.functions.transfer(bob_new, 1), alice)
    assert module.functions.allowedCount().call() == 3


def test_lock_up_period(chain, market):
    share, registry, issuer = market.share, market.registry, market.issuer
    alice, bob, carol, alice2, alice_new = chain.accounts[1:6]
    module = add_module(chain, market, "LockUpModule", 1000)
    market.issue({alice: 100, bob: 100})
    chain.tx(registry.functions.registerIdentity(alice2, registry.functions.identityOf(alice).call(), SWEDEN), issuer)
    assert module.functions.lockedBalance(alice).call() == 100
    refused(chain, share.functions.transfer(bob, 1), alice, "LOCKED_UP")
    status = share.functions.canTransfer(bob, 1, b"").call({"from": alice})
    assert tuple(status) == (False, b"\x55", reason("LOCKED_UP"))  # ERC-1066 0x55: funds locked
    refused(chain, share.functions.forcedTransfer(alice, bob, 1), issuer, "LOCKED_UP")
    chain.tx(share.functions.transfer(alice2, 30), alice)  # between Alice's own wallets: allowed
    dvp = chain.deploy("DvPSettlement")
    ins = trade(chain, market, dvp, alice, carol, 10, 100)
    gross_refused(chain, dvp, ins, "LOCKED_UP")
    netted_refused(chain, dvp, [ins], ins)

    # Recovery keeps the lock: it belongs to Alice's identity, not to the lost wallet.
    chain.tx(share.functions.recoverWallet(alice, alice_new), issuer)
    assert module.functions.lockedBalance(alice_new).call() == 100
    refused(chain, share.functions.transfer(bob, 1), alice_new, "LOCKED_UP")
    chain.advance(1000)
    assert module.functions.lockedBalance(alice_new).call() == 0
    chain.tx(share.functions.transfer(bob, 70), alice_new)
    chain.tx(share.functions.transfer(bob, 30), alice2)


def test_daily_and_monthly_transfer_limits(chain, market):
    share, issuer = market.share, market.issuer
    alice, bob, carol = chain.accounts[1:4]
    now = chain.now()
    if (now // MONTH + 1) * MONTH - now < 4 * DAY:  # keep the test inside one 30-day window
        chain.advance((now // MONTH + 1) * MONTH - now + 1)
    market.issue({alice: 100})
    module = add_module(chain, market, "TransferLimitModule", 30, 50)
    chain.tx(share.functions.transfer(bob, 20), alice)
    refused(chain, share.functions.transfer(bob, 11), alice, "DAILY_LIMIT")
    refused(chain, share.functions.forcedTransfer(alice, bob, 11), issuer, "DAILY_LIMIT")
    dvp = chain.deploy("DvPSettlement")
    ins = trade(chain, market, dvp, alice, carol, 11, 110)
    gross_refused(chain, dvp, ins, "DAILY_LIMIT")
    netted_refused(chain, dvp, [ins], ins)
    assert tuple(module.functions.usage(alice).call()) == (20, 20)
    # Recovery is allowed with the day's limit used up, and the usage follows Alice's identity.
    alice_new = chain.accounts[6]
    chain.tx(share.functions.recoverWallet(alice, alice_new), issuer)
    refused(chain, share.functions.transfer(bob, 11), alice_new, "DAILY_LIMIT")
    chain.tx(share.functions.transfer(bob, 10), alice_new)
    chain.advance(DAY)
    chain.tx(share.functions.transfer(bob, 10), alice_new)
    chain.advance(DAY)
    refused(chain, share.functions.transfer(bob, 11), alice_new, "MONTHLY_LIMIT")
    chain.tx(share.functions.transfer(bob, 10), alice_new)
    chain.tx(module.functions.setLimits(0, 0), issuer)  # 0 lifts a cap
    chain.tx(share.functions.transfer(bob, 50), alice_new)
    assert market.balances(share, alice_new, bob) == [0, 100]


def test_modules_are_bounded_bound_and_replaceable(chain, market):
    share, registry, issuer, mallory = market.share, market.registry, market.issuer, chain.accounts[7]
    alice, bob = chain.accounts[1:3]
    other = chain.deploy("ModularCompliance", issuer)
    foreign = chain.deploy("MaxBalanceModule", other.address, 1)
    assert chain.reverts(market.compliance.functions.addModule(foreign.address), issuer,
                         "ModuleNotForThisCompliance") == (foreign.address.lower(), other.address.lower())
    modules = [add_module(chain, market, "MaxBalanceModule", 10**6) for _ in range(10)]
    extra = chain.deploy("MaxBalanceModule", market.compliance.address, 1)
    chain.reverts(market.compliance.functions.addModule(extra.address), issuer, "TooManyModules")
    chain.reverts(market.compliance.functions.addModule(modules[0].address), mallory,
                  "AccessControlUnauthorizedAccount")
    chain.reverts(market.compliance.functions.transferred(alice, bob, 1), mallory, "OnlyToken")
    chain.reverts(modules[0].functions.transferred(alice, bob, 1), mallory, "OnlyCompliance")

    # The admin replaces the compliance and the registry; nobody else may.
    chain.reverts(share.functions.setCompliance(other.address), mallory, "AccessControlUnauthorizedAccount")
    receipt = chain.tx(share.functions.setCompliance("0x" + "00" * 20), issuer)
    assert events(share, "ComplianceSet", receipt) == [{"compliance": "0x" + "00" * 20}]
    market.issue({alice: 5})
    new_registry = chain.deploy("IdentityRegistry", issuer)
    chain.reverts(share.functions.setIdentityRegistry(new_registry.address), mallory,
                  "AccessControlUnauthorizedAccount")
    chain.tx(share.functions.setIdentityRegistry(new_registry.address), issuer)
    assert share.functions.identityRegistry().call() == new_registry.address
    assert chain.reverts(share.functions.transfer(bob, 1), alice, "TransferRestricted") == (2,)  # unknown there
    assert registry.functions.isVerified(alice).call()

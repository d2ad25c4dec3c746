"""Investor identities (ERC-3643's idea): one identity with several wallets, claims with expiry from
trusted claim issuers, the identity's country, and recovery moving the identity; against a real node."""
from __future__ import annotations

import pytest
from eth_utils import keccak
from web3 import Web3

from tests.contracts.chain import decode_error
from tests.contracts.suite import SWEDEN, YEAR, deploy_market, events

pytestmark = pytest.mark.e2e

KYC, ACCREDITED = 1, 2
FINLAND = 246
REASON_RECIPIENT_NOT_VERIFIED = 3
ZERO = "0x" + "00" * 20


def identity(name: str) -> str:
    """A made-up identity address (an ONCHAINID contract would do as well)."""
    return Web3.to_checksum_address(keccak(text=name)[:20])


def test_one_identity_with_two_wallets_claims_and_recovery(chain):
    market = deploy_market(chain)
    registry, share, issuer = market.registry, market.share, market.issuer
    w1, w2, w3, bob, kyc_provider = chain.accounts[1], chain.accounts[2], chain.accounts[3], chain.accounts[4], \
        chain.accounts[8]
    erik = identity("erik")
    chain.tx(registry.functions.registerIdentity(w1, erik, SWEDEN), issuer)
    chain.tx(registry.functions.registerIdentity(w2, erik, SWEDEN), issuer)
    assert chain.reverts(registry.functions.registerIdentity(w3, erik, FINLAND), issuer, "CountryMismatch") == (
        erik.lower(), SWEDEN, FINLAND)
    assert registry.functions.walletsOf(erik).call() == [w1, w2]
    assert registry.functions.investorCountry(w2).call() == SWEDEN
    assert not registry.functions.isVerified(w1).call()  # registered, but no KYC claim yet

    # Claims come only from issuers trusted for their topic, and lapse at their expiry.
    assert chain.reverts(registry.functions.addClaim(erik, KYC, chain.now() + YEAR), kyc_provider,
                         "NotTrustedIssuer") == (kyc_provider.lower(), KYC)
    chain.tx(registry.functions.setTrustedIssuer(kyc_provider, KYC, True), issuer)
    receipt = chain.tx(registry.functions.addClaim(erik, KYC, chain.now() + 100), kyc_provider)
    assert events(registry, "ClaimAdded", receipt)[0]["issuer"] == kyc_provider
    assert registry.functions.isVerified(w1).call() and registry.functions.isVerified(w2).call()
    chain.advance(200)
    assert not registry.functions.isVerified(w1).call()
    chain.tx(registry.functions.addClaim(erik, KYC, chain.now() + YEAR), kyc_provider)
    assert registry.functions.isVerified(w1).call()

    # A second required topic; an issuer whose trust is withdrawn voids its claims at once.
    chain.tx(registry.functions.setRequiredTopics([KYC, ACCREDITED]), issuer)
    assert not registry.functions.isVerified(w1).call()
    chain.reverts(registry.functions.addClaim(erik, ACCREDITED, chain.now() + YEAR), kyc_provider, "NotTrustedIssuer")
    chain.tx(registry.functions.setTrustedIssuer(issuer, ACCREDITED, True), issuer)
    chain.tx(registry.functions.addClaim(erik, ACCREDITED, chain.now() + YEAR), issuer)
    assert registry.functions.isVerified(w1).call()
    chain.tx(registry.functions.setTrustedIssuer(kyc_provider, KYC, False), issuer)
    assert not registry.functions.isVerified(w1).call()
    chain.tx(registry.functions.setTrustedIssuer(kyc_provider, KYC, True), issuer)
    chain.reverts(registry.functions.removeClaim(erik, KYC), bob, "NotClaimIssuer")

    # Transfers between the identity's two wallets.
    market.verify(bob)
    chain.tx(registry.functions.addClaim(bob, ACCREDITED, chain.now() + YEAR), issuer)
    market.issue({w1: 100})
    chain.tx(share.functions.transfer(w2, 40), w1)
    chain.tx(share.functions.transfer(w1, 10), w2)
    assert market.balances(share, w1, w2) == [70, 30]

    # Recovery of one wallet: the new wallet joins Erik's identity, the lost one leaves and is refused.
    chain.reverts(share.functions.recoverWallet(w1, bob), issuer, "WalletOfAnotherIdentity")
    receipt = chain.tx(share.functions.recoverWallet(w1, w3), issuer)
    assert events(share, "WalletRecovered", receipt) == [{"lostWallet": w1, "newWallet": w3, "amount": 70}]
    assert registry.functions.walletsOf(erik).call() == [w2, w3]
    assert registry.functions.identityOf(w1).call() == ZERO
    assert market.balances(share, w1, w2, w3) == [0, 30, 70]
    assert chain.reverts(share.functions.transfer(w1, 1), w2, "TransferRestricted") == (REASON_RECIPIENT_NOT_VERIFIED,)
    chain.reverts(share.functions.issue(w1, 1), issuer, "InvestorNotVerified")
    chain.tx(share.functions.transfer(w3, 5), w2)  # the identity's wallets still trade with each other
    chain.tx(share.functions.transfer(bob, 5), w3)
    assert market.balances(share, w2, w3, bob) == [25, 70, 5]


def test_registry_limits_and_errors(chain):
    market = deploy_market(chain)
    registry, issuer, mallory = market.registry, market.issuer, chain.accounts[7]
    many = identity("many wallets")
    wallets = [identity(f"wallet {i}") for i in range(9)]
    for wallet in wallets[:8]:
        chain.tx(registry.functions.registerIdentity(wallet, many, SWEDEN), issuer)
    assert chain.reverts(registry.functions.registerIdentity(wallets[8], many, SWEDEN), issuer,
                         "TooManyWallets") == (many.lower(), 8)
    chain.reverts(registry.functions.registerIdentity(wallets[0], many, SWEDEN), issuer, "InvestorAlreadyRegistered")
    chain.reverts(registry.functions.registerIdentity(wallets[8], ZERO, SWEDEN), issuer, "ZeroAddress")
    chain.reverts(registry.functions.registerIdentity(wallets[8], many, SWEDEN), mallory,
                  "AccessControlUnauthorizedAccount")
    chain.reverts(registry.functions.setRequiredTopics(list(range(9))), issuer, "TooManyTopics")
    chain.reverts(registry.functions.setTrustedIssuer(mallory, KYC, True), mallory, "AccessControlUnauthorizedAccount")
    chain.reverts(registry.functions.recoverWallet(wallets[0], wallets[0]), issuer, "SameWallet")
    chain.reverts(registry.functions.recoverWallet(wallets[8], wallets[0]), issuer, "InvestorNotRegistered")
    chain.tx(registry.functions.updateCountry(many, FINLAND), issuer)
    assert registry.functions.investorCountry(wallets[3]).call() == FINLAND
    chain.tx(registry.functions.deleteIdentity(wallets[0]), issuer)
    assert len(registry.functions.walletsOf(many).call()) == 7


def test_batch_register_identity_is_all_or_nothing_and_names_the_failing_index(chain):
    market = deploy_market(chain)
    registry, issuer = market.registry, market.issuer
    anna, ben = identity("anna"), identity("ben")
    wallets = [identity(f"batch wallet {i}") for i in range(4)]
    chain.tx(registry.functions.registerIdentity(wallets[2], ben, SWEDEN), issuer)
    index, reason = chain.reverts(
        registry.functions.batchRegisterIdentity(wallets[:3], [anna, anna, anna], [SWEDEN] * 3), issuer,
        "BatchItemFailed")
    assert index == 2
    assert decode_error(reason) == ("InvestorAlreadyRegistered", (wallets[2].lower(),))
    assert registry.functions.identityOf(wallets[0]).call() == ZERO  # nothing of the batch took effect
    chain.reverts(registry.functions.batchRegisterIdentity(wallets[:2], [anna], [SWEDEN]), issuer,
                  "BatchLengthMismatch")
    receipt = chain.tx(registry.functions.batchRegisterIdentity([wallets[0], wallets[1], wallets[3]], [anna, anna, ben],
                                                                [SWEDEN, SWEDEN, SWEDEN]), issuer)
    assert len(events(registry, "WalletLinked", receipt)) == 3
    assert registry.functions.walletsOf(anna).call() == wallets[:2]
    # A caller without the agent role fails on the first item, named as such.
    index, reason = chain.reverts(registry.functions.batchRegisterIdentity([identity("x")], [anna], [SWEDEN]),
                                  chain.accounts[7], "BatchItemFailed")
    assert index == 0 and decode_error(reason)[0] == "AccessControlUnauthorizedAccount"

"""SecurityToken (equity) and IdentityRegistry against a real dev node over JSON-RPC."""
from __future__ import annotations

import pytest
from web3 import Web3

from tests.contracts.suite import SWEDEN, YEAR, deploy_market, events

pytestmark = pytest.mark.e2e

REASON_PAUSED = 1
REASON_SENDER_NOT_VERIFIED = 2
REASON_RECIPIENT_NOT_VERIFIED = 3
REASON_SENDER_FROZEN = 4
REASON_RECIPIENT_FROZEN = 5
REASON_INSUFFICIENT_FREE_BALANCE = 6
ISSUER_ROLE = Web3.keccak(text="ISSUER_ROLE")
CONTROLLER_ROLE = Web3.keccak(text="CONTROLLER_ROLE")
AGENT_ROLE = Web3.keccak(text="AGENT_ROLE")


@pytest.fixture
def market(chain):
    market = deploy_market(chain)
    alice, bob, carol = chain.accounts[1:4]
    market.verify(alice, bob, carol)
    return market


def test_identity_registry_roles_and_expiry(chain, market):
    registry, issuer = market.registry, market.issuer
    alice, dave = chain.accounts[1], chain.accounts[4]
    assert registry.functions.investor(alice).call()[0] == SWEDEN
    assert not registry.functions.isVerified(dave).call()
    args = chain.reverts(registry.functions.registerInvestor(dave, SWEDEN, chain.now() + YEAR), dave,
                         "AccessControlUnauthorizedAccount")
    assert args == (dave.lower(), registry.functions.AGENT_ROLE().call())
    chain.reverts(registry.functions.registerInvestor(alice, SWEDEN, chain.now() + YEAR), issuer,
                  "InvestorAlreadyRegistered")
    chain.reverts(registry.functions.registerInvestor(dave, SWEDEN, chain.now() - 1), issuer, "ExpiryNotInFuture")
    chain.reverts(registry.functions.updateInvestor(dave, SWEDEN, chain.now() + YEAR), issuer, "InvestorNotRegistered")
    chain.reverts(registry.functions.removeInvestor(dave), issuer, "InvestorNotRegistered")
    chain.reverts(registry.functions.registerInvestor("0x" + "00" * 20, SWEDEN, chain.now() + YEAR), issuer,
                  "ZeroAddress")

    # A verification lapses at its expiry.
    chain.tx(registry.functions.registerInvestor(dave, 246, chain.now() + 100), issuer)
    assert registry.functions.isVerified(dave).call()
    chain.advance(200)
    assert not registry.functions.isVerified(dave).call()
    receipt = chain.tx(registry.functions.removeInvestor(dave), issuer)
    assert events(registry, "WalletUnlinked", receipt) == [{"wallet": dave, "identity": dave}]


def test_issue_to_verified_and_transfer_reason_codes(chain, market):
    share, issuer = market.share, market.issuer
    alice, bob, carol, dave = chain.accounts[1:5]
    receipt = chain.tx(share.functions.issue(alice, 100), issuer)
    assert events(share, "Issued", receipt) == [{"operator": issuer, "to": alice, "amount": 100}]
    market.issue({bob: 50})
    assert market.balances(share, alice, bob) == [100, 50]
    assert share.functions.totalSupply().call() == 150
    assert share.functions.decimals().call() == 0
    assert set(share.functions.holders().call()) == {alice, bob}

    # Unverified recipient: refused by issue and transfer, with its reason code.
    assert chain.reverts(share.functions.issue(dave, 1), issuer, "InvestorNotVerified") == (dave.lower(),)
    assert share.functions.canTransfer(alice, dave, 10).call() == REASON_RECIPIENT_NOT_VERIFIED
    assert chain.reverts(share.functions.transfer(dave, 10), alice, "TransferRestricted") == (
        REASON_RECIPIENT_NOT_VERIFIED,)
    assert share.functions.canTransfer(alice, bob, 10).call() == 0
    chain.tx(share.functions.transfer(bob, 10), alice)
    assert market.balances(share, alice, bob, dave) == [90, 60, 0]

    # transferFrom runs the same check on the owner and recipient, not the spender.
    chain.tx(share.functions.approve(carol, 5), alice)
    assert chain.reverts(share.functions.transferFrom(alice, dave, 5), carol, "TransferRestricted") == (
        REASON_RECIPIENT_NOT_VERIFIED,)
    chain.tx(share.functions.transferFrom(alice, carol, 5), carol)
    assert market.balances(share, alice, carol) == [85, 5]

    # An investor removed from the registry can no longer send.
    chain.tx(market.registry.functions.removeInvestor(bob), issuer)
    assert chain.reverts(share.functions.transfer(alice, 1), bob, "TransferRestricted") == (
        REASON_SENDER_NOT_VERIFIED,)

    # Pause stops transfers; only the issuer may pause.
    args = chain.reverts(share.functions.pause(), alice, "AccessControlUnauthorizedAccount")
    assert args == (alice.lower(), ISSUER_ROLE)
    chain.tx(share.functions.pause(), issuer)
    chain.reverts(share.functions.pause(), issuer, "EnforcedPause")
    assert chain.reverts(share.functions.transfer(carol, 1), alice, "TransferRestricted") == (REASON_PAUSED,)
    chain.tx(share.functions.unpause(), issuer)
    chain.reverts(share.functions.unpause(), issuer, "ExpectedPause")
    chain.tx(share.functions.transfer(carol, 1), alice)

    # The issuer's burn redeems; only the issuer burns; zero amounts are refused.
    chain.reverts(share.functions.burn(alice, 4), alice, "AccessControlUnauthorizedAccount")
    chain.reverts(share.functions.issue(alice, 0), issuer, "ZeroAmount")
    receipt = chain.tx(share.functions.burn(alice, 4), issuer)
    assert events(share, "Redeemed", receipt) == [{"operator": issuer, "from": alice, "amount": 4}]
    assert share.functions.balanceOf(alice).call() == 80
    assert share.functions.totalSupply().call() == 146
    chain.reverts(share.functions.burn(alice, 81), issuer, "ERC20InsufficientBalance")


def test_freeze_and_forced_transfer(chain, market):
    share, issuer = market.share, market.issuer
    alice, bob, carol, dave = chain.accounts[1:5]
    market.issue({alice: 100, bob: 50})

    chain.reverts(share.functions.setAddressFrozen(alice, True), bob, "AccessControlUnauthorizedAccount")
    receipt = chain.tx(share.functions.setAddressFrozen(alice, True), issuer)
    assert events(share, "AddressFrozen", receipt) == [{"account": alice, "frozen": True, "agent": issuer}]
    assert share.functions.isFrozen(alice).call()
    assert chain.reverts(share.functions.transfer(bob, 1), alice, "TransferRestricted") == (REASON_SENDER_FROZEN,)
    assert chain.reverts(share.functions.transfer(alice, 1), bob, "TransferRestricted") == (REASON_RECIPIENT_FROZEN,)

    # Partial freeze: only the free balance moves.
    chain.tx(share.functions.freezePartialTokens(bob, 40), issuer)
    assert share.functions.freeBalanceOf(bob).call() == 10
    assert chain.reverts(share.functions.transfer(carol, 11), bob, "TransferRestricted") == (
        REASON_INSUFFICIENT_FREE_BALANCE,)
    chain.tx(share.functions.transfer(carol, 10), bob)
    assert chain.reverts(share.functions.freezePartialTokens(bob, 1), issuer, "FreezeExceedsBalance") == (
        bob.lower(), 40, 41)
    assert chain.reverts(share.functions.unfreezePartialTokens(bob, 41), issuer, "UnfreezeExceedsFrozen") == (
        bob.lower(), 40, 41)
    chain.reverts(share.functions.freezePartialTokens(bob, 1), carol, "AccessControlUnauthorizedAccount")

    # The controller moves frozen tokens; the event names controller, from, to and amount.
    args = chain.reverts(share.functions.forcedTransfer(alice, carol, 30), bob,
                         "AccessControlUnauthorizedAccount")
    assert args == (bob.lower(), CONTROLLER_ROLE)
    chain.reverts(share.functions.forcedTransfer(alice, dave, 30), issuer, "InvestorNotVerified")
    receipt = chain.tx(share.functions.forcedTransfer(alice, carol, 30), issuer)
    assert events(share, "ForcedTransfer", receipt) == [
        {"controller": issuer, "from": alice, "to": carol, "amount": 30}]
    assert market.balances(share, alice, carol) == [70, 40]
    assert share.functions.isFrozen(alice).call()  # the wallet freeze stays

    # Forcing more than the free balance releases frozen tokens, visibly.
    receipt = chain.tx(share.functions.forcedTransfer(bob, carol, 15), issuer)
    assert events(share, "TokensUnfrozen", receipt) == [{"account": bob, "amount": 15}]
    assert share.functions.frozenTokens(bob).call() == 25
    assert market.balances(share, bob, carol) == [25, 55]


def test_recover_lost_wallet(chain, market):
    share, issuer = market.share, market.issuer
    alice, bob, dave, alice_new = chain.accounts[1], chain.accounts[2], chain.accounts[4], chain.accounts[5]
    market.issue({alice: 100})
    chain.tx(share.functions.freezePartialTokens(alice, 20), issuer)

    chain.reverts(share.functions.recoverWallet(alice, alice_new), alice, "AccessControlUnauthorizedAccount")
    chain.reverts(share.functions.recoverWallet(dave, bob), issuer, "NothingToRecover")
    # The new wallet needs no registration of its own: recovery moves Alice's identity to it.
    receipt = chain.tx(share.functions.recoverWallet(alice, alice_new), issuer)
    assert events(share, "WalletRecovered", receipt) == [
        {"lostWallet": alice, "newWallet": alice_new, "amount": 100}]
    assert market.balances(share, alice, alice_new) == [0, 100]
    assert share.functions.frozenTokens(alice_new).call() == 20
    assert share.functions.frozenTokens(alice).call() == 0
    assert share.functions.freeBalanceOf(alice_new).call() == 80
    assert share.functions.holders().call() == [alice_new]


def test_documents(chain, market):
    share, issuer, alice = market.share, market.issuer, chain.accounts[1]
    name = Web3.keccak(text="prospectus")
    digest = Web3.keccak(text="the prospectus pdf")
    chain.reverts(share.functions.setDocument(name, "ipfs://x", digest), alice, "AccessControlUnauthorizedAccount")
    chain.reverts(share.functions.setDocument(name, "", digest), issuer, "EmptyDocumentUri")
    receipt = chain.tx(share.functions.setDocument(name, "https://acme.example/prospectus.pdf", digest), issuer)
    assert events(share, "DocumentUpdated", receipt)[0]["documentHash"] == digest
    uri, stored_hash, updated_at = share.functions.getDocument(name).call()
    assert (uri, stored_hash) == ("https://acme.example/prospectus.pdf", digest) and updated_at > 0
    assert share.functions.getAllDocuments().call() == [name]
    chain.tx(share.functions.removeDocument(name), issuer)
    assert share.functions.getAllDocuments().call() == []
    chain.reverts(share.functions.removeDocument(name), issuer, "DocumentNotFound")


def test_dividend_claims_sum_to_deposit_minus_reclaim(chain, market):
    share, cash, issuer = market.share, market.cash, market.issuer
    alice, bob, carol, dave, erin = chain.accounts[1:6]
    market.verify(erin)
    market.issue({alice: 50, bob: 30, carol: 13, erin: 7})
    market.fund(issuer, 10_000)
    market.allow_cash(share.address, alice, bob, carol, erin)
    record_date = chain.mine()  # every issue above is in a block at or before this timestamp
    chain.advance(1)  # blocks may share a second: what follows must be strictly after the record date
    # A sale after the record date does not move the entitlement.
    chain.tx(share.functions.transfer(bob, 10), alice)

    chain.tx(cash.functions.approve(share.address, 1001), issuer)
    expiry = chain.now() + 1000
    chain.reverts(share.functions.depositDividend(cash.address, record_date, expiry, 1001), alice,
                  "AccessControlUnauthorizedAccount")
    chain.reverts(share.functions.depositDividend(cash.address, chain.now() + 100, expiry, 1001), issuer,
                  "RecordDateNotPast")
    chain.reverts(share.functions.depositDividend(cash.address, 1, expiry, 1001), issuer, "NoSharesAtRecordDate")
    receipt = chain.tx(share.functions.depositDividend(cash.address, record_date, expiry, 1001), issuer)
    (deposited,) = events(share, "DividendDeposited", receipt)
    dividend_id = deposited["dividendId"]
    assert cash.functions.balanceOf(share.address).call() == 1001

    claimed = {}
    for holder in (alice, bob, carol):
        before = cash.functions.balanceOf(holder).call()
        receipt = chain.tx(share.functions.claimDividend(dividend_id), holder)
        (event,) = events(share, "DividendClaimed", receipt)
        claimed[holder] = event["amount"]
        assert cash.functions.balanceOf(holder).call() == before + event["amount"]
    # Pro rata to the holdings at the record date: 50, 30 and 13 of 100 shares (rounded down).
    assert claimed == {alice: 500, bob: 300, carol: 130}
    chain.reverts(share.functions.claimDividend(dividend_id), alice, "DividendAlreadyClaimed")
    chain.reverts(share.functions.claimDividend(dividend_id), dave, "NothingToClaim")
    chain.reverts(share.functions.claimDividend(dividend_id + 1), alice, "DividendNotFound")
    chain.reverts(share.functions.reclaimDividend(dividend_id), issuer, "DividendNotExpired")

    chain.advance(1001)
    chain.reverts(share.functions.claimDividend(dividend_id), erin, "DividendExpired")
    chain.reverts(share.functions.reclaimDividend(dividend_id), alice, "AccessControlUnauthorizedAccount")
    receipt = chain.tx(share.functions.reclaimDividend(dividend_id), issuer)
    (reclaimed,) = events(share, "DividendReclaimed", receipt)
    assert sum(claimed.values()) == 1001 - reclaimed["amount"]
    assert reclaimed["amount"] == 71  # erin's 70 unclaimed plus 1 of rounding
    assert cash.functions.balanceOf(share.address).call() == 0
    assert cash.functions.balanceOf(issuer).call() == 10_000 - 1001 + 71
    chain.reverts(share.functions.reclaimDividend(dividend_id), issuer, "DividendAlreadyReclaimed")


def w3_block_timestamp(chain, receipt) -> int:
    return chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]


def test_vote_weighted_by_record_date_balance(chain, market):
    share, issuer = market.share, market.issuer
    alice, bob, carol, dave = chain.accounts[1:5]
    market.issue({alice: 50, bob: 30, carol: 20})
    chain.advance(1)  # the shares are issued before the record date (the second before the ballot)
    proposal = Web3.keccak(text="Approve the 2026 annual report")
    deadline = chain.now() + 1000
    chain.reverts(share.functions.createBallot(proposal, deadline), alice, "AccessControlUnauthorizedAccount")
    receipt = chain.tx(share.functions.createBallot(proposal, deadline), issuer)
    (created,) = events(share, "BallotCreated", receipt)
    ballot = created["ballotId"]
    # The record date is the second before the ballot's block: the last one whose balances are final.
    assert created["recordDate"] == w3_block_timestamp(chain, receipt) - 1
    # Shares bought after the record date carry no extra vote.
    chain.tx(share.functions.transfer(carol, 20), alice)

    receipt = chain.tx(share.functions.castVote(ballot, 1), alice)
    assert events(share, "VoteCast", receipt) == [{"ballotId": ballot, "voter": alice, "choice": 1, "weight": 50}]
    chain.tx(share.functions.castVote(ballot, 0), bob)
    chain.tx(share.functions.castVote(ballot, 2), carol)
    chain.reverts(share.functions.castVote(ballot, 1), alice, "AlreadyVoted")
    chain.reverts(share.functions.castVote(ballot, 1), dave, "NoVotingPower")
    market.verify(dave)
    chain.tx(share.functions.transfer(dave, 5), carol)
    chain.reverts(share.functions.castVote(ballot, 3), dave, "InvalidChoice")
    chain.reverts(share.functions.castVote(ballot, 1), dave, "NoVotingPower")
    chain.reverts(share.functions.castVote(ballot + 1, 1), dave, "BallotNotFound")
    _, _, _, against, support, abstain = share.functions.getBallot(ballot).call()
    assert (support, against, abstain) == (50, 30, 20)
    assert share.functions.hasVoted(ballot, bob).call()
    chain.advance(1001)
    chain.reverts(share.functions.castVote(ballot, 1), dave, "VotingClosed")


def test_two_for_one_split(chain, market):
    share, issuer = market.share, market.issuer
    alice, bob = chain.accounts[1:3]
    market.issue({alice: 51, bob: 30})
    chain.tx(share.functions.freezePartialTokens(bob, 10), issuer)
    before_split = chain.mine()
    chain.advance(1)  # the split lands strictly after `before_split`
    chain.reverts(share.functions.split(2), alice, "AccessControlUnauthorizedAccount")
    chain.reverts(share.functions.split(1), issuer, "InvalidSplitMultiplier")
    receipt = chain.tx(share.functions.split(2), issuer)
    assert events(share, "StockSplit", receipt) == [{"multiplier": 2, "newTotalSupply": 162}]
    assert market.balances(share, alice, bob) == [102, 60]
    assert share.functions.totalSupply().call() == 162
    assert share.functions.frozenTokens(bob).call() == 20
    # History before the split keeps the old units, so earlier record dates are unaffected.
    assert share.functions.balanceAt(alice, before_split).call() == 51
    assert share.functions.totalSupplyAt(before_split).call() == 81
    chain.call_reverts(share.functions.balanceAt(alice, chain.now() + 10), "FutureLookup")

"""Batch operations (all or nothing, the failing index in the revert) and the ERC-1400 touches:
canTransfer with an ERC-1066 status and a bytes32 reason, controller operations with data, holder
redemption, and the issuance switch. Against a real dev node."""
from __future__ import annotations

import pytest

from tests.contracts.chain import decode_error
from tests.contracts.suite import deploy_market, events

pytestmark = pytest.mark.e2e

REASON_SENDER_FROZEN = 4
REASON_INSUFFICIENT_FREE_BALANCE = 6


def reason(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


@pytest.fixture
def market(chain):
    market = deploy_market(chain)
    market.verify(*chain.accounts[1:4])
    market.issue({chain.accounts[1]: 100, chain.accounts[2]: 50})
    return market


def failed_item(chain, call, sender):
    """(index, inner error name, inner args) of a batch that must fail."""
    index, inner = chain.reverts(call, sender, "BatchItemFailed")
    name, args = decode_error(inner)
    return index, name, args


def test_batches_are_all_or_nothing_and_name_the_failing_index(chain, market):
    share, issuer = market.share, market.issuer
    alice, bob, carol, dave = chain.accounts[1:5]
    holdings = [alice, bob, carol]

    before = market.balances(share, *holdings)
    assert failed_item(chain, share.functions.batchTransfer([bob, carol, dave], [1, 2, 3]), alice) == (
        2, "TransferRestricted", (3,))
    assert market.balances(share, *holdings) == before
    chain.reverts(share.functions.batchTransfer([bob, carol], [1]), alice, "BatchLengthMismatch")
    chain.tx(share.functions.batchTransfer([bob, carol], [10, 20]), alice)
    assert market.balances(share, *holdings) == [70, 60, 20]

    assert failed_item(chain, share.functions.batchMint([carol, dave], [5, 5]), issuer) == (
        1, "InvestorNotVerified", (dave.lower(),))
    assert failed_item(chain, share.functions.batchMint([carol], [5]), alice)[:2] == (
        0, "AccessControlUnauthorizedAccount")
    chain.tx(share.functions.batchMint([carol, carol], [5, 5]), issuer)

    assert failed_item(chain, share.functions.batchBurn([alice, bob], [10, 1_000]), issuer)[:2] == (
        1, "ERC20InsufficientBalance")
    chain.tx(share.functions.batchBurn([alice, bob], [10, 10]), issuer)

    assert failed_item(chain, share.functions.batchForcedTransfer([alice, alice], [bob, dave], [5, 5]), issuer) == (
        1, "InvestorNotVerified", (dave.lower(),))
    chain.tx(share.functions.batchForcedTransfer([alice, bob], [carol, carol], [5, 5]), issuer)
    assert market.balances(share, *holdings) == [55, 45, 40]

    assert failed_item(chain, share.functions.batchSetAddressFrozen([alice], [True]), bob)[:2] == (
        0, "AccessControlUnauthorizedAccount")
    chain.tx(share.functions.batchSetAddressFrozen([alice, bob], [True, True]), issuer)
    assert share.functions.isFrozen(alice).call() and share.functions.isFrozen(bob).call()
    chain.tx(share.functions.batchSetAddressFrozen([alice, bob], [False, False]), issuer)

    assert failed_item(chain, share.functions.batchFreezePartialTokens([alice, bob], [10, 1_000]), issuer) == (
        1, "FreezeExceedsBalance", (bob.lower(), 45, 1_000))
    assert share.functions.frozenTokens(alice).call() == 0  # the first item was undone too
    receipt = chain.tx(share.functions.batchFreezePartialTokens([alice, bob], [10, 20]), issuer)
    assert len(events(share, "TokensFrozen", receipt)) == 2
    assert [share.functions.frozenTokens(a).call() for a in (alice, bob)] == [10, 20]


def test_erc1594_checks_return_an_erc1066_status_and_a_reason(chain, market):
    share, issuer = market.share, market.issuer
    alice, bob, carol, dave = chain.accounts[1:5]

    def status(to, value, sender=alice):
        return tuple(share.functions.canTransfer(to, value, b"").call({"from": sender}))

    assert status(bob, 10) == (True, b"\x51", b"\0" * 32)
    assert status(dave, 10) == (False, b"\x57", reason("RECIPIENT_NOT_VERIFIED"))
    assert status(bob, 101) == (False, b"\x52", reason("INSUFFICIENT_FREE_BALANCE"))
    assert status(bob, 1, sender=dave) == (False, b"\x56", reason("SENDER_NOT_VERIFIED"))
    chain.tx(share.functions.setAddressFrozen(alice, True), issuer)
    assert status(bob, 1) == (False, b"\x55", reason("SENDER_FROZEN"))
    chain.tx(share.functions.setAddressFrozen(alice, False), issuer)
    chain.tx(share.functions.pause(), issuer)
    assert status(bob, 1) == (False, b"\x54", reason("PAUSED"))
    chain.tx(share.functions.unpause(), issuer)
    check_from = share.functions.canTransferFrom(alice, bob, 5, b"")
    assert tuple(check_from.call({"from": carol})) == (False, b"\x53", reason("INSUFFICIENT_ALLOWANCE"))
    chain.tx(share.functions.approve(carol, 5), alice)
    assert tuple(check_from.call({"from": carol})) == (True, b"\x51", b"\0" * 32)


def test_controller_operations_carry_data_and_can_be_renounced(chain, market):
    share, issuer = market.share, market.issuer
    alice, bob = chain.accounts[1:3]
    assert share.functions.isControllable().call()
    receipt = chain.tx(share.functions.controllerTransfer(alice, bob, 7, b"court", b"order 42"), issuer)
    assert events(share, "ControllerTransfer", receipt) == [{
        "controller": issuer, "from": alice, "to": bob, "value": 7, "data": b"court", "operatorData": b"order 42"}]
    receipt = chain.tx(share.functions.controllerRedeem(bob, 3, b"", b"cancelled"), issuer)
    assert events(share, "ControllerRedemption", receipt) == [{
        "controller": issuer, "tokenHolder": bob, "value": 3, "data": b"", "operatorData": b"cancelled"}]
    assert market.balances(share, alice, bob) == [93, 54]
    chain.reverts(share.functions.controllerTransfer(alice, bob, 1, b"", b""), alice,
                  "AccessControlUnauthorizedAccount")
    chain.reverts(share.functions.renounceControl(), alice, "AccessControlUnauthorizedAccount")

    chain.tx(share.functions.renounceControl(), issuer)
    assert not share.functions.isControllable().call()
    chain.reverts(share.functions.controllerTransfer(alice, bob, 1, b"", b""), issuer, "NotControllable")
    chain.reverts(share.functions.forcedTransfer(alice, bob, 1), issuer, "NotControllable")
    chain.reverts(share.functions.controllerRedeem(bob, 1, b"", b""), issuer, "NotControllable")


def test_holders_redeem_and_issuance_closes(chain, market):
    share, issuer = market.share, market.issuer
    alice, bob, carol = chain.accounts[1:4]
    receipt = chain.tx(share.functions.redeem(10, b""), alice)
    assert events(share, "Redeemed", receipt) == [{"operator": alice, "from": alice, "amount": 10}]
    chain.reverts(share.functions.redeemFrom(alice, 5, b""), carol, "ERC20InsufficientAllowance")
    chain.tx(share.functions.approve(carol, 5), alice)
    chain.tx(share.functions.redeemFrom(alice, 5, b""), carol)
    assert share.functions.balanceOf(alice).call() == 85 and share.functions.totalSupply().call() == 135
    chain.tx(share.functions.freezePartialTokens(bob, 45), issuer)
    assert chain.reverts(share.functions.redeem(6, b""), bob, "TransferRestricted") == (
        REASON_INSUFFICIENT_FREE_BALANCE,)
    chain.tx(share.functions.setAddressFrozen(bob, True), issuer)
    assert chain.reverts(share.functions.redeem(1, b""), bob, "TransferRestricted") == (REASON_SENDER_FROZEN,)
    chain.tx(share.functions.pause(), issuer)
    chain.reverts(share.functions.redeem(1, b""), alice, "EnforcedPause")
    chain.tx(share.functions.unpause(), issuer)
    chain.reverts(share.functions.redeem(0, b""), alice, "ZeroAmount")

    assert share.functions.isIssuable().call()
    chain.reverts(share.functions.closeIssuance(), alice, "AccessControlUnauthorizedAccount")
    receipt = chain.tx(share.functions.closeIssuance(), issuer)
    assert events(share, "IssuanceClosed", receipt) == [{}]
    assert not share.functions.isIssuable().call()
    chain.reverts(share.functions.issue(alice, 1), issuer, "IssuanceIsClosed")
    assert failed_item(chain, share.functions.batchMint([alice], [1]), issuer) == (0, "IssuanceIsClosed", ())

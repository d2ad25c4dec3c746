"""Every role-gated function refuses a caller without its role, naming the caller and the role."""
from __future__ import annotations

import pytest
from web3 import Web3

from tests.contracts.suite import deploy_market

pytestmark = pytest.mark.e2e

ADMIN = b"\0" * 32
ISSUER, AGENT, CONTROLLER = (Web3.keccak(text=r) for r in ("ISSUER_ROLE", "AGENT_ROLE", "CONTROLLER_ROLE"))
MINTER, COMPLIANCE = Web3.keccak(text="MINTER_ROLE"), Web3.keccak(text="COMPLIANCE_ROLE")


def test_each_role_gated_function_names_the_missing_role(chain):
    market = deploy_market(chain)
    share, cash, registry, issuer = market.share, market.cash, market.registry, market.issuer
    alice, bob, agent = chain.accounts[1], chain.accounts[2], chain.accounts[8]
    market.verify(alice, bob)
    market.issue({alice: 10})
    now = chain.now()
    oracle = chain.deploy("ConsortiumOracle", issuer, "0x000000000000000000000000000000000000dEaD", [issuer], 60, 60)
    bond = chain.deploy("Bond", "B", "B", registry.address, issuer,
                        (cash.address, issuer, 1000, 25, [now + 1000], now + 1000))
    name = Web3.keccak(text="doc")
    gated = [
        (registry.functions.registerInvestor(bob, 1, now + 999), AGENT),
        (registry.functions.updateInvestor(alice, 1, now + 999), AGENT),
        (registry.functions.removeInvestor(alice), AGENT),
        (share.functions.issue(alice, 1), ISSUER),
        (share.functions.burn(alice, 1), ISSUER),
        (share.functions.pause(), ISSUER),
        (share.functions.unpause(), ISSUER),
        (share.functions.setDocument(name, "u", name), ISSUER),
        (share.functions.removeDocument(name), ISSUER),
        (share.functions.depositDividend(cash.address, now - 1, now + 999, 1), ISSUER),
        (share.functions.reclaimDividend(0), ISSUER),
        (share.functions.createBallot(name, now + 999), ISSUER),
        (share.functions.split(2), ISSUER),
        (share.functions.setAddressFrozen(alice, True), AGENT),
        (share.functions.freezePartialTokens(alice, 1), AGENT),
        (share.functions.unfreezePartialTokens(alice, 1), AGENT),
        (share.functions.forcedTransfer(alice, bob, 1), CONTROLLER),
        (share.functions.recoverWallet(alice, bob), CONTROLLER),
        (share.functions.grantRole(ISSUER, bob), ADMIN),
        (bond.functions.issue(alice, 1), ISSUER),
        (bond.functions.setPaymentAccount(bob), ISSUER),
        (bond.functions.forcedTransfer(alice, bob, 1), CONTROLLER),
        (cash.functions.mint(alice, 1), MINTER),
        (cash.functions.burn(issuer, 1), MINTER),
        (cash.functions.setAllowed(alice, True), COMPLIANCE),
        (cash.functions.setFrozen(alice, True), COMPLIANCE),
        (oracle.functions.setValidators([bob]), ADMIN),
        (oracle.functions.setLimits(1, 1), ADMIN),
    ]
    for call, role in gated:
        args = chain.reverts(call, bob, "AccessControlUnauthorizedAccount")
        assert args == (bob.lower(), role), call.fn_name

    # Roles are separable: an agent may freeze but neither issue nor force.
    chain.tx(share.functions.grantRole(AGENT, agent), issuer)
    chain.tx(share.functions.setAddressFrozen(alice, True), agent)
    assert share.functions.isFrozen(alice).call()
    assert chain.reverts(share.functions.issue(alice, 1), agent, "AccessControlUnauthorizedAccount")[1] == ISSUER
    assert chain.reverts(share.functions.forcedTransfer(alice, bob, 1), agent,
                         "AccessControlUnauthorizedAccount")[1] == CONTROLLER

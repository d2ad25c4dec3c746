"""Deploy the pieces the contract tests share: an identity registry, a cash token, a share."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3.contract import Contract
from web3.logs import DISCARD

from tests.contracts.chain import Chain

SWEDEN = 752
YEAR = 365 * 24 * 3600


def events(contract: Contract, event: str, receipt: Any) -> list[dict[str, Any]]:
    """Arguments of every ``event`` that ``contract`` emitted in ``receipt``."""
    return [dict(e.args) for e in getattr(contract.events, event)().process_receipt(receipt, errors=DISCARD)]


@dataclass
class Market:
    """Registry, bank cash token and one equity share, all administered by ``issuer``."""

    chain: Chain
    issuer: str
    registry: Contract
    cash: Contract
    share: Contract

    def verify(self, *wallets: str) -> None:
        expiry = self.chain.now() + 10 * YEAR
        for wallet in wallets:
            self.chain.tx(self.registry.functions.registerInvestor(wallet, SWEDEN, expiry), self.issuer)

    def allow_cash(self, *accounts: str) -> None:
        for account in accounts:
            self.chain.tx(self.cash.functions.setAllowed(account, True), self.issuer)

    def fund(self, account: str, amount: int) -> None:
        """Allow-list ``account`` in the cash token and mint it ``amount``."""
        self.allow_cash(account)
        self.chain.tx(self.cash.functions.mint(account, amount), self.issuer)

    def issue(self, holdings: dict[str, int]) -> None:
        for holder, amount in holdings.items():
            self.chain.tx(self.share.functions.issue(holder, amount), self.issuer)

    def balances(self, token: Contract, *accounts: str) -> list[int]:
        return [token.functions.balanceOf(a).call() for a in accounts]


def deploy_market(chain: Chain, issuer: str | None = None) -> Market:
    issuer = issuer or chain.accounts[0]
    registry = chain.deploy("IdentityRegistry", issuer, sender=issuer)
    cash = chain.deploy("CashToken", "Krona Token", "SEKT", 2, issuer, sender=issuer)
    share = chain.deploy("SecurityToken", "Acme AB", "ACME", 0, registry.address, issuer, sender=issuer)
    # The share moves identities when it recovers a wallet (ERC-3643), so it is an agent of the registry.
    chain.tx(registry.functions.grantRole(registry.functions.AGENT_ROLE().call(), share.address), issuer)
    return Market(chain, issuer, registry, cash, share)

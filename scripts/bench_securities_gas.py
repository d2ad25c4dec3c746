"""Gas per operation of the securities suite, measured on a fresh ``settle node dev``.

1. a share transfer between two existing holders with no compliance, then with each compliance
   module alone, then with all five (MaxHolders, MaxBalance, Country, LockUp after its period,
   TransferLimit): the second of two identical transfers is reported (no first-time storage);
2. each batch operation with 1 and with 11 items; the gas per item is the difference / 10.

Figures are printed as a Markdown table (docs/contracts.md keeps a copy), never asserted.

    PYTHONPATH=$PWD python scripts/bench_securities_gas.py
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from eth_utils import keccak
from web3 import Web3

from tests.contracts.chain import Chain
from tests.contracts.suite import SWEDEN, YEAR, Market, deploy_market
from tests.e2e.node_process import DevNode

MODULES: list[tuple[str, tuple[Any, ...]]] = [
    ("MaxHoldersModule", (1_000,)),
    ("MaxBalanceModule", (10**9,)),
    ("CountryModule", ()),
    ("LockUpModule", (1,)),
    ("TransferLimitModule", (10**9, 10**9)),
]
ITEMS = 11


def gas(chain: Chain, call: Any, sender: str) -> int:
    return int(chain.tx(call, sender)["gasUsed"])


def transfer_gas(chain: Chain, market: Market, alice: str, bob: str) -> int:
    gas(chain, market.share.functions.transfer(bob, 1), alice)
    return gas(chain, market.share.functions.transfer(bob, 1), alice)


def with_modules(chain: Chain, market: Market, names: list[tuple[str, tuple[Any, ...]]]) -> None:
    compliance = chain.deploy("ModularCompliance", market.issuer)
    chain.tx(compliance.functions.bindToken(market.share.address), market.issuer)
    for name, args in names:
        module = chain.deploy(name, compliance.address, *args)
        chain.tx(compliance.functions.addModule(module.address), market.issuer)
    chain.tx(market.share.functions.setCompliance(compliance.address), market.issuer)


def wallets(tag: str, count: int) -> list[str]:
    return [Web3.to_checksum_address(keccak(text=f"{tag} {i}")[:20]) for i in range(count)]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        node = DevNode(Path(tmp) / "chain", block_period=0.05).start()
        try:
            chain = Chain(Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30})))
            rows = measure(chain)
        finally:
            node.stop()
    print("| operation | gas |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value:,} |")


def measure(chain: Chain) -> list[tuple[str, int]]:
    rows: list[tuple[str, int]] = []
    alice, bob = chain.accounts[1:3]

    def fresh_market() -> Market:
        market = deploy_market(chain)
        market.verify(alice, bob)
        market.issue({alice: 1_000_000, bob: 1_000_000})
        return market

    market = fresh_market()
    rows.append(("transfer, no compliance", transfer_gas(chain, market, alice, bob)))
    with_modules(chain, market, [])
    rows.append(("transfer, compliance with 0 modules", transfer_gas(chain, market, alice, bob)))
    for name, args in MODULES:
        market = fresh_market()
        with_modules(chain, market, [(name, args)])
        rows.append((f"transfer, 1 module ({name})", transfer_gas(chain, market, alice, bob)))
    market = fresh_market()
    with_modules(chain, market, MODULES)
    chain.advance(2)  # past LockUp's 1 s period
    rows.append(("transfer, 5 modules (all above)", transfer_gas(chain, market, alice, bob)))

    market = fresh_market()
    share, registry, issuer = market.share, market.registry, market.issuer
    people = wallets("investor", ITEMS)
    for person in people:
        chain.tx(registry.functions.registerInvestor(person, SWEDEN, chain.now() + YEAR), issuer)
    chain.tx(share.functions.batchMint(people, [100] * ITEMS), issuer)

    def per_item(label: str, build: Any, sender: str) -> None:
        one = gas(chain, build(1), sender)
        many = gas(chain, build(ITEMS), sender)
        rows.append((f"{label}, 1 item", one))
        rows.append((f"{label}, each further item", (many - one) // (ITEMS - 1)))

    per_item("batchTransfer", lambda n: share.functions.batchTransfer(people[:n], [1] * n), alice)
    per_item("batchMint", lambda n: share.functions.batchMint(people[:n], [1] * n), issuer)
    per_item("batchBurn", lambda n: share.functions.batchBurn(people[:n], [1] * n), issuer)
    per_item("batchForcedTransfer",
             lambda n: share.functions.batchForcedTransfer(people[:n], [alice] * n, [1] * n), issuer)
    per_item("batchSetAddressFrozen", lambda n: share.functions.batchSetAddressFrozen(people[:n], [True] * n), issuer)
    per_item("batchFreezePartialTokens",
             lambda n: share.functions.batchFreezePartialTokens(people[:n], [1] * n), issuer)
    counter = iter(range(10**6))

    def register(n: int) -> Any:
        tag = next(counter)
        fresh = wallets(f"register {tag}", n)
        ids = wallets(f"identity {tag}", n)
        return registry.functions.batchRegisterIdentity(fresh, ids, [SWEDEN] * n)

    per_item("batchRegisterIdentity", register, issuer)
    return rows


if __name__ == "__main__":
    main()

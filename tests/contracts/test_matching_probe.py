"""Through the chain: a call that matches and then reverts leaves no trace in the engine."""
from __future__ import annotations

from typing import Any

import pytest
from web3.exceptions import ContractCustomError, ContractLogicError

from tests.contracts.suite import events

pytestmark = pytest.mark.e2e

ENGINE = "0x0000000000000000000000000000000000000a11"
BUY, SELL = 0, 1


def engine_digest(chain: Any) -> bytes:
    return bytes(chain.w3.eth.get_storage_at(ENGINE, 0))


def test_match_then_revert_leaves_no_trace(chain: Any) -> None:
    probe = chain.deploy("MatchingProbe")
    trader = chain.accounts[1]
    book = probe.functions.book().call()
    chain.tx(probe.functions.place(1, SELL, 100, 5), trader)
    before = engine_digest(chain)
    bba = chain.w3.eth.contract(address=ENGINE, abi=[{
        "type": "function", "name": "bestBidAsk", "stateMutability": "view",
        "inputs": [{"name": "book", "type": "uint32"}],
        "outputs": [{"name": n, "type": "uint64"} for n in ("bid", "bidQty", "ask", "askQty")]}])
    assert bba.functions.bestBidAsk(book).call() == [0, 0, 100, 5]

    # as a call, it would fill 3 before its revert
    with pytest.raises((ContractCustomError, ContractLogicError)):
        probe.functions.placeThenRevert(2, BUY, 100, 3).call({"from": trader})
    # mined (fixed gas, no estimate): the transaction fails and the engine is as before
    tx_hash = probe.functions.placeThenRevert(2, BUY, 100, 3).transact({"from": trader, "gas": 1_000_000})
    assert chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)["status"] == 0
    assert engine_digest(chain) == before
    assert bba.functions.bestBidAsk(book).call() == [0, 0, 100, 5]

    # a child frame that matches and reverts, inside a transaction that succeeds
    receipt = chain.tx(probe.functions.childRevertsThenPlace(2, BUY, 100, 3, 1), trader)
    assert len(events(probe, "ChildFailed", receipt)) == 1
    assert bba.functions.bestBidAsk(book).call() == [0, 0, 100, 4]
    assert engine_digest(chain) != before

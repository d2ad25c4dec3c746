"""The matching precompile on real node processes: a restart keeps the book, bad input is answered
without harm, four validators and a node syncing from genesis reach the same engine digest and state root."""
from __future__ import annotations

import shutil
import signal

import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak

from tests.e2e.network import Network
from tests.e2e.node_process import rpc, wait_until
from tests.helpers import SIGNER

pytestmark = pytest.mark.e2e

ENGINE = "0x0000000000000000000000000000000000000a11"
PLACE = ["uint32", "uint64", "uint8", "uint8", "uint64", "uint64"]


def calldata(signature: str, types: list[str], values: list[object]) -> str:
    return "0x" + (keccak(text=signature)[:4] + encode(types, values)).hex()


def place(book: int, owner: int, side: int, price: int, qty: int) -> str:
    return calldata("place(uint32,uint64,uint8,uint8,uint64,uint64)", PLACE, [book, owner, side, 0, price, qty])


class Sender:
    """Signs transactions to the precompile from one dev account and waits for their receipts."""

    def __init__(self, account_index: int, chain_id: int) -> None:
        self.account = SIGNER.accounts[account_index]
        self.chain_id, self.nonce = chain_id, 0

    def send(self, url: str, data: str, gas: int = 1_000_000) -> str:
        fields = {"chainId": self.chain_id, "nonce": self.nonce, "to": ENGINE, "value": 0, "gas": gas,
                  "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "type": 2, "data": data}
        raw = Account.sign_transaction(fields, self.account.key).raw_transaction
        self.nonce += 1
        response = rpc(url, "eth_sendRawTransaction", ["0x" + bytes(raw).hex()])
        assert "result" in response, response
        return response["result"]


def receipt(url: str, tx_hash: str, timeout: float = 60.0) -> dict:
    return wait_until(lambda: rpc(url, "eth_getTransactionReceipt", [tx_hash]).get("result"), timeout,
                      lambda: f"no receipt for {tx_hash}")


def best(url: str, book: int) -> list[int]:
    result = rpc(url, "eth_call", [{"to": ENGINE, "data": calldata("bestBidAsk(uint32)", ["uint32"], [book])},
                                   "latest"])["result"]
    return list(decode(["uint64"] * 4, bytes.fromhex(result[2:])))


def digest_slot(url: str, block: str = "latest") -> str:
    return rpc(url, "eth_getStorageAt", [ENGINE, "0x0", block])["result"]


def test_restart_mid_session_keeps_the_book(node_factory) -> None:
    node = node_factory()
    alice = Sender(1, 1337)
    hashes = [alice.send(node.url, calldata("createBook(uint8,bool)", ["uint8", "bool"], [0, False])),
              alice.send(node.url, place(1, 1, 1, 100, 5)), alice.send(node.url, place(1, 2, 1, 101, 5)),
              alice.send(node.url, place(1, 3, 0, 99, 2))]
    assert [receipt(node.url, h)["status"] for h in hashes] == ["0x1"] * 4
    before_best, before_digest = best(node.url, 1), digest_slot(node.url)
    assert before_best == [99, 2, 100, 5] and int(before_digest, 16) != 0

    node.stop(signal.SIGKILL)
    restarted = node_factory(port=node.port)
    assert best(restarted.url, 1) == before_best
    assert digest_slot(restarted.url) == before_digest
    # the restarted node matches against the orders placed before the restart
    tx = receipt(restarted.url, alice.send(restarted.url, place(1, 4, 0, 101, 7)))
    assert tx["status"] == "0x1"
    assert best(restarted.url, 1) == [99, 2, 101, 3]


def test_bad_input_is_reverted_and_charged_and_the_node_lives_on(node_factory) -> None:
    node = node_factory()
    alice = Sender(2, 1337)
    assert receipt(node.url, alice.send(node.url, calldata("createBook(uint8,bool)", ["uint8", "bool"],
                                                             [0, False])))["status"] == "0x1"
    bad = ["0xdeadbeef", "0x01", place(1, 1, 0, 0, 5), place(1, 1, 0, 5, 0), place(9, 1, 0, 5, 5),
           place(1, 1, 0, 5, 5)[:-2]]
    for data in bad:
        tx = receipt(node.url, alice.send(node.url, data, gas=200_000))
        assert tx["status"] == "0x0"
        assert 21_000 + 2_000 <= int(tx["gasUsed"], 16) < 200_000  # charged, but not the whole limit
    # eth_call reports the reason
    response = rpc(node.url, "eth_call", [{"to": ENGINE, "data": place(9, 1, 0, 5, 5)}, "latest"])
    assert "error" in response and "matching: unknown book 9" in str(response["error"]), response
    # and the node goes on matching
    assert receipt(node.url, alice.send(node.url, place(1, 1, 0, 5, 5)))["status"] == "0x1"
    assert best(node.url, 1) == [5, 5, 0, 0]


@pytest.mark.slow
def test_four_validators_and_a_syncing_node_agree_on_the_engine(tmp_path) -> None:
    net = Network(tmp_path / "net", validators=4, block_period_ms=250)
    try:
        net.start_all()
        a, b, c, d = net.nodes
        net.wait_for_height(2)
        traders = [Sender(i, net.chain_id) for i in range(4)]
        # each trader gets its own book, then everyone places into every book through different nodes
        books = [receipt(a.url, t.send(node.url, calldata("createBook(uint8,bool)", ["uint8", "bool"],
                                                            [i % 4, False])))
                 for i, (t, node) in enumerate(zip(traders, net.nodes, strict=True))]
        assert all(r["status"] == "0x1" for r in books)
        hashes = []
        for round_ in range(3):
            for i, (trader, node) in enumerate(zip(traders, net.nodes, strict=True)):
                for price in (100 + round_, 98 - round_):
                    hashes.append((node, trader.send(node.url, place(i + 1, round_, round_ % 2, price, 3 + i))))
        for node, tx_hash in hashes:
            assert receipt(node.url, tx_hash)["status"] == "0x1"
        top = max(node.height() for node in net.nodes)
        net.wait_for_height(top)
        for number in range(1, top + 1):
            tag = hex(number)
            roots = {node.call("eth_getBlockByNumber", [tag, False])["stateRoot"] for node in net.nodes}
            digests = {digest_slot(node.url, tag) for node in net.nodes}
            assert len(roots) == 1 and len(digests) == 1, (number, roots, digests)
        assert int(digest_slot(a.url), 16) != 0
        books_best = [best(a.url, book) for book in range(1, 5)]
        assert any(level != [0, 0, 0, 0] for level in books_best)

        # a fresh node (empty data dir) syncs the chain and rebuilds the same engine
        d.kill()
        shutil.rmtree(d.node.directory / "data")
        d.start()
        net.wait_for_height(top, [d], timeout=120)
        for number in range(1, top + 1):
            tag = hex(number)
            assert (d.call("eth_getBlockByNumber", [tag, False])["stateRoot"]
                    == a.call("eth_getBlockByNumber", [tag, False])["stateRoot"])
            assert digest_slot(d.url, tag) == digest_slot(a.url, tag)
        assert [best(d.url, book) for book in range(1, 5)] == books_best
    finally:
        net.stop_all()

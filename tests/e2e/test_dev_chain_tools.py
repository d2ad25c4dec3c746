"""Issue 23: the dev chain behaves as contract projects' test suites expect (a real `settle node dev`)."""
from __future__ import annotations

import json
import time

import pytest
from web3 import Web3
from websockets.sync.client import connect

from node.dev_accounts import DevSigner
from tests.e2e.node_process import DevNode, rpc

pytestmark = pytest.mark.e2e

SIGNER = DevSigner.from_mnemonic()
ALICE, BOB = (account.address for account in SIGNER.accounts[:2])
SOMEONE = "0x" + "ab" * 20


def call(node: DevNode, method: str, *params) -> object:
    answer = rpc(node.url, method, list(params))
    assert "error" not in answer, (method, answer)
    return answer["result"]


def height(node: DevNode) -> int:
    return int(call(node, "eth_blockNumber"), 16)


def receipt_of(w3: Web3, tx_hash) -> dict:
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05)


def test_interval_mining_makes_empty_blocks_and_transactions_wait_pending(tmp_path) -> None:
    node = DevNode(tmp_path / "chain", block_period=0.5, extra_args=["--interval-mining"]).start()
    try:
        w3 = Web3(Web3.HTTPProvider(node.url))
        # An idle chain still makes blocks: a newHeads subscriber is not left waiting forever.
        with connect(node.ws_url, open_timeout=10) as socket:
            socket.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
            assert "result" in json.loads(socket.recv(timeout=10))
            heads = [json.loads(socket.recv(timeout=10))["params"]["result"] for _ in range(2)]
        assert int(heads[1]["number"], 16) == int(heads[0]["number"], 16) + 1
        assert call(node, "eth_getBlockByNumber", heads[1]["number"], False)["transactions"] == []
        # A transaction is seen pending before it is mined in the next period.
        tx_hash = w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 1})
        assert call(node, "eth_getTransactionByHash", tx_hash.to_0x_hex())["blockNumber"] is None
        assert receipt_of(w3, tx_hash).status == 1
        # Automine on as well: a transaction is mined without waiting for the period.
        assert call(node, "evm_setAutomine", True) is True
        before = time.monotonic()
        receipt_of(w3, w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 1}))
        assert time.monotonic() - before < 5
    finally:
        node.stop()


def test_help_says_which_mining_mode_is_the_default() -> None:
    from click.testing import CliRunner

    from node.cli import main

    text = CliRunner().invoke(main, ["node", "dev", "--help"]).output
    assert "--interval-mining" in text and "Default: off (automine)" in " ".join(text.split())


def test_automine_off_holds_transactions_until_evm_mine(dev_node: DevNode) -> None:
    w3 = Web3(Web3.HTTPProvider(dev_node.url))
    assert call(dev_node, "evm_setAutomine", False) is True
    start = height(dev_node)
    first = w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 1})
    second = w3.eth.send_transaction({"from": BOB, "to": ALICE, "value": 1})
    assert height(dev_node) == start
    assert call(dev_node, "eth_getTransactionReceipt", first.to_0x_hex()) is None
    assert call(dev_node, "txpool_status")["pending"] == "0x2"
    call(dev_node, "evm_mine")
    # Both waited for the one block evm_mine made (automine would have mined each at once).
    assert receipt_of(w3, first).blockNumber == receipt_of(w3, second).blockNumber == start + 1
    assert call(dev_node, "evm_setAutomine", True) is True
    assert receipt_of(w3, w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 1})).status == 1


def test_snapshot_and_revert_roll_the_chain_and_pool_back(tmp_path) -> None:
    node = DevNode(tmp_path / "chain").start()
    try:
        w3 = Web3(Web3.HTTPProvider(node.url))
        receipt_of(w3, w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 1}))
        snapshot = call(node, "evm_snapshot")
        head = call(node, "eth_getBlockByNumber", "latest", False)
        bob_before = w3.eth.get_balance(BOB)
        alice_nonce = w3.eth.get_transaction_count(ALICE)
        mined = [w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 10**18}) for _ in range(3)]
        receipts = [receipt_of(w3, tx_hash) for tx_hash in mined]
        assert w3.eth.get_balance(BOB) == bob_before + 3 * 10**18
        later = call(node, "evm_snapshot")

        assert call(node, "evm_revert", snapshot) is True
        assert call(node, "eth_getBlockByNumber", "latest", False)["hash"] == head["hash"]
        assert w3.eth.get_balance(BOB) == bob_before
        assert w3.eth.get_transaction_count(ALICE) == alice_nonce
        for tx_hash, receipt in zip(mined, receipts, strict=True):
            assert call(node, "eth_getTransactionReceipt", tx_hash.to_0x_hex()) is None
            assert call(node, "eth_getBlockByHash", receipt.blockHash.to_0x_hex(), False) is None
        assert call(node, "eth_getBlockByNumber", hex(receipts[-1].blockNumber), False) is None
        # Used up, with every later snapshot; unknown ids answer false.
        assert call(node, "evm_revert", snapshot) is False
        assert call(node, "evm_revert", later) is False
        # The chain goes on from the snapshot: the same nonce is free again.
        again = receipt_of(w3, w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 5}))
        assert again.blockNumber == int(head["number"], 16) + 1 and again.status == 1
        assert w3.eth.get_balance(BOB) == bob_before + 5
        # The rewound chain is what is on disk: a restart resumes it.
        node.stop()
        node.start()
        assert w3.eth.get_balance(BOB) == bob_before + 5
        assert call(node, "eth_getTransactionReceipt", mined[0].to_0x_hex()) is None
        receipt_of(w3, w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 1}))
    finally:
        if node.alive():
            node.stop()


def test_revert_restores_the_pool_of_the_snapshot(dev_node: DevNode) -> None:
    w3 = Web3(Web3.HTTPProvider(dev_node.url))
    call(dev_node, "evm_setAutomine", False)
    waiting = w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 1})
    snapshot = call(dev_node, "evm_snapshot")
    call(dev_node, "evm_mine")
    receipt_of(w3, waiting)
    assert call(dev_node, "evm_revert", snapshot) is True
    assert call(dev_node, "eth_getTransactionReceipt", waiting.to_0x_hex()) is None
    assert call(dev_node, "txpool_status")["pending"] == "0x1"
    call(dev_node, "evm_setAutomine", True)
    assert receipt_of(w3, waiting).status == 1


def test_set_next_block_timestamp(dev_node: DevNode) -> None:
    w3 = Web3(Web3.HTTPProvider(dev_node.url))
    target = int(time.time()) + 10_000
    assert call(dev_node, "evm_setNextBlockTimestamp", hex(target)) == hex(target)
    receipt = receipt_of(w3, w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 1}))
    assert w3.eth.get_block(receipt.blockNumber).timestamp == target
    call(dev_node, "evm_mine")
    assert target <= w3.eth.get_block("latest").timestamp < target + 60  # later blocks go on from it
    refused = rpc(dev_node.url, "evm_setNextBlockTimestamp", [hex(target - 1)])["error"]
    assert refused["code"] == -32602


def test_hardhat_state_helpers(dev_node: DevNode) -> None:
    w3 = Web3(Web3.HTTPProvider(dev_node.url))
    assert call(dev_node, "hardhat_setBalance", SOMEONE, hex(12345)) is True
    assert w3.eth.get_balance(Web3.to_checksum_address(SOMEONE)) == 12345
    assert call(dev_node, "hardhat_setNonce", SOMEONE, "0x7") is True
    assert w3.eth.get_transaction_count(Web3.to_checksum_address(SOMEONE)) == 7
    code = "0x60005460005260206000f3"  # returns slot 0
    assert call(dev_node, "hardhat_setCode", SOMEONE, code) is True
    assert call(dev_node, "eth_getCode", SOMEONE, "latest") == code
    assert call(dev_node, "hardhat_setStorageAt", SOMEONE, "0x0", "0x" + "00" * 31 + "2a") is True
    assert int(call(dev_node, "eth_call", {"to": SOMEONE}, "latest"), 16) == 42
    assert w3.eth.get_balance(Web3.to_checksum_address(SOMEONE)) == 12345  # earlier edits stay
    # The chain still works as a chain after the edits.
    assert receipt_of(w3, w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 1})).status == 1


def test_interval_mining_refuses_a_zero_period() -> None:
    from click.testing import CliRunner

    from node.cli import main

    result = CliRunner().invoke(main, ["node", "dev", "--interval-mining", "--block-period", "0"])
    assert result.exit_code == 2 and "at least 0.1" in result.output


def test_hardhat_mine_makes_blocks_interval_apart(dev_node: DevNode) -> None:
    w3 = Web3(Web3.HTTPProvider(dev_node.url))
    start = height(dev_node)
    assert call(dev_node, "hardhat_mine", "0x5", "0x3c") is True
    assert height(dev_node) == start + 5
    times = [w3.eth.get_block(n).timestamp for n in range(start + 1, start + 6)]
    assert [later - earlier for earlier, later in zip(times, times[1:], strict=False)] == [60] * 4
    refused = rpc(dev_node.url, "hardhat_mine", [hex(257)])["error"]
    assert refused["code"] == -32005 and "dev_mine_max_blocks" in refused["message"]
    assert height(dev_node) == start + 5

"""Issue 23: the JSON-RPC methods and answers geth gives, against a real `settle node dev` process.

One node serves the module's tests (each leaves automine on when it is done);
raw JSON-RPC for what web3.py does not wrap, web3.py where it does.
"""
from __future__ import annotations

import asyncio
import json
import re
import threading
from pathlib import Path

import pytest
from eth_account import Account
from web3 import AsyncWeb3, Web3
from web3.providers.persistent import WebSocketProvider

from contracts.compiler import load_artifact
from node.dev_accounts import DevSigner
from tests.e2e.node_process import DevNode, rpc

pytestmark = pytest.mark.e2e

SIGNER = DevSigner.from_mnemonic()
ALICE, BOB = (to.address for to in SIGNER.accounts[:2])
NOBODY = "0x" + "ab" * 20
CONTRACT = "0x" + "c0" * 20
# Runtime code returning one 32-byte word: SLOAD(0), TIMESTAMP, NUMBER, COINBASE.
RETURNS_SLOT_0 = "0x60005460005260206000f3"
RETURNS_TIMESTAMP = "0x4260005260206000f3"
RETURNS_NUMBER = "0x4360005260206000f3"
RETURNS_COINBASE = "0x4160005260206000f3"
# SSTORE(0, CALLVALUE), LOG0 of nothing, then return slot 0: a call that writes, logs and reads.
STORES_LOGS_RETURNS = "0x34600055" + "60006000a0" + RETURNS_SLOT_0[2:]
# BALANCE(CONTRACT), returned.
RETURNS_CONTRACT_BALANCE = "0x73" + "c0" * 20 + "3160005260206000f3"
TIMER = "0x" + "d0" * 20


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory):
    started = DevNode(tmp_path_factory.mktemp("parity") / "chain").start()
    yield started
    if started.alive():
        started.stop()


def call(node: DevNode, method: str, *params) -> object:
    """The result of one request; fails the test with the error if there is one."""
    answer = rpc(node.url, method, list(params))
    assert "error" not in answer, (method, answer)
    return answer["result"]


def error(node: DevNode, method: str, *params) -> dict:
    answer = rpc(node.url, method, list(params))
    assert "error" in answer, (method, answer)
    return answer["error"]


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def wait_receipt(w3: Web3, tx_hash) -> dict:
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05)


# -- missing methods --------------------------------------------------------------------------------------------------

def test_sign_transaction_returns_raw_and_tx_that_can_be_sent_later(node: DevNode) -> None:
    signed = call(node, "eth_signTransaction", {"from": ALICE, "to": BOB, "value": "0x7", "gas": "0x5208"})
    assert set(signed) == {"raw", "tx"}
    assert Account.recover_transaction(signed["raw"]) == ALICE
    assert signed["tx"]["from"] == ALICE and signed["tx"]["to"] == BOB and signed["tx"]["value"] == "0x7"
    assert call(node, "eth_getTransactionByHash", signed["tx"]["hash"]) is None  # signed, not sent
    tx_hash = call(node, "eth_sendRawTransaction", signed["raw"])
    assert tx_hash == signed["tx"]["hash"]
    wait_receipt(Web3(Web3.HTTPProvider(node.url)), tx_hash)


def test_raw_transaction_by_hash_and_by_block_position(node: DevNode) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    raw = Account.sign_transaction({"chainId": 1337, "nonce": w3.eth.get_transaction_count(BOB), "to": ALICE,
                                    "value": 1, "gas": 21_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0},
                                   SIGNER.accounts[1].key).raw_transaction
    tx_hash = w3.eth.send_raw_transaction(raw)
    receipt = wait_receipt(w3, tx_hash)
    expected = "0x" + bytes(raw).hex()
    assert call(node, "eth_getRawTransactionByHash", tx_hash.to_0x_hex()) == expected
    index = hex(receipt.transactionIndex)
    assert call(node, "eth_getRawTransactionByBlockNumberAndIndex", hex(receipt.blockNumber), index) == expected
    assert call(node, "eth_getRawTransactionByBlockHashAndIndex", receipt.blockHash.to_0x_hex(), index) == expected
    assert call(node, "eth_getRawTransactionByBlockNumberAndIndex", hex(receipt.blockNumber), "0x63") is None
    assert call(node, "eth_getRawTransactionByHash", "0x" + "00" * 32) is None


def test_create_access_list_finds_the_slots_a_call_touches(node: DevNode) -> None:
    request = {"from": ALICE, "to": CONTRACT}
    overrides = {CONTRACT: {"code": RETURNS_SLOT_0}}
    answer = call(node, "eth_createAccessList", request, "latest", overrides)
    assert answer["accessList"] == [{"address": Web3.to_checksum_address(CONTRACT), "storageKeys": [word(0)]}]
    # 21000 + the list (2400 + 1900) + the code run with slot 0 warm (100 for SLOAD, 15 for the pushes/stores).
    assert int(answer["gasUsed"], 16) == 21_000 + 2_400 + 1_900 + 100 + 3 * 5 + 3
    assert "error" not in answer
    # Gas used with the list is what a transaction with the list would use.
    with_list = call(node, "eth_estimateGas", {**request, "accessList": answer["accessList"]}, "latest", overrides)
    assert int(with_list, 16) == int(answer["gasUsed"], 16)


def test_blob_base_fee_is_zero(node: DevNode) -> None:
    assert call(node, "eth_blobBaseFee") == "0x0"


def test_txpool_shows_pending_transactions(node: DevNode) -> None:
    assert call(node, "evm_setAutomine", False) is True
    try:
        w3 = Web3(Web3.HTTPProvider(node.url))
        nonce = w3.eth.get_transaction_count(ALICE)
        tx_hash = w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 5, "gas": 21_000,
                                           "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9})
        assert call(node, "txpool_status") == {"pending": "0x1", "queued": "0x0"}
        content = call(node, "txpool_content")
        assert content["queued"] == {}
        assert content["pending"][ALICE][str(nonce)]["hash"] == tx_hash.to_0x_hex()
        inspect = call(node, "txpool_inspect")
        assert inspect["pending"][ALICE][str(nonce)] == f"{BOB}: 5 wei + 21000 gas × 2000000000 wei"
        assert call(node, "txpool_contentFrom", ALICE)["pending"][str(nonce)]["hash"] == tx_hash.to_0x_hex()
        assert call(node, "txpool_contentFrom", BOB)["pending"] == {}
    finally:
        call(node, "evm_setAutomine", True)  # mines what waits
    wait_receipt(w3, tx_hash)
    assert call(node, "txpool_status") == {"pending": "0x0", "queued": "0x0"}


def _readme_methods() -> dict[str, set[str]]:
    """The README's list of methods served by `settle node dev`: namespace -> method names."""
    text = (Path(__file__).parents[2] / "README.md").read_text()
    section = text.split("<!-- methods served: begin -->")[1].split("<!-- methods served: end -->")[0]
    served: dict[str, set[str]] = {}
    for namespace, names in re.findall(r"- `(\w+)_`: `([^`]*)`", section):
        served[namespace] = set(names.split())
    return served


def test_rpc_modules_and_the_readme_list_what_is_served(node: DevNode) -> None:
    readme = _readme_methods()
    modules = call(node, "rpc_modules")
    assert modules == {namespace: "1.0" for namespace in readme}
    # Every method the README lists answers (maybe with a parameter error), and no other name in a
    # served namespace does: probe each listed name, and a few that must not be there.
    for namespace, names in readme.items():
        for name in names:
            answer = rpc(node.url, f"{namespace}_{name}", [])
            assert answer.get("error", {}).get("code") != -32601, f"{namespace}_{name} is listed but not served"
    assert rpc(node.url, "eth_notAMethod", [])["error"]["code"] == -32601


# -- overrides and simulation ---------------------------------------------------------------------------------------

def test_eth_call_with_state_overrides(node: DevNode) -> None:
    request = {"from": ALICE, "to": CONTRACT}
    assert call(node, "eth_call", request) == "0x"  # no code there
    code = {CONTRACT: {"code": RETURNS_SLOT_0}}
    assert call(node, "eth_call", request, "latest", code) == word(0)
    full = {CONTRACT: {"code": RETURNS_SLOT_0, "state": {word(0): word(42)}}}
    assert call(node, "eth_call", request, "latest", full) == word(42)
    diff = {CONTRACT: {"code": RETURNS_SLOT_0, "stateDiff": {word(0): word(7)}}}
    assert call(node, "eth_call", request, "latest", diff) == word(7)
    # Balance and nonce: a penniless sender can move value once given a balance.
    rich = {"from": NOBODY, "to": BOB, "value": hex(10**24)}
    assert "insufficient funds for gas * price + value" in error(node, "eth_call", rich)["message"]
    assert call(node, "eth_call", rich, "latest", {NOBODY: {"balance": hex(10**25)}}) == "0x"
    assert call(node, "eth_call", {**rich, "value": "0x0"}, "latest", {NOBODY: {"nonce": "0x5"}}) == "0x"
    both = error(node, "eth_call", request, "latest", {CONTRACT: {"state": {}, "stateDiff": {}}})
    assert both["code"] == -32602
    # Nothing of it stayed.
    assert call(node, "eth_getCode", CONTRACT, "latest") == "0x"


def test_eth_call_with_block_overrides(node: DevNode) -> None:
    def run(code: str, blocks: dict) -> int:
        return int(call(node, "eth_call", {"to": CONTRACT}, "latest", {CONTRACT: {"code": code}}, blocks), 16)

    assert run(RETURNS_TIMESTAMP, {"time": hex(4_000_000_000)}) == 4_000_000_000
    assert run(RETURNS_NUMBER, {"number": hex(123_456)}) == 123_456
    assert run(RETURNS_COINBASE, {"feeRecipient": NOBODY}) == int(NOBODY, 16)
    assert run(RETURNS_NUMBER, {}) == int(call(node, "eth_blockNumber"), 16) + 1
    assert error(node, "eth_call", {"to": CONTRACT}, "latest", None, {"baseFeePerGas": "0x1"})["code"] == -32602


def test_estimate_gas_with_state_overrides(node: DevNode) -> None:
    transfer = {"from": NOBODY, "to": BOB, "value": hex(10**24)}
    assert "insufficient funds for gas * price + value" in error(node, "eth_estimateGas", transfer)["message"]
    assert call(node, "eth_estimateGas", transfer, "latest", {NOBODY: {"balance": hex(10**25)}}) == hex(21_000)
    storing = {"from": ALICE, "to": CONTRACT, "value": "0x1"}
    estimate = call(node, "eth_estimateGas", storing, "latest", {CONTRACT: {"code": "0x34600055"}})
    assert int(estimate, 16) > 21_000 + 20_000  # CALLVALUE SSTORE into a fresh slot


def test_simulate_v1_runs_blocks_of_calls_that_see_each_other(node: DevNode) -> None:
    head = int(call(node, "eth_blockNumber"), 16)
    head_time = int(call(node, "eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    blocks = call(node, "eth_simulateV1", {"blockStateCalls": [
        {"stateOverrides": {CONTRACT: {"code": STORES_LOGS_RETURNS}},
         "calls": [{"from": ALICE, "to": CONTRACT, "value": "0x9"},
                   {"from": ALICE, "to": CONTRACT, "value": "0x2"}]},
        {"blockOverrides": {"time": hex(head_time + 1000)},
         "stateOverrides": {NOBODY: {"code": RETURNS_CONTRACT_BALANCE}, TIMER: {"code": RETURNS_TIMESTAMP}},
         "calls": [{"from": ALICE, "to": NOBODY}, {"from": ALICE, "to": TIMER}]},
    ]}, "latest")
    assert [int(b["number"], 16) for b in blocks] == [head + 1, head + 2]
    assert int(blocks[0]["timestamp"], 16) == head_time + 12 and int(blocks[1]["timestamp"], 16) == head_time + 1000
    assert blocks[1]["parentHash"] == blocks[0]["hash"]
    first, second = blocks[0]["calls"]
    assert first["status"] == "0x1" and int(first["returnData"], 16) == 9
    assert len(first["logs"]) == 1 and first["logs"][0]["blockNumber"] == hex(head + 1)
    assert first["logs"][0]["address"] == Web3.to_checksum_address(CONTRACT)
    assert int(second["returnData"], 16) == 2 and second["logs"][0]["logIndex"] == "0x1"
    assert int(first["gasUsed"], 16) > 21_000 + 20_000
    assert blocks[0]["transactions"] == [first["logs"][0]["transactionHash"], second["logs"][0]["transactionHash"]]
    # Block 2 sees block 1's state (the value sent) and runs at its overridden time.
    assert int(blocks[1]["calls"][0]["returnData"], 16) == 11
    assert int(blocks[1]["calls"][1]["returnData"], 16) == head_time + 1000
    # The simulation left the chain alone.
    assert int(call(node, "eth_blockNumber"), 16) == head
    assert call(node, "eth_getCode", CONTRACT, "latest") == "0x"
    # A revert is reported per call, with geth's code 3 and the data.
    reverted = call(node, "eth_simulateV1", {"blockStateCalls": [
        {"stateOverrides": {CONTRACT: {"code": "0x60006000fd"}}, "calls": [{"to": CONTRACT}]}]})
    assert reverted[0]["calls"][0]["status"] == "0x0" and reverted[0]["calls"][0]["error"]["code"] == 3
    # A call its sender cannot pay for stops the simulation, as in geth.
    broke = {"blockStateCalls": [{"calls": [{"from": NOBODY, "to": BOB, "value": "0x1"}]}]}
    assert "insufficient funds for gas * price + value" in error(node, "eth_simulateV1", broke)["message"]


def test_simulate_v1_limits(node: DevNode) -> None:
    too_many = {"blockStateCalls": [{"calls": []}] * 257}
    answer = error(node, "eth_simulateV1", too_many)
    assert answer["code"] == -32005 and "simulate_max_blocks" in answer["message"]
    calls = {"blockStateCalls": [{"calls": [{"to": BOB}] * 1001}]}
    answer = error(node, "eth_simulateV1", calls)
    assert answer["code"] == -32005 and "simulate_max_calls" in answer["message"]
    backwards = {"blockStateCalls": [{"blockOverrides": {"number": "0x1"}, "calls": []}]}
    assert error(node, "eth_simulateV1", backwards)["code"] == -32000


# -- wrong or partial answers -----------------------------------------------------------------------------------------

def test_pending_block_and_pending_transaction_fields(node: DevNode) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    assert call(node, "evm_setAutomine", False) is True
    try:
        tx_hash = w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 1, "gas": 21_000,
                                           "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9})
        latest = call(node, "eth_getBlockByNumber", "latest", False)
        pending = call(node, "eth_getBlockByNumber", "pending", False)
        assert int(pending["number"], 16) == int(latest["number"], 16) + 1
        assert pending["hash"] is None and pending["nonce"] is None and pending["miner"] is None
        assert pending["parentHash"] == latest["hash"]
        assert pending["transactions"] == [tx_hash.to_0x_hex()]
        full = call(node, "eth_getBlockByNumber", "pending", True)
        assert full["transactions"][0]["hash"] == tx_hash.to_0x_hex()
        assert call(node, "eth_getBlockTransactionCountByNumber", "pending") == "0x1"
        # A pending type-2 transaction: gasPrice is the fee cap, as geth reports it.
        pending_tx = call(node, "eth_getTransactionByHash", tx_hash.to_0x_hex())
        assert pending_tx["blockNumber"] is None
        assert pending_tx["gasPrice"] == pending_tx["maxFeePerGas"] == hex(2 * 10**9)
    finally:
        call(node, "evm_setAutomine", True)
    wait_receipt(w3, tx_hash)
    mined = call(node, "eth_getTransactionByHash", tx_hash.to_0x_hex())
    assert mined["gasPrice"] == hex(10**9)  # the effective price, once mined (base fee 0)


def test_block_receipts_by_plain_hash(node: DevNode) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    receipt = wait_receipt(w3, w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 1}))
    by_hash = call(node, "eth_getBlockReceipts", receipt.blockHash.to_0x_hex())
    assert by_hash is not None and by_hash == call(node, "eth_getBlockReceipts", hex(receipt.blockNumber))
    assert call(node, "eth_getBlockReceipts", "0x" + "00" * 32) is None


def test_type_4_transaction_shows_its_authorization_list(node: DevNode) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    authority = SIGNER.accounts[5]
    target = Web3.to_checksum_address(CONTRACT)
    auth = Account.sign_authorization({"chainId": 1337, "address": target,
                                       "nonce": w3.eth.get_transaction_count(authority.address)}, authority.key)
    sender = SIGNER.accounts[6]
    raw = Account.sign_transaction({
        "chainId": 1337, "nonce": w3.eth.get_transaction_count(sender.address), "to": BOB, "value": 0,
        "gas": 100_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "authorizationList": [auth],
    }, sender.key).raw_transaction
    tx_hash = w3.eth.send_raw_transaction(raw)
    assert wait_receipt(w3, tx_hash).status == 1
    shown = call(node, "eth_getTransactionByHash", tx_hash.to_0x_hex())
    assert shown["type"] == "0x4"
    assert shown["authorizationList"] == [{
        "chainId": hex(1337), "address": target, "nonce": hex(auth.nonce), "yParity": hex(auth.y_parity),
        "r": hex(auth.r), "s": hex(auth.s),
    }]


def test_subscriptions_to_full_pending_transactions_and_syncing(node: DevNode) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    received: dict[str, object] = {}
    subscribed = threading.Event()

    async def listen() -> None:
        async with AsyncWeb3(WebSocketProvider(node.ws_url)) as aw3:
            full_id = await aw3.eth.subscribe("newPendingTransactions", True)
            hashes_id = await aw3.eth.subscribe("newPendingTransactions", False)
            received["syncing_id"] = await aw3.eth.subscribe("syncing")
            subscribed.set()
            async for message in aw3.socket.process_subscriptions():
                received["full" if message["subscription"] == full_id else "hash"] = message["result"]
                assert message["subscription"] in (full_id, hashes_id)
                if "full" in received and "hash" in received:
                    return

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(listen(), timeout=30))
        except BaseException as exc:  # surfaced by the assertions below
            received["error"] = exc

    listener = threading.Thread(target=run)
    listener.start()
    assert subscribed.wait(20), received.get("error")
    tx_hash = w3.eth.send_transaction({"from": ALICE, "to": BOB, "value": 3})
    wait_receipt(w3, tx_hash)
    listener.join(40)
    assert "error" not in received, received.get("error")
    assert received["syncing_id"]
    full = received["full"]
    assert not isinstance(full, (bytes, str))
    assert full["hash"] == tx_hash and full["from"] == ALICE and full["value"] == 3
    assert received["hash"] == tx_hash


def test_typed_data_array_lengths_are_checked_as_geth_does(node: DevNode) -> None:
    typed = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}],
            "Person": [{"name": "name", "type": "string"}, {"name": "wallets", "type": "address[2]"}],
            "Group": [{"name": "members", "type": "Person[2]"}],
        },
        "primaryType": "Group",
        "domain": {"name": "Settle"},
        "message": {"members": [{"name": "a", "wallets": [ALICE, BOB]}]},
    }
    for method in ("eth_signTypedData", "eth_signTypedData_v4"):
        refused = error(node, method, ALICE, typed)
        assert refused["code"] == -32602 and "Person[2]" in refused["message"], refused
    one_wallet = json.loads(json.dumps(typed))
    one_wallet["message"]["members"] = [{"name": "a", "wallets": [ALICE]}, {"name": "b", "wallets": [ALICE, BOB]}]
    assert "address[2]" in error(node, "eth_signTypedData_v4", ALICE, one_wallet)["message"]
    right = json.loads(json.dumps(typed))
    right["message"]["members"] = [{"name": "a", "wallets": [ALICE, BOB]}, {"name": "b", "wallets": [BOB, ALICE]}]
    assert call(node, "eth_signTypedData_v4", ALICE, right).startswith("0x")


def test_gas_price_is_zero_and_the_readme_says_so(node: DevNode) -> None:
    assert call(node, "eth_gasPrice") == "0x0"
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "`eth_gasPrice` answers 0" in readme


def test_the_token_contract_still_deploys(node: DevNode) -> None:
    """A sanity check that the state-override path left ordinary calls as they were."""
    w3 = Web3(Web3.HTTPProvider(node.url))
    artifact = load_artifact("SettleTestToken")
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = wait_receipt(w3, factory.constructor("T", "T", 10).transact({"from": ALICE}))
    token = w3.eth.contract(address=receipt.contractAddress, abi=artifact.abi)
    assert token.functions.balanceOf(ALICE).call() == 10

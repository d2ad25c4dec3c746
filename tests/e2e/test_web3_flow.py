"""web3.py, as a real client of a real `settle node dev` process."""
from __future__ import annotations

import asyncio
import http.client
import json
import select
import threading
from urllib.parse import urlparse

import pytest
from web3 import AsyncWeb3, Web3
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.providers.persistent import WebSocketProvider

from contracts.compiler import load_artifact

TRANSFER_TOPIC = "0x" + Web3.keccak(text="Transfer(address,address,uint256)").hex()


def deploy_token(w3: Web3, supply: int = 10**24):
    artifact = load_artifact("SettleTestToken")
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = factory.constructor("Settle Test", "STT", supply).transact({"from": w3.eth.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05)
    assert receipt.status == 1
    return w3.eth.contract(address=receipt.contractAddress, abi=artifact.abi), receipt


def test_deploy_transfer_receipts_logs_and_revert(dev_node):
    w3 = Web3(Web3.HTTPProvider(dev_node.url))
    assert w3.eth.chain_id == 1337
    alice, bob = w3.eth.accounts[0], w3.eth.accounts[1]
    token, deploy_receipt = deploy_token(w3)
    assert w3.eth.get_code(token.address) == load_artifact("SettleTestToken").deployed_bytecode

    tx_hash = token.functions.transfer(bob, 1234).transact({"from": alice})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05)
    assert receipt.status == 1
    assert token.functions.balanceOf(bob).call() == 1234
    assert token.functions.balanceOf(alice).call() == 10**24 - 1234

    (event,) = token.events.Transfer().process_receipt(receipt)
    assert (event.args["from"], event.args.to, event.args.value) == (alice, bob, 1234)
    assert receipt.logs[0]["topics"][0].to_0x_hex() == TRANSFER_TOPIC

    logs = w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": token.address,
                            "topics": [TRANSFER_TOPIC]})
    # The mint at deployment and the transfer.
    assert [log["blockNumber"] for log in logs] == [deploy_receipt.blockNumber, receipt.blockNumber]
    bob_topic = "0x" + "00" * 12 + bob[2:].lower()
    to_bob = w3.eth.get_logs({"fromBlock": 0, "topics": [TRANSFER_TOPIC, None, bob_topic]})
    assert len(to_bob) == 1 and to_bob[0]["transactionHash"] == tx_hash

    block = w3.eth.get_block(receipt.blockNumber, full_transactions=True)
    assert block.transactions[receipt.transactionIndex]["hash"] == tx_hash
    assert block.baseFeePerGas == 0
    assert w3.eth.get_transaction(tx_hash)["from"] == alice
    assert w3.eth.get_block_receipts(receipt.blockNumber)[receipt.transactionIndex]["transactionHash"] == tx_hash

    with pytest.raises(ContractLogicError) as reverted:
        token.functions.failWithReason().call()
    assert "SettleTestToken: deliberate failure" in str(reverted.value)
    with pytest.raises(ContractCustomError) as custom:
        token.functions.failWithCustomError(42).call()
    selector = Web3.keccak(text="DeliberateFailure(uint256)")[:4].hex()
    assert selector in str(custom.value.data)


def test_filters_track_new_blocks_and_logs(dev_node):
    w3 = Web3(Web3.HTTPProvider(dev_node.url))
    token, _ = deploy_token(w3)
    block_filter = w3.eth.filter("latest")
    log_filter = w3.eth.filter({"address": token.address, "topics": [TRANSFER_TOPIC]})
    tx_hash = token.functions.transfer(w3.eth.accounts[2], 7).transact({"from": w3.eth.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05)
    assert receipt.blockHash in block_filter.get_new_entries()
    (entry,) = log_filter.get_new_entries()
    assert entry["transactionHash"] == tx_hash
    assert log_filter.get_new_entries() == []
    assert len(log_filter.get_all_entries()) == 1
    assert w3.eth.uninstall_filter(log_filter.filter_id) is True


def test_websocket_subscriptions_deliver_new_heads_and_logs(dev_node):
    w3 = Web3(Web3.HTTPProvider(dev_node.url))
    token, _ = deploy_token(w3)
    recipient = w3.eth.accounts[3]
    received: dict[str, object] = {}
    subscribed = threading.Event()

    async def listen() -> None:
        async with AsyncWeb3(WebSocketProvider(dev_node.ws_url)) as aw3:
            heads_id = await aw3.eth.subscribe("newHeads")
            logs_id = await aw3.eth.subscribe("logs", {"address": token.address, "topics": [TRANSFER_TOPIC]})
            subscribed.set()
            async for message in aw3.socket.process_subscriptions():
                kind = "heads" if message["subscription"] == heads_id else "logs"
                assert message["subscription"] in (heads_id, logs_id)
                received.setdefault(kind, message["result"])
                if "heads" in received and "logs" in received:
                    return

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(listen(), timeout=30))
        except BaseException as exc:  # surfaced by the assertions below
            received["error"] = exc

    listener = threading.Thread(target=run)
    listener.start()
    assert subscribed.wait(20), received.get("error")
    tx_hash = token.functions.transfer(recipient, 99).transact({"from": w3.eth.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05)
    listener.join(40)
    assert "error" not in received, received.get("error")
    assert received["heads"]["number"] >= receipt.blockNumber - 1
    assert received["logs"]["transactionHash"] == tx_hash
    assert int.from_bytes(bytes(received["logs"]["data"]), "big") == 99


def test_send_transaction_and_signing_with_dev_accounts(dev_node):
    w3 = Web3(Web3.HTTPProvider(dev_node.url))
    alice, carol = w3.eth.accounts[0], w3.eth.accounts[4]
    before = w3.eth.get_balance(carol)
    tx_hash = w3.eth.send_transaction({"from": alice, "to": carol, "value": 10**18})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05)
    assert receipt.gasUsed == 21000 and receipt.effectiveGasPrice == 0
    assert w3.eth.get_balance(carol) == before + 10**18

    from eth_account import Account
    from eth_account.messages import encode_defunct

    signature = w3.eth.sign(alice, text="settle")
    assert Account.recover_message(encode_defunct(text="settle"), signature=signature) == alice
    typed = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
            "Order": [{"name": "amount", "type": "uint256"}],
        },
        "primaryType": "Order",
        "domain": {"name": "Settle", "chainId": 1337},
        "message": {"amount": 5},
    }
    typed_signature = w3.eth.sign_typed_data(alice, typed)
    from eth_account.messages import encode_typed_data

    assert Account.recover_message(encode_typed_data(full_message=typed), signature=typed_signature) == alice
    fee_history = w3.eth.fee_history(2, "latest", [50])
    assert all(fee == 0 for fee in fee_history["baseFeePerGas"])
    assert w3.eth.estimate_gas({"from": alice, "to": carol, "value": 1}) == 21000


def test_an_idle_keep_alive_connection_is_still_served(dev_node):
    """A pooled HTTP connection left idle past Hypercorn's 5 s default still answers (geth keeps 120 s)."""
    url = urlparse(dev_node.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    headers = {"Content-Type": "application/json"}
    try:
        for idle in (6.5, 0):  # 6.5 s: longer than the 5 s default that dropped clients mid-request
            connection.request("POST", "/", body, headers)
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["result"] == "0x539"
            # Idle until the server closes the connection (the socket turns readable at EOF) or
            # `idle` passes; a server that drops idle connections fails the next request at once.
            select.select([connection.sock], [], [], idle)
    finally:
        connection.close()

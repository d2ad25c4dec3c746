"""Crash safety: every block a client saw a receipt for survives SIGTERM and SIGKILL."""
from __future__ import annotations

import signal
import threading

from eth_account import Account
from web3 import Web3

from node.dev_accounts import DevSigner
from tests.e2e.node_process import rpc

SIGNER = DevSigner.from_mnemonic()


def _transfer(nonce: int, to_index: int = 5) -> bytes:
    sender = SIGNER.accounts[1]
    fields = {"chainId": 1337, "nonce": nonce, "to": SIGNER.accounts[to_index].address, "value": 1 + nonce,
              "gas": 21000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "type": 2}
    return bytes(Account.sign_transaction(fields, sender.key).raw_transaction)


def _snapshot(url: str, upto: int) -> dict[int, tuple[str, str]]:
    out = {}
    for number in range(upto + 1):
        block = rpc(url, "eth_getBlockByNumber", [hex(number), False])["result"]
        out[number] = (block["hash"], block["stateRoot"])
    return out


def test_sigterm_restart_resumes_the_same_chain(node_factory, tmp_path):
    node = node_factory()
    w3 = Web3(Web3.HTTPProvider(node.url))
    receipts = []
    for nonce in range(3):
        tx_hash = w3.eth.send_raw_transaction(_transfer(nonce))
        receipts.append(w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05))
    head = w3.eth.block_number
    before = _snapshot(node.url, head)
    balance = w3.eth.get_balance(SIGNER.accounts[5].address)

    assert node.stop(signal.SIGTERM) == 0
    assert "chain store closed" in node.log()

    restarted = node_factory(port=node.port)
    w3 = Web3(Web3.HTTPProvider(restarted.url))
    assert w3.eth.block_number == head
    assert _snapshot(restarted.url, head) == before
    assert w3.eth.get_balance(SIGNER.accounts[5].address) == balance
    for receipt in receipts:
        assert w3.eth.get_transaction_receipt(receipt.transactionHash).blockHash == receipt.blockHash
    # And it keeps producing on top of the same chain.
    tx_hash = w3.eth.send_raw_transaction(_transfer(3))
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05).blockNumber == head + 1


def test_sigkill_while_transactions_flow_loses_no_seen_block(node_factory):
    node = node_factory()
    url = node.url
    seen: dict[str, tuple[str, int]] = {}
    stop = threading.Event()
    enough = threading.Event()

    def flow() -> None:
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 5}))
        nonce = 0
        try:
            while not stop.is_set():
                tx_hash = w3.eth.send_raw_transaction(_transfer(nonce))
                nonce += 1
                receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.02)
                seen[tx_hash.to_0x_hex()] = (receipt.blockHash.to_0x_hex(), receipt.blockNumber)
                if len(seen) >= 8:
                    enough.set()
        except Exception:
            pass  # the node was killed under us; what we saw is what counts

    sender = threading.Thread(target=flow)
    sender.start()
    enough.wait(30)
    node.process.send_signal(signal.SIGKILL)
    node.process.wait(10)
    stop.set()
    sender.join(20)
    assert len(seen) >= 8, "too few transactions committed before the kill"

    restarted = node_factory(port=node.port)
    w3 = Web3(Web3.HTTPProvider(restarted.url))
    head = w3.eth.block_number
    assert head >= max(number for _, number in seen.values())
    for tx_hash, (block_hash, number) in seen.items():
        receipt = w3.eth.get_transaction_receipt(tx_hash)
        assert receipt is not None, f"{tx_hash} lost after SIGKILL"
        assert receipt.blockHash.to_0x_hex() == block_hash
        assert w3.eth.get_block(number).hash.to_0x_hex() == block_hash
    # State matches the committed transfers: value 1 + nonce for every committed nonce.
    committed = w3.eth.get_transaction_count(SIGNER.accounts[1].address)
    received = w3.eth.get_balance(SIGNER.accounts[5].address) - 10_000 * 10**18
    assert received == sum(1 + n for n in range(committed))
    # Every block links to its parent: no partial block was left behind.
    for number in range(1, head + 1):
        assert w3.eth.get_block(number).parentHash == w3.eth.get_block(number - 1).hash

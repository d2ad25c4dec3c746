"""Four validators keep committing, with no round change, under worst-case eth_calls and one worst-case
transaction (issue 22, item 3: consensus never waits on RPC work or on one transaction)."""
from __future__ import annotations

import threading
import time

import pytest
from eth_account import Account

from consensus.certificate import CommitCertificate
from tests.e2e.network import Network
from tests.e2e.node_process import rpc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAIRING = "0x" + "00" * 19 + "08"
#: Contract creation code that STATICCALLs the identity precompile in an endless loop: py-evm's
#: message frames cost about 0.47 µs of CPU per gas, so the per-transaction cap buys seconds.
CALL_LOOP = "0x5b600060006000600060045afa50600056"
STRESS_SECONDS = 15.0


def _pairing_input(pairs: int) -> str:
    """(G1, G2), (-G1, G2), ...: ``pairs`` pairs whose product is 1 for an even count, and the most
    CPU per gas a call or a transaction can buy on Settle."""
    from py_ecc import optimized_bn128 as bn128

    x, y = bn128.normalize(bn128.G2)
    g1 = (1).to_bytes(32, "big") + (2).to_bytes(32, "big")
    minus_g1 = (1).to_bytes(32, "big") + (bn128.field_modulus - 2).to_bytes(32, "big")
    g2 = b"".join(int(c).to_bytes(32, "big") for c in (x.coeffs[1], x.coeffs[0], y.coeffs[1], y.coeffs[0]))
    return "0x" + b"".join((g1 if i % 2 == 0 else minus_g1) + g2 for i in range(pairs)).hex()


@pytest.fixture
def network(tmp_path):
    net = Network(tmp_path / "net", validators=4, block_period_ms=250)
    yield net
    net.stop_all()


def _round_of(node, number: int) -> int:
    certificate = node.call("bft_getCertificate", [hex(number)])
    return CommitCertificate.decode(bytes.fromhex(certificate["raw"][2:])).round


def test_worst_case_calls_and_transaction_cause_no_round_change(network):
    net = network
    net.start_all()
    net.wait_for_height(2)
    start_height = min(node.height() for node in net.nodes)

    # A stream of eth_calls at the 50 M gas cap: ten pairings each (48.6 M gas at Settle's prices, about
    # 1.2 s of CPU; at Ethereum's prices the cap buys 1,469 pairs, minutes of CPU).
    stop = threading.Event()
    answers: list[dict] = []
    failures: list[str] = []

    def caller(index: int) -> None:
        node = net.nodes[index]
        while not stop.is_set():
            try:
                answers.append(rpc(node.url, "eth_call", [{"to": PAIRING, "data": _pairing_input(10),
                                                           "gas": hex(50_000_000)}, "latest"], timeout=20))
            except Exception as exc:  # a hung node: the assertions below say so
                failures.append(f"{type(exc).__name__}: {exc}")

    # One client, one call at a time: a core's worth of load. The four validators share this machine's two
    # cores with it; a validator on its own machine would not feel the calls of its neighbours.
    callers = [threading.Thread(target=caller, args=(0,), daemon=True)]
    for thread in callers:
        thread.start()
    try:
        time.sleep(2)
        # One worst-case transaction, zero fee, from a key that holds nothing: pairings up to the
        # per-transaction cap (half the block gas limit).
        cap = net.layout.genesis.transaction_gas_cap
        stranger = Account.create()
        raw = stranger.sign_transaction({
            "chainId": net.chain_id, "nonce": 0, "to": PAIRING, "value": 0, "gas": cap, "type": 2,
            "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "data": _pairing_input(2),
        }).raw_transaction
        tx_hash = net.nodes[2].call("eth_sendRawTransaction", ["0x" + bytes(raw).hex()])
        # And one that no block may hold: the proposer stops it at its build budget and drops it.
        looper = Account.create()
        raw = looper.sign_transaction({
            "chainId": net.chain_id, "nonce": 0, "value": 0, "gas": cap, "type": 2,
            "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "data": CALL_LOOP,
        }).raw_transaction
        loop_hash = net.nodes[3].call("eth_sendRawTransaction", ["0x" + bytes(raw).hex()])
        time.sleep(STRESS_SECONDS)
    finally:
        stop.set()
        for thread in callers:
            thread.join(30)

    end_height = min(node.height() for node in net.nodes)
    receipt = net.wait_for_receipt(net.nodes[3], tx_hash, timeout=10)
    assert receipt["status"] == "0x1"
    assert net.nodes[0].call("eth_getTransactionReceipt", [loop_hash]) is None
    assert any("transaction too heavy for a block" in node.log() and loop_hash[2:] in node.log()
               for node in net.nodes)
    assert not failures, failures[:3]
    print(f"{len(answers)} calls answered; heights {start_height}..{end_height}")
    assert answers and all(a.get("result") == "0x" + "00" * 31 + "01" for a in answers), answers[:3]
    # Blocks kept coming (250 ms period; a slower pace under a loaded CPU is fine)...
    assert end_height - start_height >= 10, (start_height, end_height)
    # ...and every one of them was committed in round 0: no proposer was too slow.
    rounds = {number: _round_of(net.nodes[0], number) for number in range(start_height + 1, end_height + 1)}
    assert set(rounds.values()) == {0}, {n: r for n, r in rounds.items() if r}
    for node in net.nodes:
        assert "round change" not in node.log(), node.log()[-3000:]

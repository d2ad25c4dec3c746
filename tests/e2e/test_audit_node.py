"""An audit node (`settle node run --role auditor`) follows a running network, serves reads, refuses writes."""
from __future__ import annotations

import dataclasses
import re

import pytest
from eth_account import Account

from genesis.loader import write_genesis
from tests.e2e.network import Network
from tests.e2e.node_process import rpc, spawn_settle, wait_for_ready, wait_until
from tests.helpers import SIGNER

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def network(tmp_path):
    """Four validators; node 4 of a five-node layout becomes the audit node (not a validator)."""
    net = Network(tmp_path / "net", validators=5, block_period_ms=300)
    genesis = net.layout.genesis
    write_genesis(dataclasses.replace(genesis, validators=genesis.validators[:4]), net.layout.genesis_path)
    auditor_peer = genesis.validators[4].peer_id
    for node in net.layout.nodes[:4]:
        text = re.sub(r'"[^"]*/p2p/' + auditor_peer + r'",? ?', "", node.config_path.read_text())
        node.config_path.write_text(text.replace(", ]", "]"))
    auditor_config = net.layout.nodes[4].config_path
    auditor_config.write_text(auditor_config.read_text().replace('role = "validator"', 'role = "auditor"'))
    yield net
    net.stop_all()


def test_audit_node_follows_serves_reads_refuses_writes_and_never_seals(network):
    net = network
    validators, auditor = net.nodes[:4], net.nodes[4]
    for node in validators:
        node.start(wait=False)
    for node in validators:
        wait_for_ready(node.process, node.url, 60)
    net.wait_for_height(2, validators)
    a = validators[0]
    identity = net.layout.genesis.validators[4]

    # Not yet in the registry: an unknown libp2p identity is refused right after the handshake.
    auditor.process = spawn_settle(["node", "run", "--config", str(auditor.node.config_path)], auditor.log_path)
    wait_for_ready(auditor.process, auditor.url, 60)
    wait_until(lambda: identity.peer_id in a.log() and "not in the allow-list" in a.log(), 30,
               lambda: "validator 0 did not refuse the unknown peer\n" + a.log()[-2000:])
    # Refused, it learns nothing while the validators go on: two more of their blocks, still height 0.
    net.wait_for_height(a.height() + 2, validators)
    assert auditor.height() == 0

    # Voted in as an auditor (3 of 4 validators): it connects, syncs and keeps following.
    net.governance(a, 0, 0, "proposeAuditor(address,string)", ["address", "string"],
                [identity.address, identity.peer_id])
    net.governance(validators[1], 1, 0, "vote(uint256)", ["uint256"], [1])
    net.governance(validators[2], 2, 0, "vote(uint256)", ["uint256"], [1])
    tx_hash = net.transfer(a, 1, 0)
    net.wait_for_receipt(a, tx_hash)
    target = a.height() + 3
    wait_until(lambda: auditor.height() >= target, 90,
               lambda: f"audit node at {auditor.height()}, want {target}\n" + auditor.log()[-3000:])

    # Reads are served.
    assert auditor.call("eth_getTransactionReceipt", [tx_hash])["status"] == "0x1"
    assert int(auditor.call("eth_getBalance", [SIGNER.accounts[9].address, "latest"]), 16) > 0
    assert auditor.call("bft_getValidatorsByBlockNumber", ["latest"]) == a.call("bft_getValidatorsByBlockNumber",
                                                                                 ["latest"])
    # Every write is refused with a clear error.
    fields = {"chainId": net.chain_id, "nonce": 1, "to": SIGNER.accounts[9].address, "value": 1, "gas": 21000,
              "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "type": 2}
    raw = "0x" + bytes(Account.sign_transaction(fields, SIGNER.accounts[1].key).raw_transaction).hex()
    for method, params in (("eth_sendRawTransaction", [raw]),
                           ("eth_sendTransaction", [{"from": SIGNER.accounts[1].address}]),
                           ("eth_sign", [SIGNER.accounts[1].address, "0x00"]), ("evm_mine", [])):
        error = rpc(auditor.url, method, params)["error"]
        assert error["code"] == -32000 and error["message"].startswith(f"read-only audit node: {method}"), error

    # Never in a certificate, never counted: every certificate's signers are validators.
    auditor_address = "0x" + identity.address.hex()
    head = auditor.height()
    for number in range(1, head + 1):
        signers = [s.lower() for s in auditor.call("bft_getCertificate", [hex(number)])["signers"]]
        assert auditor_address not in signers and len(signers) >= 3
    assert "proposing block" not in auditor.log()

    # audit_report over RPC: everything verified, the auditor's own admission among the changes seen.
    report = auditor.call("audit_report")
    assert report["ok"] is True and report["first_discrepancy"] is None
    assert report["to_height"] >= head and report["certificates_checked"] == report["to_height"]
    assert report["anchors"] == "not configured"
    assert "AuditorChanged" in {change["event"] for change in report["permission_changes"]}
    assert len(report["validator_changes"]) == 1 and len(report["validator_changes"][0]["validators"]) == 4

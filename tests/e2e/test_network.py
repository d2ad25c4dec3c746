"""Four validators as real processes over libp2p: crashes, restarts, sync and agreement."""
from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import subprocess

import pytest

from consensus.certificate import CommitCertificate, verify_certificate
from genesis.loader import genesis_to_json
from node.service import validator_set
from tests.e2e.network import Network
from tests.e2e.node_process import SETTLE, WatchedProcess, head_feeds, wait_for_output, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def network(tmp_path):
    net = Network(tmp_path / "net", validators=4, block_period_ms=250)
    yield net
    net.stop_all()


def _assert_agreement(net: Network) -> int:
    """Every node has the same block at every height, and every certificate verifies."""
    validators = validator_set(net.layout.genesis)
    heights = [node.height() for node in net.nodes]
    top = min(heights)
    for number in range(1, top + 1):
        hashes = {node.call("eth_getBlockByNumber", [hex(number), False])["hash"] for node in net.nodes}
        assert len(hashes) == 1, f"nodes disagree at height {number}: {hashes}"
        (block_hash,) = hashes
        for node in net.nodes:
            certificate = node.call("bft_getCertificate", [hex(number)])
            decoded = CommitCertificate.decode(bytes.fromhex(certificate["raw"][2:]))
            assert decoded.height == number and "0x" + decoded.block_hash.hex() == block_hash
            verify_certificate(decoded, validators, net.chain_id)
            assert len(certificate["signers"]) >= validators.quorum
    return top


def test_four_validators_survive_crashes_and_agree(network):
    net = network
    net.start_all()
    a, b, c, d = net.nodes
    net.wait_for_height(2)
    status = a.call("bft_status")
    assert status["validators"] == 4 and status["quorum"] == 3
    assert a.call("net_peerCount") == "0x3"

    # 1. Transactions sent through different nodes reach the proposer and commit everywhere.
    hashes = [net.transfer(node, sender, 0) for sender, node in enumerate(net.nodes)]
    for tx_hash in hashes:
        receipt = net.wait_for_receipt(d, tx_hash)
        assert receipt["status"] == "0x1"

    # 2. One validator killed: the other three (a quorum) keep committing.
    d.kill()
    height = a.height()
    net.wait_for_height(height + 3, [a, b, c])
    receipt = net.wait_for_receipt(b, net.transfer(c, 0, 1))
    assert receipt["status"] == "0x1"

    # 3. Restarted on an empty data dir, it catches up from genesis by sync and takes part again.
    shutil.rmtree(d.node.directory / "data")
    d.start()
    net.wait_for_height(a.height() + 2, [a, b, c, d])

    # 4. Two killed: no quorum, so no commits; one back: commits resume.
    c.kill()
    d.kill()
    # A commit in flight when they died reaches both survivors, or neither.
    wait_until(lambda: a.height() == b.height(), 30, lambda: "the two survivors never agreed on their head")
    stalled = max(a.height(), b.height())
    # They keep trying: the round times out and changes.
    wait_until(lambda: a.call("bft_status")["round"] >= 1, 60, lambda: "no round change without a quorum")
    assert max(a.height(), b.height()) == stalled  # but with 2 of 4 validators nothing commits
    c.start()
    net.wait_for_height(stalled + 2, [a, b, c], timeout=90)

    # 5. All four killed and restarted: the chain resumes with no manual step.
    top = max(node.height() for node in (a, b, c))
    for node in (a, b, c):
        node.kill()
    assert net.live() == []
    net.start_all()
    net.wait_for_height(top + 3, timeout=120)
    receipt = net.wait_for_receipt(a, net.transfer(b, 4, 0))
    assert receipt["status"] == "0x1"

    # 6. Everyone agrees on every block, and every certificate verifies with the validator set alone.
    net.wait_for_height(max(node.height() for node in net.nodes))
    assert _assert_agreement(net) > 10


def test_node_with_another_genesis_is_refused(network, tmp_path):
    net = network
    for node in net.nodes[:3]:
        node.start()
    net.wait_for_height(1, net.nodes[:3])
    # node3 gets a genesis that differs from the network's (another chain id), same keys.
    stray = net.nodes[3]
    other = dataclasses.replace(net.layout.genesis, chain_id=net.chain_id + 1)
    other_path = tmp_path / "other-genesis.json"
    other_path.write_text(json.dumps(genesis_to_json(other)))
    config = stray.node.config_path.read_text().replace('"../genesis.json"', json.dumps(str(other_path)))
    assert config != stray.node.config_path.read_text()
    stray.node.config_path.write_text(config)
    result = subprocess.run(SETTLE + ["node", "run", "--config", str(stray.node.config_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "genesis file differs from the network's" in result.stderr
    assert "Traceback" not in result.stderr


def test_testnet_up_starts_every_validator_and_ctrl_c_stops_them(tmp_path):
    net = Network(tmp_path / "up", validators=4, block_period_ms=250)
    process = WatchedProcess(SETTLE + ["testnet", "up", str(net.layout.out_dir)], tmp_path / "up.log")
    try:
        # `testnet up` owns the validators and reads their output; it says when all of them are ready.
        wait_for_output(process, "all 4 validators ready", 90)
        for node in net.nodes:
            assert f"{node.node.directory.name} ready" in process.output()
            node.process = process
        with head_feeds(node.ws_url for node in net.nodes):
            net.wait_for_height(2, timeout=90)
        assert len({node.call("eth_getBlockByNumber", ["0x2", False])["hash"] for node in net.nodes}) == 1
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
    output = process.output()
    assert process.returncode == 0, output
    for node in net.nodes:
        assert f"rpc {node.url}" in output
        assert "node ready" in node.log()  # the supervisor copied each validator's output to its log
    assert "4 validators running" in output and "stopping validators" in output
    for node in net.nodes:  # every validator shut down cleanly, closing its store
        assert "chain store closed" in node.log()

"""Bitcoin anchoring end to end: four validators anchoring every 10 blocks into a real litecoind regtest node.

One network run covers, in order: anchors on both chains and records on Settle that
`settle anchor verify` accepts; an OpenTimestamps proof the standard `ots` client
verifies (and one flipped byte it refuses); a Bitcoin outage caught up without
duplicates; SIGKILL of the validator on duty right after it sent its anchor; and a
rewritten copy of the chain that `settle anchor verify` rejects, naming the height.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bitcoin_node import LitecoinNode, poll_until
from tests.e2e.anchoring import bitcoin_anchor_counts, configure_anchor
from tests.e2e.network import Network, ValidatorProcess
from tests.e2e.node_process import SETTLE

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

OTS = str(Path(sys.executable).with_name("ots"))
INTERVAL = 10


@pytest.fixture
def litecoin(tmp_path):
    node = LitecoinNode(tmp_path / "litecoin").start()
    yield node
    node.stop()


@pytest.fixture
def network(tmp_path):
    net = Network(tmp_path / "net", validators=4, block_period_ms=300)
    yield net
    net.stop_all()


def settle(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SETTLE, *args], capture_output=True, text=True, timeout=120)


def records(node: ValidatorProcess) -> list[dict]:
    return node.call("anchor_getAnchors")


def recorded_heights(node: ValidatorProcess) -> list[int]:
    return [r["height"] for r in records(node)]


def wait_recorded(net: Network, node: ValidatorProcess, up_to: int, timeout: float = 180) -> None:
    """Every checkpoint up to ``up_to`` recorded, as seen by ``node``."""
    wanted = set(range(INTERVAL, up_to + 1, INTERVAL))
    poll_until(lambda: wanted <= set(recorded_heights(node)), timeout,
               lambda: f"checkpoints {sorted(wanted - set(recorded_heights(node)))} not recorded after {timeout}s\n"
               + "\n".join(f"--- node{n.node.index}\n{n.log()[-2500:]}" for n in net.nodes), interval=0.5)


def assert_no_duplicates(litecoin: LitecoinNode, net: Network, node: ValidatorProcess) -> None:
    heights = recorded_heights(node)
    assert len(heights) == len(set(heights)), heights
    counts = bitcoin_anchor_counts(litecoin, net.chain_id)
    assert counts and max(counts.values()) == 1, f"a checkpoint anchored twice in Bitcoin: {counts}"


def ots_verify(litecoin: LitecoinNode, digest: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OTS, "--no-cache", "--btc-regtest", "--bitcoin-node", litecoin.url_with_credentials,
                           "verify", "-d", digest, str(path)], capture_output=True, text=True, timeout=60)


def test_four_validators_anchor_into_bitcoin(tmp_path, litecoin, network):
    net = network
    litecoin.setup_miner()
    for node in net.nodes:
        wallet = f"validator{node.node.index}"
        litecoin.create_wallet(wallet)
        litecoin.fund(wallet)
        configure_anchor(node, litecoin, wallet)
    a, b, c, d = net.nodes
    with litecoin.mining(0.5):
        net.start_all()

        # 1. End to end: anchors in Bitcoin, records on Settle, on every node, and `settle anchor verify` passes.
        wait_recorded(net, a, 4 * INTERVAL)
        first = records(a)
        for node in net.nodes:
            assert records(node)[:len(first)] == first
        for record in first:
            block = a.call("eth_getBlockByNumber", [hex(record["height"]), False])
            assert record["blockHash"] == block["hash"]
            tx = litecoin.call("getblock", record["btcBlockHash"], 1)
            assert record["btcTxid"] in tx["tx"] and tx["height"] == record["btcBlockHeight"]
        recorders = {r["recorder"] for r in first}
        assert len(recorders) >= 2, f"the duty never rotated: {recorders}"
        assert_no_duplicates(litecoin, net, a)
        # b commits the block holding a's latest record a moment after a does: wait for it, bounded.
        poll_until(lambda: b.call("anchor_status")["lastAnchoredHeight"] >= 4 * INTERVAL, 30,
                   lambda: f"b's anchor status after 30 s: {b.call('anchor_status')}", interval=0.2)
        status = b.call("anchor_status")
        assert status["enabled"] and status["lastAnchoredHeight"] >= 4 * INTERVAL
        covering = a.call("anchor_getAnchorForBlock", [hex(INTERVAL + 5)])
        assert covering["height"] == 2 * INTERVAL and covering["covers"] == "hash chain to checkpoint"
        result = settle("anchor", "verify", "--rpc", a.url, "--bitcoin-rpc", litecoin.url_with_credentials,
                        "--confirmations", "2")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "MISMATCH" not in result.stdout and "anchor record(s) verified" in result.stdout
        result = settle("anchor", "verify", "--rpc", a.url, "--bitcoin-rpc", litecoin.url_with_credentials,
                        "--height", str(INTERVAL + 5))
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"covered by the anchor of checkpoint {2 * INTERVAL}" in result.stdout

        # 4. OpenTimestamps: a block between checkpoints is proven through the next checkpoint's hash.
        proof = tmp_path / "block15.ots"
        result = settle("anchor", "export-ots", "--rpc", a.url, "--height", str(INTERVAL + 5), "--out", str(proof))
        assert result.returncode == 0, result.stdout + result.stderr
        digest = covering["blockHash"][2:]
        verified = ots_verify(litecoin, digest, proof)
        assert verified.returncode == 0, verified.stderr
        assert f"Bitcoin block {covering['btcBlockHeight']} attests" in verified.stderr
        original = proof.read_bytes()
        for position in (len(original) // 2, len(original) - 3):
            flipped = bytearray(original)
            flipped[position] ^= 0x01
            proof.write_bytes(bytes(flipped))
            assert ots_verify(litecoin, digest, proof).returncode != 0, f"flip at byte {position} verified"
        proof.write_bytes(original)
        other = a.call("eth_getBlockByNumber", [hex(INTERVAL + 5), False])["hash"][2:]
        assert ots_verify(litecoin, other, proof).returncode != 0, "the proof must not vouch for another digest"

        # 2. Bitcoin outage: checkpoints pass while litecoind is down; all are anchored once it is back.
        litecoin.stop()
        outage_start = a.height()
        net.wait_for_height(outage_start + 2 * INTERVAL + 1, timeout=120)
        assert all("kind=unreachable" in n.log() for n in net.nodes)
        litecoin.start()
        missed = a.height() // INTERVAL * INTERVAL
        wait_recorded(net, a, missed)
        assert_no_duplicates(litecoin, net, a)

        # 5. SIGKILL of the validator on duty right after it sent an anchor: no lost checkpoint, no duplicate.
        seen = {n.node.index: len(n.process.lines()) for n in net.nodes}
        target = (a.height() // INTERVAL + 1) * INTERVAL

        def sender() -> ValidatorProcess | None:
            for n in net.nodes:
                if any("anchor transaction sent" in line and re.search(rf"height={target}\b", line)
                       for line in n.process.lines(seen[n.node.index])):
                    return n
            return None

        on_duty = poll_until(sender, 120, lambda: f"nobody anchored checkpoint {target}")
        on_duty.kill()
        assert (on_duty.node.directory / "data" / "anchor" / "pending.json").read_text().count(
            f'"height": {target}') == 1
        survivors = [n for n in net.nodes if n is not on_duty]
        wait_recorded(net, survivors[0], target, timeout=240)
        on_duty.start()
        top = a.height() // INTERVAL * INTERVAL
        wait_recorded(net, on_duty, top, timeout=240)
        assert_no_duplicates(litecoin, net, on_duty)
        poll_until(lambda: not on_duty.call("anchor_status")["inFlight"]
                   or all(e["height"] > top for e in on_duty.call("anchor_status")["inFlight"]), 60,
                   lambda: f"pending anchors kept after recording: {on_duty.call('anchor_status')}")

    # 3. Rewritten history: the same genesis and keys, a fresh chain (all validators colluding) served in
    # place of the real one. Checked against the records published earlier, verify names the height.
    published = tmp_path / "records.json"
    for node in (b, c, d):  # without a quorum a commits nothing more: its records and database stay as read
        node.stop()
    published.write_text(json.dumps(records(a)))
    net.stop_all()
    # The honest database, read directly (hashes recomputed from its headers, records from its state), passes.
    database = ["--datadir", str(a.node.directory / "data"), "--genesis", str(net.layout.genesis_path)]
    result = settle("anchor", "verify", *database, "--bitcoin-rpc", litecoin.url_with_credentials,
                    "--confirmations", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(json.loads(published.read_text()))} anchor record(s) verified" in result.stdout
    # settle audit report runs the same checks over the database it audits (issue 18 x 19) ...
    report = tmp_path / "audit.json"
    result = settle("audit", "report", *database, "--certificates-only", "--out", str(report),
                    "--bitcoin-rpc", litecoin.url_with_credentials, "--confirmations", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"bitcoin anchors: {len(json.loads(published.read_text()))} verified, 0 mismatch(es)" in result.stdout
    # ... and a record that fails them is the report's first discrepancy, named exactly.
    result = settle("audit", "report", *database, "--certificates-only", "--out", str(report),
                    "--bitcoin-rpc", litecoin.url_with_credentials, "--confirmations", "1000")
    assert result.returncode == 1, result.stdout + result.stderr
    first = json.loads(report.read_text())["first_discrepancy"]
    assert first["height"] == INTERVAL and first["field"] == "bitcoin anchor: bitcoin confirmations", first
    assert first["expected"] == "at least 1000", first
    for node in net.nodes:
        shutil.rmtree(node.node.directory / "data")
        configure_anchor(node, litecoin, f"validator{node.node.index}", enabled=False)
    net.start_all()
    net.wait_for_height(INTERVAL + 1, timeout=120)
    result = settle("anchor", "verify", "--rpc", a.url, "--records", str(published), "--bitcoin-rpc",
                    litecoin.url_with_credentials, "--confirmations", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(rf"MISMATCH height {INTERVAL}: block hash: expected 0x[0-9a-f]{{64}} \(anchored in Bitcoin\), "
                     rf"found 0x[0-9a-f]{{64}} \(local chain\)", result.stdout), result.stdout
    assert "ok height" not in result.stdout
    result = settle("anchor", "verify", "--rpc", a.url, "--records", str(published), "--bitcoin-rpc",
                    litecoin.url_with_credentials, "--height", "3")
    assert result.returncode == 1 and f"MISMATCH height {INTERVAL}: block hash" in result.stdout, result.stdout
    # The forged database handed over as a copy: the same verdict, from its own stored headers.
    net.stop_all()
    result = settle("anchor", "verify", *database, "--records", str(published), "--bitcoin-rpc",
                    litecoin.url_with_credentials, "--confirmations", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"MISMATCH height {INTERVAL}: block hash" in result.stdout, result.stdout

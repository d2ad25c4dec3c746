"""Bad Bitcoin input: no funds, an unreachable node, a wrong password. One clear log line and a metric each,
never a crash, and anchoring resumes once fixed. A real litecoind regtest node; one validator."""
from __future__ import annotations

import re
import subprocess

import pytest

from tests.bitcoin_node import LitecoinNode, poll_until
from tests.e2e.anchoring import configure_anchor, metric
from tests.e2e.network import Network
from tests.e2e.node_process import SETTLE, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

FAILED = "bitcoin RPC failed; anchoring waits"


@pytest.fixture
def litecoin(tmp_path):
    node = LitecoinNode(tmp_path / "litecoin").start()
    yield node
    node.stop()


def test_bad_bitcoin_input_is_logged_once_counted_and_recovered_from(tmp_path, litecoin):
    litecoin.setup_miner()
    litecoin.create_wallet("empty")
    net = Network(tmp_path / "net", validators=1, block_period_ms=300)
    (node,) = net.nodes
    metrics_port = free_port()
    configure_anchor(node, litecoin, "empty", interval_blocks=5, confirmations=1, metrics_port=metrics_port)

    def errors(kind: str) -> float:
        return metric(metrics_port, "settle_anchor_bitcoin_rpc_errors_total", f'{{kind="{kind}"}}')

    def recorded() -> int:
        return node.call("anchor_status")["recordedCheckpoints"]

    def failure_lines(kind: str, since: int) -> list[str]:
        return [line for line in node.process.lines(since) if FAILED in line and f"kind={kind}" in line]

    def expect_one_line(kind: str, since: int) -> None:
        """Several failed polls, one warning line that names the problem, and the node still serving."""
        start = errors(kind)
        poll_until(lambda: errors(kind) >= start + 3, 60, lambda: f"no {kind} errors counted:\n{node.log()[-3000:]}")
        lines = failure_lines(kind, since)
        assert len(lines) == 1, lines
        assert "Traceback" not in "".join(node.process.lines(since))
        assert node.alive() and node.height() > 0
        assert node.call("anchor_status")["lastError"]["kind"] == kind

    with litecoin.mining(0.5):
        # 1. A wallet without funds.
        node.start()
        expect_one_line("funds", 0)
        assert "cannot pay for an anchor" in failure_lines("funds", 0)[0]
        litecoin.fund("empty")
        poll_until(lambda: recorded() >= 2, 90, lambda: f"no anchors after funding:\n{node.log()[-3000:]}")
        assert any("bitcoin RPC working again" in line for line in node.process.lines())

        # 2. The Bitcoin node unreachable, then back.
        mark = len(node.process.lines())
        litecoin.stop()
        expect_one_line("unreachable", mark)
        before = recorded()
        litecoin.start()
        poll_until(lambda: recorded() >= before + 2, 90, lambda: f"no anchors after the outage:\n{node.log()[-3000:]}")

        # 3. A wrong password: the node keeps running; fixed in the config, anchoring resumes.
        node.stop()
        configure_anchor(node, litecoin, "empty", interval_blocks=5, confirmations=1, metrics_port=metrics_port,
                         password="not-the-password")
        node.start()
        expect_one_line("auth", 0)
        line = failure_lines("auth", 0)[0]
        assert "refused the credentials" in line and "not-the-password" not in node.log()
        node.stop()
        configure_anchor(node, litecoin, "empty", interval_blocks=5, confirmations=1, metrics_port=metrics_port)
        node.start()
        before = recorded()
        poll_until(lambda: recorded() >= before + 2, 90, lambda: f"no anchors after the fix:\n{node.log()[-3000:]}")
    node.stop()


def test_an_anchor_dropped_by_a_bitcoin_reorg_is_sent_again_and_recorded_on_the_new_chain(tmp_path, litecoin):
    litecoin.setup_miner()
    litecoin.create_wallet("v0")
    litecoin.fund("v0")
    net = Network(tmp_path / "net", validators=1, block_period_ms=300)
    (node,) = net.nodes
    configure_anchor(node, litecoin, "v0", interval_blocks=5, confirmations=3)
    node.start()
    sent = poll_until(lambda: [line for line in node.process.lines() if "anchor transaction sent" in line
                               and re.search(r"height=5\b", line)], 60,
                      lambda: f"no anchor sent:\n{node.log()[-3000:]}")
    txid = sent[0].split("btc_txid=")[1].split()[0]
    orphaned = litecoin.mine(1)[0]
    assert txid in litecoin.call("getblock", orphaned, 1)["tx"]

    # The block is orphaned, and bitcoind restarts without its mempool and without wallet re-broadcasts:
    # the anchor is nowhere in Bitcoin any more, only in the validator's pending file (the validator is
    # stopped meanwhile, or it would re-send at once).
    node.stop()
    litecoin.call("invalidateblock", orphaned)
    litecoin.stop()
    litecoin.start("-persistmempool=0", "-walletbroadcast=0")
    assert litecoin.call("getbestblockhash") != orphaned and txid not in litecoin.call("getrawmempool")
    node.start()
    with litecoin.mining(0.5):
        poll_until(lambda: 5 in [r["height"] for r in node.call("anchor_getAnchors")], 90,
                   lambda: f"checkpoint 5 not recorded after the reorg:\n{node.log()[-3000:]}")
    assert any("anchor transaction re-sent" in line and re.search(r"height=5\b", line)
               for line in node.process.lines())
    (record,) = [r for r in node.call("anchor_getAnchors") if r["height"] == 5]
    assert record["btcTxid"] == txid, "the same transaction, re-sent, not a second anchor"
    assert record["btcBlockHash"] != orphaned
    assert litecoin.call("getblockhash", record["btcBlockHeight"]) == record["btcBlockHash"]
    # The verifier takes the Bitcoin node, credentials and confirmations from the validator's own config.
    result = subprocess.run([*SETTLE, "anchor", "verify", "--rpc", node.url, "--config", str(node.node.config_path),
                             "--height", "3"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok height 5:" in result.stdout and "covered by the anchor of checkpoint 5" in result.stdout
    node.stop()

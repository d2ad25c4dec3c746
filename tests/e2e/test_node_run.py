"""`settle testnet init` + `settle node run --config` as separate processes."""
from __future__ import annotations

import socket
import subprocess
import sys

from genesis.keys import generate_validator_keys, write_key_file
from tests.e2e.node_process import free_port, rpc, spawn_settle, wait_for_ready, wait_until

SETTLE = [sys.executable, "-m", "node.cli"]


def _init(tmp_path, validators: int):
    out = tmp_path / "net"
    port = free_port()
    result = subprocess.run(SETTLE + ["testnet", "init", "--validators", str(validators), "--out", str(out),
                                      "--base-rpc-port", str(port), "--base-p2p-port", str(free_port())],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return out, port


def test_single_validator_testnet_runs_from_its_config(tmp_path):
    out, port = _init(tmp_path, 1)
    process = spawn_settle(["node", "run", "--config", str(out / "node0" / "config.toml")], tmp_path / "node0.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_ready(process, url, 30)
        assert rpc(url, "eth_chainId")["result"] == "0x539"
        # The data dir from the config holds the chain.
        assert (out / "node0" / "data" / "chain").is_dir()
        assert rpc(url, "eth_accounts")["result"] == []  # no unlocked keys outside dev mode
        # A validator network makes a block every period (1 s here), empty or not, each with a certificate.
        wait_until(lambda: int(rpc(url, "eth_blockNumber")["result"], 16) >= 2, 30,
                   lambda: "the single validator made no 2 blocks in 30 s")
        certificate = rpc(url, "bft_getCertificate", ["0x1"])["result"]
        assert certificate["blockNumber"] == "0x1" and len(certificate["signers"]) == 1
        assert rpc(url, "bft_getCertificate", ["0x0"])["result"] is None
    finally:
        process.terminate()
        assert process.wait(20) == 0


def _refused_stderr(config) -> str:
    """Run ``settle node run`` on ``config``; it must exit 1 with a message, not a traceback."""
    result = subprocess.run(SETTLE + ["node", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    return result.stderr


def test_foreign_key_is_refused(tmp_path):
    out, _ = _init(tmp_path, 4)
    stranger = generate_validator_keys(b"not a validator")
    key_path = out / "node1" / "keys" / "account.key"
    key_path.unlink()
    write_key_file(key_path, stranger.account_key)
    assert "is not a validator in the genesis" in _refused_stderr(out / "node1" / "config.toml")


def test_validator_with_another_validators_bls_key_is_refused(tmp_path):
    out, _ = _init(tmp_path, 4)
    (out / "node1" / "keys" / "bls.key").write_bytes((out / "node2" / "keys" / "bls.key").read_bytes())
    assert "does not match the genesis entry of validator" in _refused_stderr(out / "node1" / "config.toml")


def test_p2p_port_in_use_is_a_clear_error(tmp_path):
    out, _ = _init(tmp_path, 4)
    listen = [line for line in (out / "node0" / "config.toml").read_text().splitlines() if line.startswith("listen")]
    port = int(listen[0].split("/tcp/")[1].strip('"'))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        stderr = _refused_stderr(out / "node0" / "config.toml")
    assert f"cannot listen on /ip4/127.0.0.1/tcp/{port}" in stderr

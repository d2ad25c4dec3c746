"""`settle testnet init` + `settle node run --config` as separate processes."""
from __future__ import annotations

import os
import subprocess
import sys

from genesis.keys import generate_validator_keys, write_key_file
from tests.e2e.node_process import free_port, rpc, wait_for_rpc

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
    process = subprocess.Popen(SETTLE + ["node", "run", "--config", str(out / "node0" / "config.toml")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_rpc(url, process, 30, lambda: "")
        assert rpc(url, "eth_chainId")["result"] == "0x539"
        # The data dir from the config holds the chain.
        assert (out / "node0" / "data" / "chain").is_dir()
        assert rpc(url, "eth_blockNumber")["result"] == "0x0"
        assert rpc(url, "eth_accounts")["result"] == []  # no unlocked keys outside dev mode
    finally:
        process.terminate()
        assert process.wait(20) == 0


def test_multi_validator_genesis_and_foreign_key_are_refused(tmp_path):
    out, _ = _init(tmp_path, 4)
    result = subprocess.run(SETTLE + ["node", "run", "--config", str(out / "node0" / "config.toml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "has 4 validators" in result.stderr and "Traceback" not in result.stderr

    stranger = generate_validator_keys(b"not a validator")
    key_path = out / "node1" / "keys" / "account.key"
    key_path.unlink()
    write_key_file(key_path, stranger.account_key)
    result = subprocess.run(SETTLE + ["node", "run", "--config", str(out / "node1" / "config.toml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "is not a validator in the genesis" in result.stderr

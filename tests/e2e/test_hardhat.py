"""A Hardhat project's test suite, `npx hardhat test --network settle`, against a real `settle node dev`.

tests/e2e/hardhat holds the project (Hardhat 2, pinned with its lock file): one
contract and one test that deploys it, reads an event, expects a custom-error
revert and uses evm_increaseTime, evm_mine, evm_snapshot and evm_revert. It
compiles offline with the npm `solc` package (solcjs) instead of the compiler
Hardhat would download. `npm ci` runs there when node_modules is missing or
stale (scripts/test runs it up front). A missing Node.js or a failed install
fails the test: it never skips.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from web3 import Web3

from tests.e2e.node_process import rpc

pytestmark = pytest.mark.e2e

HARDHAT_DIR = Path(__file__).parent / "hardhat"


def _installed(package: str) -> str | None:
    manifest = HARDHAT_DIR / "node_modules" / package / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.exists() else None


def ensure_hardhat_installed() -> str:
    """`npm ci` in tests/e2e/hardhat unless the pinned packages are there; returns npx's path."""
    npm, npx = shutil.which("npm"), shutil.which("npx")
    if npm is None or npx is None:
        pytest.fail("Node.js and npm are required for tests/e2e/test_hardhat.py (not found on PATH)")
    pinned = json.loads((HARDHAT_DIR / "package.json").read_text())["devDependencies"]
    if any(_installed(package) != version for package, version in pinned.items()):
        result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HARDHAT_DIR, capture_output=True,
                                text=True, timeout=600)
        if result.returncode != 0:
            pytest.fail(f"npm ci in {HARDHAT_DIR} failed:\n{result.stdout}\n{result.stderr}")
    return npx


def test_hardhat_project_tests_pass_against_a_dev_node(dev_node, tmp_path: Path) -> None:
    npx = ensure_hardhat_installed()
    env = {**os.environ, "SETTLE_RPC_URL": dev_node.url, "HARDHAT_OUT_DIR": str(tmp_path / "hardhat-out"),
           "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true", "CI": "true"}
    result = subprocess.run([npx, "hardhat", "test", "--network", "settle"], cwd=HARDHAT_DIR, env=env,
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 passing" in output and "failing" not in output, output
    # It ran on this node: the deployment is in the chain (the test's later blocks were reverted).
    w3 = Web3(Web3.HTTPProvider(dev_node.url))
    deployments = [tx for n in range(1, w3.eth.block_number + 1)
                   for tx in w3.eth.get_block(n, full_transactions=True).transactions if tx["to"] is None]
    assert deployments, "no contract deployment reached the node"
    assert rpc(dev_node.url, "eth_chainId")["result"] == "0x539"

"""ethers.js v6, as a real client of a real `settle node dev` process.

tests/e2e/ethers/flow.mjs does the work (deploy, transfer, receipt logs,
queryFilter, revert reasons, a WebSocket subscription) and prints its results as
one JSON line; this test checks the values and cross-checks them over web3.py
and raw JSON-RPC.

Needs Node.js (>= 18) and npm. The pinned ethers is installed with `npm ci` in
tests/e2e/ethers when node_modules is missing or stale; CI can run that step
up front. A missing Node.js or a failed install fails the test: it never skips.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from web3 import Web3

from contracts.compiler import load_artifact
from tests.e2e.node_process import rpc

pytestmark = pytest.mark.e2e

ETHERS_DIR = Path(__file__).parent / "ethers"
ARTIFACT = Path(__file__).resolve().parents[2] / "contracts" / "build" / "SettleTestToken.json"

ACCOUNT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ACCOUNT_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ZERO_ADDRESS = "0x" + "00" * 20
# Must match flow.mjs.
INITIAL_SUPPLY = 1_000_000 * 10**18
AMOUNT_1 = 1234_500_000_000_000_000_000  # 1234.5 tokens
AMOUNT_2 = 42 * 10**18
REASON = "SettleTestToken: deliberate failure"


def _pinned_ethers_version() -> str:
    return json.loads((ETHERS_DIR / "package.json").read_text())["dependencies"]["ethers"]


def _installed_ethers_version() -> str | None:
    installed = ETHERS_DIR / "node_modules" / "ethers" / "package.json"
    return json.loads(installed.read_text())["version"] if installed.exists() else None


def ensure_ethers_installed() -> str:
    """`npm ci` in tests/e2e/ethers unless the pinned ethers is already there; returns node's path."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("Node.js and npm are required for tests/e2e/test_ethers.py (not found on PATH)")
    if _installed_ethers_version() != _pinned_ethers_version():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=ETHERS_DIR,
            capture_output=True, text=True, timeout=600,
        )
        if result.returncode != 0:
            pytest.fail(f"`npm ci` in {ETHERS_DIR} failed ({result.returncode}):\n"
                        f"{result.stdout}\n{result.stderr}")
        if _installed_ethers_version() != _pinned_ethers_version():
            pytest.fail(f"`npm ci` in {ETHERS_DIR} did not install ethers {_pinned_ethers_version()}")
    return node


def run_flow(node: str, url: str, ws_url: str) -> dict:
    try:
        result = subprocess.run(
            [node, "flow.mjs", url, str(ARTIFACT), ws_url],
            cwd=ETHERS_DIR, capture_output=True, text=True, timeout=150,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"flow.mjs did not finish in {exc.timeout}s:\n{exc.stdout}\n{exc.stderr}")
    if result.returncode != 0:
        pytest.fail(f"flow.mjs exited {result.returncode}:\n{result.stderr}\n{result.stdout}")
    lines = result.stdout.strip().splitlines()
    assert lines, f"flow.mjs printed nothing; stderr:\n{result.stderr}"
    return json.loads(lines[-1])


def test_ethers_v6_flow(dev_node):
    node = ensure_ethers_installed()
    out = run_flow(node, dev_node.url, dev_node.ws_url)

    assert out["ok"] is True
    assert out["ethers"] == _pinned_ethers_version()
    assert out["chainId"] == "1337"
    assert out["deployer"] == ACCOUNT_0
    assert out["recipient"] == ACCOUNT_1
    assert out["amounts"] == [str(AMOUNT_1), str(AMOUNT_2)]

    # The Transfer log parsed from the first transfer's receipt.
    assert out["transferEvent"] == {"from": ACCOUNT_0, "to": ACCOUNT_1, "value": str(AMOUNT_1)}
    assert out["balancesAfterTransfer"] == {
        "deployer": str(INITIAL_SUPPLY - AMOUNT_1), "recipient": str(AMOUNT_1),
    }

    # queryFilter(Transfer): the mint, then the transfer.
    mint, transfer = out["queryFilter"]
    assert (mint["from"], mint["to"], mint["value"]) == (ZERO_ADDRESS, ACCOUNT_0, str(INITIAL_SUPPLY))
    assert mint["transactionHash"] == out["deployTx"] and mint["blockNumber"] == out["deployBlock"]
    assert (transfer["from"], transfer["to"], transfer["value"]) == (ACCOUNT_0, ACCOUNT_1, str(AMOUNT_1))
    assert transfer["transactionHash"] == out["transferTx"]
    assert transfer["blockNumber"] == out["transferBlock"]

    # Revert data decoded by ethers, from eth_call and from eth_estimateGas.
    assert out["revertReason"] == REASON
    assert out["estimateGasRevertReason"] == REASON
    assert out["customError"] == {"name": "DeliberateFailure", "args": ["4242"]}

    # The second transfer, received through eth_subscribe("logs") over WebSocket.
    assert out["wsEvent"]["from"] == ACCOUNT_0
    assert out["wsEvent"]["to"] == ACCOUNT_1
    assert out["wsEvent"]["value"] == str(AMOUNT_2)
    assert out["wsEvent"]["transactionHash"] == out["secondTransferTx"]
    assert out["finalBalances"] == {
        "deployer": str(INITIAL_SUPPLY - AMOUNT_1 - AMOUNT_2), "recipient": str(AMOUNT_1 + AMOUNT_2),
    }

    # Cross-check against the node directly: raw JSON-RPC receipts...
    for key in ("deployTx", "transferTx", "secondTransferTx"):
        receipt = rpc(dev_node.url, "eth_getTransactionReceipt", [out[key]])["result"]
        assert receipt is not None and receipt["status"] == "0x1", (key, receipt)
    deploy_receipt = rpc(dev_node.url, "eth_getTransactionReceipt", [out["deployTx"]])["result"]
    assert Web3.to_checksum_address(deploy_receipt["contractAddress"]) == out["token"]
    second = rpc(dev_node.url, "eth_getTransactionReceipt", [out["secondTransferTx"]])["result"]
    assert int(second["blockNumber"], 16) == out["wsEvent"]["blockNumber"]

    # ...and web3.py reading the same contract state.
    w3 = Web3(Web3.HTTPProvider(dev_node.url))
    token = w3.eth.contract(address=out["token"], abi=load_artifact("SettleTestToken").abi)
    assert token.functions.balanceOf(ACCOUNT_1).call() == AMOUNT_1 + AMOUNT_2
    assert token.functions.balanceOf(ACCOUNT_0).call() == INITIAL_SUPPLY - AMOUNT_1 - AMOUNT_2
    assert token.functions.totalSupply().call() == INITIAL_SUPPLY

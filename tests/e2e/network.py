"""A local validator network of real `settle node run` processes, for end-to-end tests."""
from __future__ import annotations

import signal
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from eth_abi import encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from genesis.keys import read_validator_keys
from genesis.model import DEFAULT_REGISTRY_ADDRESS
from genesis.testnet import TestnetLayout, TestnetNode, init_testnet
from tests.e2e.node_process import (
    WatchedProcess,
    free_port_range,
    read_log,
    rpc,
    spawn_settle,
    terminate,
    wait_for_ready,
    wait_until,
)
from tests.helpers import SIGNER


@dataclass
class ValidatorProcess:
    node: TestnetNode
    process: WatchedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.node.rpc_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.node.rpc_port}"

    @property
    def log_path(self) -> Path:
        return self.node.directory / "node.log"

    def log(self) -> str:
        return read_log(self.log_path)

    def start(self, wait: bool = True) -> ValidatorProcess:
        self.process = spawn_settle(["node", "run", "--config", str(self.node.config_path)], self.log_path)
        if wait:
            wait_for_ready(self.process, self.url, 60)
        return self

    def kill(self) -> None:
        assert self.process is not None
        terminate(self.process, signal.SIGKILL, 10)

    def stop(self) -> int:
        assert self.process is not None
        try:
            return terminate(self.process)
        except subprocess.TimeoutExpired:  # killed instead; the caller only wants it gone
            return self.process.returncode

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def call(self, method: str, params: list | None = None):
        response = rpc(self.url, method, params or [])
        assert "error" not in response, (method, response)
        return response["result"]

    def height(self) -> int:
        return int(self.call("eth_blockNumber"), 16)


class Network:
    """`settle testnet init` output plus one process per validator."""

    def __init__(self, directory: Path, validators: int, block_period_ms: int,
                 p2p: dict[str, object] | None = None) -> None:
        """``p2p``: extra ``[p2p]`` settings written into every node's config (benchmarks compare them)."""
        base = free_port_range(2 * validators)  # one range, so RPC and p2p ports never collide
        p2p_base, rpc_base = base, base + validators
        self.layout: TestnetLayout = init_testnet(
            directory, validators, base_p2p_port=p2p_base, base_rpc_port=rpc_base,
            block_period_ms=block_period_ms, funded_accounts=SIGNER.addresses, seed=b"e2e network",
        )
        self.nodes = [ValidatorProcess(node) for node in self.layout.nodes]
        if p2p:
            for node in self.layout.nodes:
                config = tomllib.loads(node.config_path.read_text())
                config.setdefault("p2p", {}).update(p2p)
                node.config_path.write_text(tomli_w.dumps(config))
        self.chain_id = self.layout.genesis.chain_id

    def start_all(self) -> None:
        for node in self.nodes:
            node.start(wait=False)
        for node in self.nodes:
            wait_for_ready(node.process, node.url, 60)

    def stop_all(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                node.stop()

    def live(self) -> list[ValidatorProcess]:
        return [node for node in self.nodes if node.alive()]

    def wait_for_height(self, height: int, nodes: list[ValidatorProcess] | None = None,
                        timeout: float = 60.0) -> None:
        nodes = nodes if nodes is not None else self.live()

        def failure() -> str:
            heights = {node.node.index: node.height() for node in nodes}
            return (f"not all nodes reached height {height} in {timeout}s: {heights}\n"
                    + "\n".join(f"--- node{n.node.index}\n{n.log()[-3000:]}" for n in nodes))

        wait_until(lambda: all(node.height() >= height for node in nodes), timeout, failure)

    def transfer(self, node: ValidatorProcess, sender: int, nonce: int, value: int = 1) -> str:
        fields = {"chainId": self.chain_id, "nonce": nonce, "to": SIGNER.accounts[9].address, "value": value,
                  "gas": 21000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "type": 2}
        raw = Account.sign_transaction(fields, SIGNER.accounts[sender].key).raw_transaction
        return node.call("eth_sendRawTransaction", ["0x" + bytes(raw).hex()])

    def wait_for_receipt(self, node: ValidatorProcess, tx_hash: str, timeout: float = 60.0) -> dict:
        return wait_until(lambda: node.call("eth_getTransactionReceipt", [tx_hash]), timeout,
                          lambda: f"no receipt for {tx_hash} on node{node.node.index} after {timeout}s")

    def governance(self, node: ValidatorProcess, index: int, nonce: int, signature: str, types: list[str],
                   args: list[object]) -> str:
        """Validator ``index`` calls ``signature(args)`` on the permission registry through ``node``;
        waits for a successful receipt and returns its block number (hex)."""
        keys = read_validator_keys(self.layout.nodes[index].key_paths)
        data = function_signature_to_4byte_selector(signature) + encode(types, args)
        fields = {"chainId": self.chain_id, "nonce": nonce, "to": to_checksum_address(DEFAULT_REGISTRY_ADDRESS),
                  "value": 0, "gas": 2_000_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "type": 2,
                  "data": data}
        raw = Account.sign_transaction(fields, keys.account_key).raw_transaction
        receipt = self.wait_for_receipt(node, node.call("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]))
        assert receipt["status"] == "0x1", receipt
        return str(receipt["blockNumber"])

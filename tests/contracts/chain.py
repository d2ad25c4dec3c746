"""A web3.py session on a real `settle node dev` process, for the contract suite's tests.

`Chain` wraps what every contract test does: deploy a committed artifact, send a transaction from
one of the dev chain's unlocked accounts and wait for its receipt, move the chain's clock with
`evm_increaseTime` + `evm_mine`, and check that a call reverts with a named custom error (matched
by its 4-byte selector against every committed ABI).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import decode
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError

from contracts.compiler import available_artifacts, load_artifact
from contracts.deploy import deploy, send

DEPLOY_GAS = 8_000_000
TX_GAS = 3_000_000
"""Fixed gas for test transactions: estimating re-executes each call dozens of times on the node."""


def _error_table() -> dict[bytes, tuple[str, list[str]]]:
    """selector -> (error name, argument types) over every committed ABI."""
    table: dict[bytes, tuple[str, list[str]]] = {}
    for name in available_artifacts():
        for item in load_artifact(name).abi:
            if item["type"] == "error":
                types = [_abi_type(i) for i in item["inputs"]]
                table[keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (item["name"], types)
    return table


def _abi_type(spec: dict[str, Any]) -> str:
    if spec["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in spec["components"]) + ")" + spec["type"][5:]
    return spec["type"]


ERRORS = _error_table()


def decode_error(data: bytes | str) -> tuple[str, tuple[Any, ...]]:
    """Name and arguments of a custom-error revert payload."""
    raw = bytes.fromhex(data[2:]) if isinstance(data, str) else bytes(data)
    name, types = ERRORS[raw[:4]]
    return name, tuple(decode(types, raw[4:]))


@dataclass
class Chain:
    w3: Web3

    @property
    def accounts(self) -> list[str]:
        return self.w3.eth.accounts

    def deploy(self, name: str, *args: Any, sender: str | None = None) -> Contract:
        deployment = deploy(self.w3, name, *args, sender=sender or self.accounts[0], gas=DEPLOY_GAS)
        return self.w3.eth.contract(address=deployment.address, abi=load_artifact(name).abi)

    def tx(self, call: Any, sender: str) -> Any:
        """Send ``call`` from ``sender``; return its receipt (a failure raises)."""
        return send(self.w3, call, sender=sender, gas=TX_GAS)

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def advance(self, seconds: int) -> int:
        """Move chain time at least ``seconds`` past the latest block and mine; return the new timestamp.

        `evm_increaseTime` shifts the node's clock, but the chain may be ahead of that clock (an
        earlier `evm_mine` with a timestamp, or the node's clock read a moment ago), so the lead is
        added too.
        """
        before = self.now()
        offset = int(self.w3.provider.make_request("evm_increaseTime", [0])["result"], 16)
        lead = max(0, before - (int(time.time()) + offset)) + 1
        self.w3.provider.make_request("evm_increaseTime", [seconds + lead])
        after = self.mine()
        assert after >= before + seconds, (before, after, seconds)
        return after

    def mine(self) -> int:
        self.w3.provider.make_request("evm_mine", [])
        return self.now()

    def reverts(self, call: Any, sender: str, error: str) -> tuple[Any, ...]:
        """Assert sending ``call`` from ``sender`` reverts with custom error ``error``; return its args."""
        with pytest.raises((ContractCustomError, ContractLogicError)) as failure:
            call.transact({"from": sender})
        return self._check_error(failure.value, error)

    def call_reverts(self, call: Any, error: str) -> tuple[Any, ...]:
        """Assert the read-only ``call`` reverts with custom error ``error``; return its args."""
        with pytest.raises((ContractCustomError, ContractLogicError)) as failure:
            call.call()
        return self._check_error(failure.value, error)

    @staticmethod
    def _check_error(failure: Exception, error: str) -> tuple[Any, ...]:
        data = getattr(failure, "data", None)
        assert data, f"expected {error}, got a revert without data: {failure}"
        name, args = decode_error(data)
        assert name == error, f"expected {error}, got {name}{args}"
        return args

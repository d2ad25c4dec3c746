"""Fixtures for the contract suite: one real `settle node dev` process for the whole run.

Every test deploys its own contracts (and computes times from the chain's current timestamp), so
sharing one chain does not let tests see each other's state; it saves a node start per module.
"""
from __future__ import annotations

import pytest
from web3 import Web3

from tests.contracts.chain import Chain
from tests.e2e.node_process import DevNode

BLOCK_PERIOD = 0.05
"""Seconds between blocks: short, since every step of a contract test waits for a receipt."""


def start_chain(tmp_path_factory: pytest.TempPathFactory, name: str) -> tuple[DevNode, Chain]:
    node = DevNode(tmp_path_factory.mktemp(name) / "chain", block_period=BLOCK_PERIOD).start()
    return node, Chain(Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30})))


@pytest.fixture(scope="session")
def chain(tmp_path_factory):
    """A web3 session on a dev node shared by every contract test."""
    node, session = start_chain(tmp_path_factory, "chain")
    yield session
    if node.alive():
        node.stop()

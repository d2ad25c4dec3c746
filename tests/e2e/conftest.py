from __future__ import annotations

import pytest

from tests.e2e.node_process import DevNode


@pytest.fixture
def dev_node(tmp_path):
    """A fresh `settle node dev` process on a free port, stopped after the test."""
    node = DevNode(tmp_path / "chain").start()
    yield node
    if node.alive():
        node.stop()


@pytest.fixture
def node_factory(tmp_path):
    """Start dev nodes on demand (for restart tests); all are stopped at the end."""
    started: list[DevNode] = []

    def start(data_dir=None, port=None) -> DevNode:
        node = DevNode(data_dir or tmp_path / "chain")
        if port is not None:
            node.port = port
        started.append(node.start())
        return node

    yield start
    for node in started:
        if node.alive():
            node.stop()

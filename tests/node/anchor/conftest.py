from __future__ import annotations

import pytest

from tests.bitcoin_node import LitecoinNode


@pytest.fixture(scope="module")
def litecoin(tmp_path_factory):
    """A litecoind regtest node with a mature miner wallet and a funded "anchor" wallet."""
    node = LitecoinNode(tmp_path_factory.mktemp("litecoin")).start()
    try:
        node.setup_miner()
        node.create_wallet("anchor")
        node.fund("anchor")
        yield node
    finally:
        node.stop()

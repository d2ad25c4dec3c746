from __future__ import annotations

import pytest

from tests.duo.support import ADMIN_ACCOUNTS, Chain
from tests.e2e.node_process import DevNode


@pytest.fixture(scope="module")
def duo_node(tmp_path_factory):
    """One `settle node dev` process per test module (DUO tests deploy fresh contracts each time)."""
    node = DevNode(tmp_path_factory.mktemp("duo") / "chain").start()
    yield node
    if node.alive():
        node.stop()


@pytest.fixture(scope="module")
def chain(duo_node) -> Chain:
    chain = Chain(duo_node.url)
    chain.fund([a.address for a in ADMIN_ACCOUNTS], 100 * 10**18)
    return chain

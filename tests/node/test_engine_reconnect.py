"""The engine re-sends its round's messages to a peer that (re)connects (issue 26, convergence after a heal)."""

from __future__ import annotations

from pathlib import Path

import trio

from consensus.events import TimeoutFired
from consensus.messages import MessageKind, decode
from node.backend import Backend
from node.dev import dev_genesis, dev_validator_keys
from node.engine import ConsensusEngine
from node.service import NodeSettings, consensus_config
from node.store import ChainStore
from tests.helpers import SIGNER, RecordingNetwork


async def test_a_reconnected_peer_gets_this_rounds_round_change_again(tmp_path: Path) -> None:
    genesis = dev_genesis(SIGNER)
    settings = NodeSettings(data_dir=tmp_path / "chain", genesis=genesis, keys=dev_validator_keys(), signer=SIGNER)
    store = ChainStore(settings.data_dir, genesis)
    try:
        backend = Backend(store, coinbase=b"\x00" * 20)
        config = consensus_config(settings)
        network = RecordingNetwork()
        engine = ConsensusEngine(backend, config, network=network, empty_blocks=False)
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            engine.feed(TimeoutFired(1, 0, "round"))  # round 0 timed out: ROUND-CHANGE for round 1 is sent
            await trio.sleep(0.05)
            sent = list(network.published)
            round_changes = [raw for raw in sent if decode(raw, config.chain_id).kind == MessageKind.ROUND_CHANGE]
            assert len(round_changes) == 1 and engine.state.round == 1

            await engine.on_peer_ready("12D3KooWpeer")
            await trio.sleep(0.05)
            assert network.published[len(sent):] == [message.raw for message in engine.state.sent]
            assert round_changes[0] in network.published[len(sent):]
            nursery.cancel_scope.cancel()
    finally:
        store.close()

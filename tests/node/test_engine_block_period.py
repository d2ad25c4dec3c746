"""The proposer's block period counts from the previous height's proposal, not from its commit (issue 21)."""

from __future__ import annotations

import time
from pathlib import Path

from consensus.actions import ScheduleTimeout
from node.backend import Backend
from node.dev import dev_genesis, dev_validator_keys
from node.engine import ConsensusEngine
from node.service import NodeSettings, consensus_config
from node.store import ChainStore
from tests.helpers import SIGNER

PERIOD_MS = 200


def _engine(tmp_path: Path) -> tuple[ConsensusEngine, ChainStore]:
    genesis = dev_genesis(SIGNER)
    settings = NodeSettings(data_dir=tmp_path / "chain", genesis=genesis, keys=dev_validator_keys(), signer=SIGNER)
    store = ChainStore(settings.data_dir, genesis)
    return ConsensusEngine(Backend(store, coinbase=b"\x00" * 20), consensus_config(settings)), store


def test_the_propose_wait_is_the_period_left_since_the_previous_proposal(tmp_path: Path) -> None:
    engine, store = _engine(tmp_path)
    try:
        propose = ScheduleTimeout(5, 0, "propose", PERIOD_MS)
        assert engine._timeout_delay_ms(propose) == PERIOD_MS  # nothing seen yet: the whole period

        engine._proposal_seen = (4, time.monotonic() - 0.15)  # height 4's proposal came 150 ms ago
        assert 0 < engine._timeout_delay_ms(propose) <= 50

        engine._proposal_seen = (4, time.monotonic() - 1.0)  # height 4 took longer than the period
        assert engine._timeout_delay_ms(propose) == 0

        engine._proposal_seen = (3, time.monotonic() - 1.0)  # not the previous height: the whole period
        assert engine._timeout_delay_ms(propose) == PERIOD_MS
        round_timer = ScheduleTimeout(5, 0, "round", 5000)
        engine._proposal_seen = (4, time.monotonic() - 1.0)
        assert engine._timeout_delay_ms(round_timer) == 5000  # only the propose wait is shortened
    finally:
        store.close()


def test_the_first_proposal_of_a_height_is_the_one_remembered(tmp_path: Path) -> None:
    engine, store = _engine(tmp_path)
    try:
        engine._note_proposal(7)
        first = engine._proposal_seen
        engine._note_proposal(7)  # a later round's proposal of the same height
        assert engine._proposal_seen == first
        engine._note_proposal(8)
        assert engine._proposal_seen is not None and engine._proposal_seen[0] == 8
    finally:
        store.close()

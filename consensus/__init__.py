"""Settle's BFT consensus (QBFT family) as a pure, deterministic state machine. No I/O.

The node drives it: ``state = initial_state(config, height, safety)``, then ``apply(state, event)``
for every event in order, carrying out the returned actions in order. See docs/consensus.md.
"""

from consensus.machine import apply, initial_state, round_timeout_ms
from consensus.state import ConsensusConfig, ConsensusState

__all__ = ["ConsensusConfig", "ConsensusState", "apply", "initial_state", "round_timeout_ms"]

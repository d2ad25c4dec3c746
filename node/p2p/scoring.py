"""What each peer may send us, and what it costs the peer to misbehave.

Validators are allowed peers, but an allowed peer can still be buggy or Byzantine. Two rules bound
what one of them can make us do:

* **a message budget** (token bucket): every message a peer brings us (a direct frame, a sync
  request) takes a token; tokens refill at ``rate`` per second up to
  ``burst``. A message without a token is dropped unread;
* **a score**: each offence adds points (a malformed message :data:`MALFORMED_PENALTY`, a message
  over budget :data:`RATE_LIMITED_PENALTY`), and points drain at ``decay`` per second. A peer that
  reaches ``ban_score`` is disconnected and refused for ``ban_seconds``; then it starts afresh.

Honest validators stay far below both: their messages are well-formed, and their rate is a few
dozen frames per second. The guard is synchronous and cheap, so stream handlers
call it inline; it never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio
from libp2p.peer.id import ID

MALFORMED_PENALTY = 25.0
"""Points for a message that does not decode (bad RLP, too deep, wrong fields): four in a row ban."""

RATE_LIMITED_PENALTY = 1.0
"""Points for each message dropped over the peer's budget: a sustained flood bans within seconds."""

WARNING_INTERVAL = 10.0
"""Seconds between two "over its message rate" warnings for one peer, so a flood is not also a log flood."""


@dataclass(slots=True)
class _PeerState:
    tokens: float
    refilled_at: float
    score: float = 0.0
    scored_at: float = 0.0
    banned_until: float = 0.0
    warned_at: float = float("-inf")
    dropped: int = 0


class PeerGuard:
    """Per-peer message budget, misbehaviour score and temporary bans. Owned by one P2PNetwork.

    ``on_ban(peer)`` is called once when a peer is banned (the network disconnects it); it must
    not block. ``clock`` defaults to trio's, so tests with a virtual clock see bans expire.
    """

    def __init__(self, *, rate: float, burst: int, ban_score: float, ban_seconds: float, decay: float,
                 log: Any, on_ban: Callable[[ID], None] | None = None,
                 clock: Callable[[], float] = trio.current_time) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._ban_score = ban_score
        self._ban_seconds = ban_seconds
        self._decay = decay
        self._log = log
        self._on_ban = on_ban
        self._clock = clock
        self._peers: dict[ID, _PeerState] = {}

    def _state(self, peer: ID, now: float) -> _PeerState:
        state = self._peers.get(peer)
        if state is None:
            state = self._peers[peer] = _PeerState(tokens=self._burst, refilled_at=now, scored_at=now)
        return state

    def allow(self, peer: ID) -> bool:
        """Take one token for a message from ``peer``; False (and a penalty) if it has none or is banned."""
        now = self._clock()
        state = self._state(peer, now)
        if state.banned_until > now:
            return False
        state.tokens = min(self._burst, state.tokens + (now - state.refilled_at) * self._rate)
        state.refilled_at = now
        if state.tokens >= 1.0:
            state.tokens -= 1.0
            return True
        state.dropped += 1
        if now - state.warned_at >= WARNING_INTERVAL:
            self._log.warning("peer over its message rate; messages dropped", peer=peer.to_base58(),
                              rate=self._rate, burst=int(self._burst), dropped=state.dropped)
            state.warned_at, state.dropped = now, 0
        self.penalise(peer, RATE_LIMITED_PENALTY, "message rate limit exceeded", log=False)
        return False

    def penalise(self, peer: ID, points: float, reason: str, *, log: bool = True) -> None:
        """Add ``points`` to ``peer``'s score for ``reason``; ban it at ``ban_score``."""
        now = self._clock()
        state = self._state(peer, now)
        if state.banned_until > now:
            return
        state.score = max(0.0, state.score - (now - state.scored_at) * self._decay) + points
        state.scored_at = now
        if log:
            self._log.warning("peer penalised", peer=peer.to_base58(), reason=reason, points=points,
                              score=round(state.score, 1), ban_score=self._ban_score)
        if state.score < self._ban_score:
            return
        state.banned_until = now + self._ban_seconds
        state.score, state.tokens = 0.0, self._burst
        self._log.warning("peer banned; disconnecting", peer=peer.to_base58(), reason=reason,
                          seconds=self._ban_seconds)
        if self._on_ban is not None:
            self._on_ban(peer)

    def score(self, peer: ID) -> float:
        """``peer``'s current score (after decay); 0 for a peer never penalised."""
        now = self._clock()
        state = self._peers.get(peer)
        if state is None:
            return 0.0
        return max(0.0, state.score - (now - state.scored_at) * self._decay)

    def ban_remaining(self, peer: ID) -> float:
        """Seconds until ``peer``'s ban ends; 0 when it is not banned."""
        state = self._peers.get(peer)
        if state is None:
            return 0.0
        return max(0.0, state.banned_until - self._clock())

    def is_banned(self, peer: ID) -> bool:
        """Whether ``peer`` is banned now."""
        return self.ban_remaining(peer) > 0

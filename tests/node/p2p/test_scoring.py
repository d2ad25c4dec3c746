"""PeerGuard: the token bucket, the score and its decay, and bans that end."""

from __future__ import annotations

from libp2p.peer.id import ID

from node.p2p.scoring import MALFORMED_PENALTY, PeerGuard
from tests.node.p2p.harness import KEYS, RecordingLog

PEER = ID.from_base58(KEYS[0].peer_id)
OTHER = ID.from_base58(KEYS[1].peer_id)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def guard(clock: Clock, banned: list[ID], **overrides: float) -> tuple[PeerGuard, RecordingLog]:
    log = RecordingLog()
    settings: dict = dict(rate=10.0, burst=20, ban_score=100.0, ban_seconds=30.0, decay=1.0)
    settings.update(overrides)
    return PeerGuard(**settings, log=log, on_ban=banned.append, clock=clock), log


def test_a_burst_then_the_rate_then_drops_logged_once() -> None:
    clock, banned = Clock(), []
    peer_guard, log = guard(clock, banned)
    assert all(peer_guard.allow(PEER) for _ in range(20))
    assert not peer_guard.allow(PEER) and not peer_guard.allow(PEER)
    assert peer_guard.allow(OTHER)  # budgets are per peer
    clock.now += 0.5  # 5 tokens back
    assert sum(peer_guard.allow(PEER) for _ in range(10)) == 5
    assert log.count("warning", "peer over its message rate; messages dropped") == 1
    assert peer_guard.score(PEER) == 6.5  # one point per dropped message (7), half a second of decay
    assert banned == []


def test_a_sustained_flood_is_banned_and_the_ban_ends() -> None:
    clock, banned = Clock(), []
    peer_guard, log = guard(clock, banned)
    results = [peer_guard.allow(PEER) for _ in range(200)]
    assert results.count(True) == 20
    assert banned == [PEER]  # at the 100th dropped message
    assert peer_guard.is_banned(PEER) and not peer_guard.allow(PEER)
    assert log.count("warning", "peer banned; disconnecting") == 1
    clock.now += 30.0
    assert not peer_guard.is_banned(PEER)
    assert peer_guard.allow(PEER) and peer_guard.score(PEER) == 0.0


def test_malformed_messages_ban_after_four_unless_the_score_has_drained() -> None:
    clock, banned = Clock(), []
    peer_guard, _ = guard(clock, banned)
    for _ in range(3):
        peer_guard.penalise(PEER, MALFORMED_PENALTY, "malformed")
    clock.now += 10.0  # 10 points forgiven
    peer_guard.penalise(PEER, MALFORMED_PENALTY, "malformed")
    assert banned == [] and peer_guard.score(PEER) == 90.0
    peer_guard.penalise(PEER, MALFORMED_PENALTY, "malformed")
    assert banned == [PEER]

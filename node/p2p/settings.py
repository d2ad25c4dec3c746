"""Timeouts, intervals and limits of the validator network, as data.

The defaults suit validators on one LAN or a few data centres; tests shorten
the timeouts so that failure paths run in a second.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.rlp_nesting import MAX_RLP_DEPTH


@dataclass(frozen=True, slots=True)
class P2PSettings:
    """Tuning of :class:`node.p2p.network.P2PNetwork`; every field has a working default."""

    request_timeout: float = 10.0
    """Seconds a status or blocks request may take end to end before it fails (client side). A
    validator busy executing a large block answers late, not never."""

    serve_timeout: float = 10.0
    """Seconds a peer gets to send its request and take our answer (server side)."""

    max_concurrent_requests: int = 32
    """Sync requests served at once; streams beyond this are reset."""

    ping_interval: float = 1.0
    """Seconds between liveness pings (status requests) of each connected peer. Every peer has its own
    task and deadline, so a peer that does not answer never delays the pings of the others. Default 1."""

    ping_timeout: float = 2.0
    """Seconds a peer has to answer one ping, enforced even where libp2p shields its clean-up. A peer
    whose last ping failed is left out of ``peers()`` (and so of ``bft_status``). Default 2."""

    ping_failures_before_disconnect: int = 2
    """Consecutive failed pings after which a peer's connection is aborted (its socket closed at once,
    no TCP timers involved) and, for a bootstrap peer, re-dialled. Default 2: a vanished peer is
    dropped within about ``2 × (ping_interval + ping_timeout)`` = 6 s."""

    unreachable_proposer_grace: float = 0.25
    """Seconds a round-0 proposer that does not answer our pings gets after the block period before
    this node moves to round 1 (instead of the full round timeout); see docs/consensus.md, "Proposer
    unreachable". Default 0.25."""

    dial_timeout: float = 3.0
    """Seconds one dial of a bootstrap peer may take, enforced even where libp2p shields its clean-up.
    Default 3."""

    redial_initial_delay: float = 0.25
    """First wait before re-dialling a bootstrap peer that is down; doubles per failure."""

    redial_max_delay: float = 2.0
    """Cap of the re-dial wait, so a restarted peer is reconnected within about this long."""

    max_frame_bytes: int = 8 * 1024 * 1024
    """Largest direct frame sent or accepted (a batch of transactions, or of consensus messages such as a
    proposal carrying its block). A peer's frame announcing more is refused before its body is read, the
    peer penalised and its stream closed. Default 8 MiB."""

    send_queue_bytes: int = 16 * 1024 * 1024
    """Bytes of frames queued for one peer's direct stream before further frames to it are dropped (with a
    warning); other peers are unaffected. At least ``max_frame_bytes``. Default 16 MiB."""

    write_timeout: float = 5.0
    """Seconds one write to a peer's direct stream may take; a peer that reads nothing for that long (its
    yamux window stays shut) has its connection aborted and re-dialled. Default 5."""

    transaction_batch_delay: float = 0.05
    """Seconds a published transaction waits for others to share its frame (consensus messages never
    wait). Each frame costs a write per peer and a read, decode and budget token at each peer, so under
    load fewer, larger frames keep validators responsive; 50 ms is small next to a block period."""

    message_queue_size: int = 10_000
    """Payloads waiting to be sent (per kind), and per kind for delivery to the node, before dropping
    (with a warning)."""

    max_rlp_depth: int = MAX_RLP_DEPTH
    """Deepest nesting of RLP lists accepted in a peer's direct frame, payload or sync frame; checked
    before decoding. Default 16 (Settle's own messages nest at most 3 deep)."""

    peer_message_rate: float = 500.0
    """Messages per second each peer may bring us (direct frames, sync requests),
    refilled continuously; excess ones are dropped and penalised. Default 500."""

    peer_message_burst: int = 5_000
    """Messages a peer may send at once above its rate (the token bucket's size). Default 5000."""

    peer_ban_score: float = 100.0
    """Penalty points at which a peer is disconnected and banned (a malformed message costs 25, a
    message over the rate 1). Default 100."""

    peer_score_decay: float = 1.0
    """Penalty points a peer's score loses per second. Default 1."""

    peer_ban_seconds: float = 60.0
    """How long a banned peer's connections are refused. Default 60."""

    # -- compact proposals (issue 21; node/compact_block.py) --

    compact_proposals: bool = True
    """Send own proposals as header and transaction hashes (every validator of a network must run a
    version that reads them). Default true."""

    proposal_fetch_timeout: float = 1.0
    """Seconds a compact proposal's missing transactions may take to fetch from the peer that sent it;
    past it the proposal is dropped, as if it never came (the round times out). Default 1."""

    max_fetch_transactions: int = 1024
    """Most transactions fetched for one compact proposal (one request); a proposal lacking more is
    dropped. At most 1024. Default 1024."""

    def __post_init__(self) -> None:
        for name in (
            "request_timeout",
            "serve_timeout",
            "ping_interval",
            "ping_timeout",
            "unreachable_proposer_grace",
            "dial_timeout",
            "redial_initial_delay",
            "redial_max_delay",
            "peer_message_rate",
            "write_timeout",
            "peer_ban_score",
            "peer_ban_seconds",
            "proposal_fetch_timeout",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in (
            "max_concurrent_requests",
            "ping_failures_before_disconnect",
            "max_frame_bytes",
            "send_queue_bytes",
            "message_queue_size",
            "max_rlp_depth",
            "peer_message_burst",
        ):
            if not getattr(self, name) >= 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if not 1 <= self.max_fetch_transactions <= 1024:
            raise ValueError(f"max_fetch_transactions must be 1 to 1024, got {self.max_fetch_transactions!r}")
        if not self.peer_score_decay >= 0:
            raise ValueError(f"peer_score_decay must be non-negative, got {self.peer_score_decay!r}")
        if not self.transaction_batch_delay >= 0:
            raise ValueError(f"transaction_batch_delay must be non-negative, got {self.transaction_batch_delay!r}")
        if self.send_queue_bytes < self.max_frame_bytes:
            raise ValueError("send_queue_bytes must be at least max_frame_bytes")
        if self.redial_max_delay < self.redial_initial_delay:
            raise ValueError("redial_max_delay must be at least redial_initial_delay")

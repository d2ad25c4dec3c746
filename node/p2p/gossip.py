"""Gossipsub configured for a small, permissioned validator set.

py-libp2p 0.8.1's defaults suit an open network and silently lose messages in
ours, so this module changes them:

* spam protection (10 messages/s per peer and topic, our own included) is off;
* the per-peer outbound queue (32 RPCs) and the per-topic subscription channel
  (32 messages) drop when full, logged only at DEBUG. Outbound queues are
  enlarged as pubsub registers them, and delivered messages bypass the
  subscription channel: :class:`ValidatorPubsub` hands each one to a callback;
* eclipse protection wants peers on 3 distinct IPs, which a test network on
  127.0.0.1 never has, and adaptive gossip moves the mesh degree: both off;
* the mesh degree is larger than any validator set, so every peer is a mesh
  peer and a message reaches everyone in one hop;
* messages up to several MiB (a proposal carrying a block) pass: the 1 MiB
  default inbound RPC cap would reset the peer's stream, the outbound one would
  drop the message;
* sequence numbers start at the current time in nanoseconds, not seconds: a
  node that restarts within seconds of publishing many messages would
  otherwise reuse (origin, seqno) pairs, and peers would drop its new messages
  as already seen or penalise them as equivocation;
* payloads published in the same moment travel as one gossip message
  (:class:`GossipOutbox`), because each gossip message costs a few ms of CPU
  per hop in py-libp2p (signing, a signed peer record, IDONTWANT, verifying);
* peers outside the allow-list count as blacklisted, so nothing they forward
  or originate is delivered or relayed (the Noise gate already refuses their
  connections; this is the second lock), and so do banned peers;
* each message a peer is the first to bring us takes a token from its budget
  (:class:`node.p2p.scoring.PeerGuard`); over budget, it is dropped before its
  signature is checked;
* nothing a peer sends can raise out of pubsub: libp2p handles each incoming
  message in a task of the pubsub *service*, and one exception there (a
  ``RecursionError`` from a deeply nested payload, say) stops gossip with every
  peer. Every message's handling is wrapped, the failure logged in one line
  with the peer and the peer penalised.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import trio
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub

from node.p2p.errors import P2PError
from node.p2p.messages import BATCH_OVERHEAD_BYTES, MAX_BATCH_ITEMS, encode_batch
from node.p2p.scoring import MALFORMED_PENALTY, PeerGuard

MESH_DEGREE = 64
"""Target mesh degree; larger than any validator set, so the mesh is the full peer set."""

HEARTBEAT_SECONDS = 1
"""Gossipsub heartbeat (mesh upkeep, IHAVE gossip). libp2p's default is 120 s."""

SEEN_TTL_SECONDS = 120
"""How long a message id is remembered to drop duplicates."""

RPC_OVERHEAD_BYTES = 64 * 1024
"""Room for the envelope around one gossip message (signature, key, sender record)."""

Deliver = Callable[[str, bytes, ID], None]
"""Called synchronously with (topic, data, origin) for each new message from another node."""


def new_router() -> GossipSub:
    """A gossipsub router tuned for a full mesh of a few dozen validators at most."""
    return GossipSub(
        protocols=[PROTOCOL_ID_V12, PROTOCOL_ID_V11],
        degree=MESH_DEGREE,
        degree_low=MESH_DEGREE,
        degree_high=2 * MESH_DEGREE,
        heartbeat_interval=HEARTBEAT_SECONDS,
        heartbeat_initial_delay=0.1,
        spam_protection_enabled=False,
        eclipse_protection_enabled=False,
        adaptive_gossip_enabled=False,
    )


class _EnlargedQueues(dict):
    """``Pubsub.peer_queues`` replacement that enlarges each queue as it is registered.

    Pubsub builds every per-peer ``RpcQueue`` with its defaults (32 RPCs, 1 MiB)
    and offers no parameter for them; registering it in this dict is the one
    point where it can be changed before anything is queued.
    """

    def __init__(self, max_queued: int, max_rpc_bytes: int) -> None:
        super().__init__()
        self._max_queued = max_queued
        self._max_rpc_bytes = max_rpc_bytes

    def __setitem__(self, peer_id: Any, queue: Any) -> None:
        queue._queue.max_size = self._max_queued
        queue.max_message_size = self._max_rpc_bytes
        super().__setitem__(peer_id, queue)


class ValidatorPubsub(Pubsub):
    """Pubsub that admits only allowed peers and hands deliveries to a callback."""

    def __init__(
        self,
        host: IHost,
        router: GossipSub,
        *,
        allowed_peers: Collection[ID],
        deliver: Deliver,
        max_queued: int,
        max_message_bytes: int,
        guard: PeerGuard,
        log: Any,
    ) -> None:
        max_rpc_bytes = max_message_bytes + RPC_OVERHEAD_BYTES
        super().__init__(host, router, seen_ttl=SEEN_TTL_SECONDS, max_inbound_rpc_size=max_rpc_bytes)
        self.peer_queues = _EnlargedQueues(max_queued, max_rpc_bytes)
        self.counter = time.time_ns()
        self._allowed_peers = allowed_peers
        self._deliver = deliver
        self._guard = guard
        self._log = log

    def is_peer_blacklisted(self, peer_id: ID) -> bool:
        if peer_id == self.my_id:
            return False
        return (peer_id not in self._allowed_peers or self._guard.is_banned(peer_id)
                or super().is_peer_blacklisted(peer_id))

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        """Handle one incoming message: budget it, then pubsub's checks, delivery and relay; never raises."""
        try:
            if msg_forwarder != self.my_id and not self.is_peer_blacklisted(msg_forwarder) \
                    and not self._is_msg_seen(msg) and not self._guard.allow(msg_forwarder):
                return  # over budget: dropped before the signature check, the costly part
            await super().push_msg(msg_forwarder, msg)
        except Exception as exc:
            self._contain(msg_forwarder, "gossip message", exc)

    async def stream_handler(self, stream: INetStream) -> None:
        """Read a peer's pubsub stream; whatever it sends, the failure stays with that stream."""
        peer_id = stream.muxed_conn.peer_id
        try:
            await super().stream_handler(stream)
        except Exception as exc:
            self._contain(peer_id, "pubsub stream", exc)
            try:
                await stream.reset()
            except Exception:
                pass
            self._handle_dead_peer(peer_id)

    def _contain(self, peer_id: ID, what: str, exc: Exception) -> None:
        text = str(exc).splitlines()[0][:200] if str(exc) else ""
        self._log.warning(f"{what} from peer failed; dropped", peer=peer_id.to_base58(),
                          error=f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__)
        self._guard.penalise(peer_id, MALFORMED_PENALTY, f"{what} failed ({exc.__class__.__name__})")

    def notify_subscriptions(self, publish_message: rpc_pb2.Message) -> None:
        origin = ID(publish_message.from_id)
        if origin == self.my_id:
            return  # our own publication: the caller already has it
        for topic in publish_message.topicIDs:
            if topic in self.topic_ids:
                self._deliver(topic, publish_message.data, origin)


class GossipOutbox:
    """Payloads waiting to be published on one topic, coalesced into batches.

    :meth:`put` neither blocks nor yields, so payloads a task publishes back to
    back travel together. :meth:`run` waits ``linger`` seconds after the first
    payload arrives (0: publish as soon as it gets to run), so payloads that
    trickle in from many tasks, like transactions from RPC clients, share a
    message too.
    """

    def __init__(self, topic: str, *, max_batch_bytes: int, max_pending: int, linger: float, log: Any) -> None:
        self.topic = topic
        self._linger = linger
        self._max_batch_bytes = max_batch_bytes
        self._max_pending = max_pending
        self._log = log
        self._pending: deque[bytes] = deque()
        self._ready = trio.Event()

    def put(self, raw: bytes) -> None:
        """Queue one payload (the caller has checked its size)."""
        if len(self._pending) >= self._max_pending:
            raise P2PError(f"gossip outbox for {self.topic} is full ({self._max_pending} messages waiting)")
        self._pending.append(raw)
        self._ready.set()

    async def run(self, publish: Callable[[str, bytes], Awaitable[None]]) -> None:
        """Publish queued payloads in batches until cancelled."""
        while True:
            await self._ready.wait()
            if self._linger > 0:
                await trio.sleep(self._linger)
            self._ready = trio.Event()
            while self._pending:
                batch = self._take_batch()
                try:
                    await publish(self.topic, encode_batch(batch))
                except Exception as exc:
                    self._log.error("gossip publish failed; batch dropped", topic=self.topic, dropped=len(batch),
                                    error=repr(exc))

    def _take_batch(self) -> list[bytes]:
        batch = [self._pending.popleft()]
        size = len(batch[0]) + BATCH_OVERHEAD_BYTES
        while self._pending and len(batch) < MAX_BATCH_ITEMS:
            next_size = len(self._pending[0]) + BATCH_OVERHEAD_BYTES
            if size + next_size > self._max_batch_bytes:
                break
            batch.append(self._pending.popleft())
            size += next_size
        return batch

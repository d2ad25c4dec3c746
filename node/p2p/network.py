"""The validator network: one libp2p host carrying messages and block sync between validators.

:class:`P2PNetwork` owns a libp2p host (ed25519 identity, Noise, yamux, TCP),
one direct stream to each connected peer carrying transactions and consensus
messages (:mod:`node.p2p.direct`), the status/blocks sync protocol, and the
connection policy:

* only peers in ``allowed_peers`` get past the Noise handshake
  (:mod:`node.p2p.admission`), and the direct and sync handlers ignore anyone
  else;
* bootstrap peers are dialled at start and re-dialled with capped exponential
  backoff whenever they are not connected (killed, restarted, partitioned);
* every new connection triggers a status request, and every connected peer is
  pinged (a status request) every ``ping_interval`` by its own task with its
  own deadline; each answer goes to ``on_peer_status``. A peer whose last
  ping failed is not listed by :meth:`P2PNetwork.peers`; one that fails
  ``ping_failures_before_disconnect`` in a row has its socket closed at once
  and is re-dialled, so liveness never waits for TCP retransmit timers;
* requests, dials and disconnects have hard deadlines
  (:mod:`node.p2p.deadline`): libp2p's shielded clean-up cannot hold a caller
  past them;
* every peer has a message budget and a misbehaviour score
  (:mod:`node.p2p.scoring`): whatever a peer sends (malformed or deeply
  nested RLP, a flood) is dropped with one warning naming it, costs it points,
  and at the ban score it is disconnected and refused for a while. Nothing a
  peer sends can raise out of the direct or sync streams into
  :meth:`P2PNetwork.run`.

Everything runs inside :meth:`P2PNetwork.run`, started with
``await nursery.start(network.run)``; cancelling that nursery stops the host
and closes every connection. Callbacks run in the network's own tasks, one
task per kind (transactions, consensus), in arrival order; an exception from a callback is logged and
the next message is delivered.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

import multiaddr
import structlog
import trio
from libp2p import new_host
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.keys import KeyPair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr

from genesis.keys import check_peer_id
from node.p2p import sync_protocol
from node.p2p.admission import NOISE_PROTOCOL_ID, AllowListNoise
from node.p2p.deadline import abort_connection, bounded
from node.p2p.direct import DirectInbound, DirectLinks
from node.p2p.errors import (
    InvalidNetworkConfig,
    ListenFailed,
    MalformedResponse,
    MessageTooLarge,
    NetworkNotRunning,
    P2PError,
    PeerNotConnected,
    SyncRequestTimeout,
)
from node.p2p.messages import (
    BATCH_OVERHEAD_BYTES,
    FRAME_OVERHEAD_BYTES,
    KIND_CONSENSUS,
    KIND_TRANSACTIONS,
    MAX_BLOCKS_PER_REQUEST,
    MAX_TRANSACTIONS_PER_REQUEST,
    NETWORK_ID_LENGTH,
    STATUS_PROTOCOL_ID,
    BlocksRequest,
    Status,
    StatusRequest,
    SyncRequest,
    SyncResponse,
    TransactionsRequest,
    direct_protocol_id,
    sync_protocol_id,
)
from node.p2p.muxer import settle_yamux_option
from node.p2p.outbox import Outbox
from node.p2p.scoring import MALFORMED_PENALTY, PeerGuard
from node.p2p.settings import P2PSettings

MessageCallback = Callable[[bytes, str], Awaitable[None]]
StatusCallback = Callable[[str, Status], Awaitable[None]]
PeerCallback = Callable[[str], Awaitable[None]]

_MAX_CONNECTIONS = 256
_STATUS_ATTEMPTS_ON_CONNECT = 3
_SHUTDOWN_SECONDS = 3.0


class P2PNetwork:
    """A validator's libp2p endpoint: direct streams, block sync, allow-list and reconnects.

    Construction only checks and stores the configuration (bad values raise
    :class:`InvalidNetworkConfig`); nothing touches the network until
    :meth:`run`.
    """

    def __init__(
        self,
        *,
        key_pair: KeyPair,
        listen: str,
        bootstrap: Sequence[str],
        allowed_peers: Collection[str],
        network_id: bytes,
        on_transaction: MessageCallback,
        on_consensus: MessageCallback,
        status_provider: Callable[[], Status],
        blocks_provider: Callable[[int, int], list[bytes]],
        on_peer_status: StatusCallback | None = None,
        on_peer_ready: PeerCallback | None = None,
        log: Any = None,
        settings: P2PSettings | None = None,
        transactions_provider: Callable[[list[bytes]], list[bytes]] | None = None,
    ) -> None:
        if not isinstance(network_id, bytes) or len(network_id) != NETWORK_ID_LENGTH:
            raise InvalidNetworkConfig("network_id", network_id, f"must be {NETWORK_ID_LENGTH} bytes")
        self._key_pair = key_pair
        self._own_id = ID.from_pubkey(key_pair.public_key)
        self.peer_id: str = self._own_id.to_base58()
        """Our base58 peer id, derived from ``key_pair``."""
        self._listen = _parse_listen(listen)
        self._allowed = {_parse_peer_id(peer) for peer in allowed_peers}
        """Shared, by reference, with the Noise transport, the direct-stream handler and the sync server:
        :meth:`set_allowed_peers` changes it in place for all of them."""
        self._bootstrap = _parse_bootstrap(bootstrap, self._own_id, frozenset(self._allowed))
        self._network_id = network_id
        self._on_transaction = on_transaction
        self._on_consensus = on_consensus
        self._status_provider = status_provider
        self._blocks_provider = blocks_provider
        self._transactions_provider = transactions_provider
        """Answers peers' transactions requests (compact proposals, :meth:`request_transactions`)."""
        self._on_peer_status = on_peer_status
        self._on_peer_ready = on_peer_ready
        self._log = log if log is not None else structlog.get_logger("settle.p2p")
        self._settings = settings or P2PSettings()
        self._direct_protocol = direct_protocol_id(network_id)
        self._sync_protocol = sync_protocol_id(network_id)

        self._running = False
        self._host: IHost | None = None
        self._links: DirectLinks | None = None
        self._nursery: trio.Nursery | None = None
        self._inboxes: dict[int, trio.MemorySendChannel[tuple[bytes, str]]] = {}
        self._outboxes = {
            kind: Outbox(kind, max_batch_bytes=self._settings.max_frame_bytes - FRAME_OVERHEAD_BYTES,
                         max_pending=self._settings.message_queue_size, linger=linger, log=self._log)
            for kind, linger in ((KIND_TRANSACTIONS, self._settings.transaction_batch_delay),
                                 (KIND_CONSENSUS, 0.0))
        }
        self._dropped_deliveries = 0
        self._connection_changed = trio.Event()
        self._connections: set[INetConn] = set()
        self._ping_failures: dict[ID, int] = {}
        self._unanswered: set[ID] = set()
        self._watched: set[ID] = set()
        self._status_exchanges: set[ID] = set()
        self._started_at: float | None = None
        self._foreign_networks: dict[ID, bytes] = {}
        self.guard = PeerGuard(
            rate=self._settings.peer_message_rate, burst=self._settings.peer_message_burst,
            ban_score=self._settings.peer_ban_score, ban_seconds=self._settings.peer_ban_seconds,
            decay=self._settings.peer_score_decay, log=self._log, on_ban=self._banned,
        )
        """Per-peer message budgets, scores and bans."""

    # -- lifecycle ---------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, carry messages, serve sync and keep bootstrap peers connected until cancelled.

        ``task_status.started()`` is called once the host listens; bootstrap
        dials continue in the background. Raises :class:`ListenFailed` if the listen address cannot
        be bound.

        Cancellation is turned into an orderly shutdown: connections and the
        listener are closed first (bounded by a few seconds), then libp2p's
        tasks are cancelled. Cancelling libp2p directly would cancel its own
        clean-up half-way: sockets would stay open, peers would never see us
        leave, and the port would stay bound.
        """
        if self._running:
            raise P2PError("this P2PNetwork is already running")
        _check_port_free(self._listen)
        self._running = True
        libp2p_scope = trio.CancelScope(shield=True)
        try:
            async with trio.open_nursery() as guard:
                try:
                    await guard.start(self._run_host, libp2p_scope)
                    task_status.started()
                    await trio.sleep_forever()
                finally:
                    with trio.CancelScope(shield=True):
                        await self._close_host()
                    libp2p_scope.cancel()
        except BaseExceptionGroup as group:
            # Start-up failures (ListenFailed) reach the caller as themselves, not wrapped.
            if len(group.exceptions) == 1 and isinstance(group.exceptions[0], P2PError):
                raise group.exceptions[0] from None
            raise
        finally:
            self._running = False

    async def _close_host(self) -> None:
        """Stop accepting, then close every connection, including any accepted meanwhile."""
        host = self._host
        if host is None:
            return
        swarm = host.get_network()
        with trio.move_on_after(_SHUTDOWN_SECONDS) as scope:
            # Listeners first: libp2p closes connections before listeners, so a peer
            # that re-dials at once gets a connection nobody closes.
            for listener in list(swarm.listeners.values()):
                await listener.close()
            await host.close()
            for connection in list(self._connections):
                await connection.close()
        if scope.cancelled_caught:
            self._log.warning("p2p shutdown timed out; connections aborted", timeout=_SHUTDOWN_SECONDS)
        # Tasks left behind by a deadline may sit in libp2p's shielded clean-up on a dead
        # connection; closing the sockets ends them, so the nursery can exit.
        for connection in [*self._connections, *swarm.get_connections()]:
            abort_connection(connection)
        self._log.info("p2p network stopped", peer_id=self.peer_id)

    async def _run_host(self, libp2p_scope: trio.CancelScope, *,
                        task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Build and run the host and our tasks inside ``libp2p_scope`` until it is cancelled."""
        settings = self._settings
        with libp2p_scope:
            host = new_host(
                key_pair=self._key_pair,
                sec_opt={NOISE_PROTOCOL_ID: AllowListNoise(self._key_pair, self._allowed, self._log,
                                                           is_banned=self.guard.is_banned)},
                listen_addrs=[self._listen],
                muxer_opt=settle_yamux_option(),
                connection_config=ConnectionConfig(
                    # One connection per peer skips the 250 ms happy-eyeballs wait
                    # libp2p adds after every successful dial.
                    max_connections_per_peer=1,
                    # We dial our own bootstrap peers; libp2p's auto-connector would
                    # dial whatever is in the peerstore.
                    min_connections=0,
                    low_watermark=0,
                    high_watermark=_MAX_CONNECTIONS,
                    max_connections=_MAX_CONNECTIONS,
                ),
            )
            inbound = DirectInbound(
                allowed_peers=self._allowed,
                guard=self.guard,
                deliver=self._enqueue_delivery,
                max_frame_bytes=settings.max_frame_bytes,
                max_rlp_depth=settings.max_rlp_depth,
                log=self._log,
            )
            server = sync_protocol.SyncServer(
                status_provider=self._status_provider,
                blocks_provider=self._blocks_provider,
                allowed_peers=self._allowed,
                timeout=settings.serve_timeout,
                max_concurrent=settings.max_concurrent_requests,
                log=self._log,
                guard=self.guard,
                max_rlp_depth=settings.max_rlp_depth,
                transactions_provider=self._transactions_provider,
            )
            host.set_stream_handler(TProtocol(STATUS_PROTOCOL_ID), server.handle_status_stream)
            host.set_stream_handler(TProtocol(self._sync_protocol), server.handle_sync_stream)
            host.set_stream_handler(TProtocol(self._direct_protocol), inbound.handle_stream)
            host.get_network().register_notifee(_ConnectionEvents(self))

            size = settings.message_queue_size
            transaction_inbox, transaction_outbox = trio.open_memory_channel[tuple[bytes, str]](size)
            consensus_inbox, consensus_outbox = trio.open_memory_channel[tuple[bytes, str]](size)
            self._inboxes = {KIND_TRANSACTIONS: transaction_inbox, KIND_CONSENSUS: consensus_inbox}
            try:
                async with host.run(listen_addrs=[self._listen]):
                    if not host.get_network().listeners:
                        raise ListenFailed(str(self._listen), "libp2p could not open a listener (address not local?)")
                    self._host = host
                    await host.get_network().auto_connector.stop()  # type: ignore[attr-defined]  # new_host's Swarm
                    async with trio.open_nursery() as nursery:
                        self._nursery = nursery
                        self._links = self._direct_links(host, nursery)
                        self._started_at = trio.current_time()
                        nursery.start_soon(self._deliver, transaction_outbox, self._on_transaction, "transaction")
                        nursery.start_soon(self._deliver, consensus_outbox, self._on_consensus, "consensus")
                        for outbox in self._outboxes.values():
                            nursery.start_soon(outbox.run, self._links.send)
                        for peer_info in self._bootstrap:
                            nursery.start_soon(self._keep_connected, peer_info)
                        self._log.info("p2p network started", peer_id=self.peer_id,
                                       listen=self.listen_addresses())
                        task_status.started()
            finally:
                self._host = self._links = self._nursery = None
                self._inboxes = {}

    def _direct_links(self, host: IHost, nursery: trio.Nursery) -> DirectLinks:
        settings = self._settings
        protocol = TProtocol(self._direct_protocol)

        async def open_stream(peer: ID) -> INetStream:
            return await bounded(nursery, settings.dial_timeout, lambda: host.new_stream(peer, [protocol]))

        async def abort(peer: ID) -> None:
            await self._disconnect(peer, abort=True)

        return DirectLinks(
            nursery=nursery, open_stream=open_stream, is_connected=self._is_connected, abort=abort,
            on_ready=self._peer_ready, max_queued_bytes=settings.send_queue_bytes,
            write_timeout=settings.write_timeout, retry_delay=settings.redial_initial_delay, log=self._log,
        )

    def listen_addresses(self) -> list[str]:
        """Our dialable addresses, each ending in ``/p2p/<peer id>`` (empty when not running)."""
        if self._host is None:
            return []
        return [str(address) for address in self._host.get_addrs()]

    @property
    def host(self) -> IHost | None:
        """The running libp2p host (None when stopped), for diagnostics and tests."""
        return self._host

    # -- messages ----------------------------------------------------------

    async def publish_transaction(self, raw: bytes) -> None:
        """Send a raw signed transaction to every connected peer; it is not delivered back to us."""
        self._publish(KIND_TRANSACTIONS, raw)

    async def publish_consensus(self, raw: bytes) -> None:
        """Send a consensus message to every connected peer at once; it is not delivered back to us."""
        self._publish(KIND_CONSENSUS, raw)

    def _publish(self, kind: int, raw: bytes) -> None:
        # Deliberately no checkpoint: messages published back to back share one frame.
        if self._links is None:
            raise NetworkNotRunning()
        if not isinstance(raw, bytes):
            raise TypeError(f"message payload must be bytes, got {type(raw).__name__}")
        limit = self._settings.max_frame_bytes - FRAME_OVERHEAD_BYTES - BATCH_OVERHEAD_BYTES
        if len(raw) > limit:
            raise MessageTooLarge(len(raw), limit)
        self._outboxes[kind].put(raw)

    def _enqueue_delivery(self, kind: int, items: list[bytes], peer: ID) -> None:
        """Queue a checked frame's payloads for the kind's delivery task; never raises (a stream handler calls it)."""
        inbox = self._inboxes.get(kind)
        if inbox is None:
            return
        origin = peer.to_base58()
        for item in items:
            try:
                inbox.send_nowait((item, origin))
            except trio.WouldBlock:
                self._dropped_deliveries += 1
                if self._dropped_deliveries == 1 or self._dropped_deliveries % 1000 == 0:
                    self._log.warning("delivery queue full; message dropped", kind=kind,
                                      dropped_total=self._dropped_deliveries)
            except trio.ClosedResourceError:
                return

    async def _deliver(
        self, outbox: trio.MemoryReceiveChannel[tuple[bytes, str]], callback: MessageCallback, kind: str
    ) -> None:
        async for data, origin in outbox:
            try:
                await callback(data, origin)
            except Exception as exc:
                self._log.error(f"{kind} callback raised", origin=origin, error=repr(exc), exc_info=True)

    # -- sync requests -----------------------------------------------------

    async def request_status(self, peer_id: str) -> Status:
        """Ask a connected peer for its status; raises a :class:`SyncRequestFailed` subclass on failure or timeout."""
        peer = self._connected_peer(peer_id, "status")
        response = await self._request(peer, STATUS_PROTOCOL_ID, StatusRequest())
        return sync_protocol.expect_status(peer, response)

    async def request_blocks(self, peer_id: str, start: int, count: int) -> list[bytes]:
        """Ask a connected peer for encoded blocks from height ``start``.

        At most ``MAX_BLOCKS_PER_REQUEST`` (64) items are asked for, whatever
        ``count`` says, and the peer may send fewer (it stops at its head, or
        at 16 MiB): ask again from ``start + len(result)``. An empty list means
        the peer has nothing at ``start``. Raises ``ValueError`` for a negative
        start or a count below 1, and a :class:`SyncRequestFailed` subclass
        when the peer cannot be asked or does not answer properly.
        """
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"start must be a non-negative integer, got {start!r}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        count = min(count, MAX_BLOCKS_PER_REQUEST)
        peer = self._connected_peer(peer_id, "blocks")
        response = await self._request(peer, self._sync_protocol, BlocksRequest(start, count))
        return sync_protocol.expect_blocks(peer, response, count)

    async def request_transactions(self, peer_id: str, hashes: Sequence[bytes], timeout: float) -> list[bytes]:
        """Ask a connected peer for the transactions with ``hashes`` (a compact proposal's missing ones).

        One request of at most ``MAX_TRANSACTIONS_PER_REQUEST`` hashes, bounded
        by ``timeout`` seconds. Returns what the peer sent, unchecked: the caller
        checks each against the hash it wants. Raises a :class:`SyncRequestFailed`
        subclass when the peer cannot be asked or does not answer properly.
        """
        if not 1 <= len(hashes) <= MAX_TRANSACTIONS_PER_REQUEST:
            raise ValueError(f"ask for 1 to {MAX_TRANSACTIONS_PER_REQUEST} transactions, not {len(hashes)}")
        peer = self._connected_peer(peer_id, "transactions")
        response = await self._request(peer, self._sync_protocol, TransactionsRequest(tuple(hashes)), timeout)
        return sync_protocol.expect_transactions(peer, response, len(hashes))

    async def _request(self, peer: ID, protocol_id: str, message: SyncRequest,
                       timeout: float | None = None) -> SyncResponse:
        host, nursery = self._require_host(), self._nursery
        if nursery is None:
            raise NetworkNotRunning()
        seconds = self._settings.request_timeout if timeout is None else timeout

        async def exchange() -> SyncResponse:
            return await sync_protocol.request(host, peer, protocol_id, message, timeout=seconds,
                                               max_rlp_depth=self._settings.max_rlp_depth)

        try:
            # The exchange bounds itself too, but libp2p's shielded stream reset can outlast that.
            return await bounded(nursery, seconds, exchange)
        except trio.TooSlowError:
            raise SyncRequestTimeout(peer.to_base58(), sync_protocol.request_kind(message), seconds) from None
        except MalformedResponse:
            self.guard.penalise(peer, MALFORMED_PENALTY, "malformed sync response")
            raise

    def peers(self) -> list[str]:
        """Base58 ids of the allowed peers we are connected to and that answered their last ping, sorted."""
        return sorted(peer.to_base58() for peer in self._connected_peers() if peer not in self._unanswered)

    def is_unreachable(self, peer_id: str) -> bool:
        """Whether ``peer_id`` is known not to answer: not an answering peer although we have had time to reach it.

        False during the first ``dial_timeout + ping_interval + ping_timeout`` after start (peers
        are still being dialled), and for our own id.
        """
        started = self._started_at
        if self._host is None or started is None or peer_id == self.peer_id:
            return False
        settings = self._settings
        if trio.current_time() - started < settings.dial_timeout + settings.ping_interval + settings.ping_timeout:
            return False
        return peer_id not in self.peers()

    def linked_peers(self) -> list[str]:
        """Connected peers our direct stream is open to, sorted: what we publish from now on reaches them.

        A message published right after a peer connects, before its stream is
        open, misses it; wait for the peer to appear here when that matters, as
        tests do (the node re-sends its round's messages from ``on_peer_ready``).
        """
        links = self._links
        if links is None:
            return []
        connected = set(self._connected_peers())
        return sorted(peer.to_base58() for peer in links.linked() if peer in connected)

    def _require_host(self) -> IHost:
        if self._host is None:
            raise NetworkNotRunning()
        return self._host

    def _connected_peer(self, peer_id: str, request: str) -> ID:
        self._require_host()
        try:
            peer = ID.from_base58(peer_id)
        except Exception:
            raise PeerNotConnected(str(peer_id), request) from None
        if peer not in self._allowed or not self._is_connected(peer):
            raise PeerNotConnected(peer_id, request)
        return peer

    def _is_connected(self, peer: ID) -> bool:
        host = self._host
        if host is None:
            return False
        return any(not connection.is_closed for connection in host.get_network().get_connections(peer))

    def _connected_peers(self) -> list[ID]:
        host = self._host
        if host is None:
            return []
        return [peer for peer in host.get_connected_peers()
                if peer in self._allowed and peer != self._own_id and self._is_connected(peer)]

    # -- connection policy -------------------------------------------------

    def set_allowed_peers(self, allowed_peers: Collection[str]) -> None:
        """Replace the allow-list (the permission registry changed); close the connections of removed peers.

        A peer added can connect from now on; a peer removed is refused at its next handshake and its
        open connection is closed at once.
        """
        new = {_parse_peer_id(peer) for peer in allowed_peers}
        removed = self._allowed - new - {self._own_id}
        added = new - self._allowed
        self._allowed.clear()
        self._allowed.update(new)
        if added or removed:
            self._log.info("peer allow-list changed", added=sorted(p.to_base58() for p in added),
                           removed=sorted(p.to_base58() for p in removed))
        nursery = self._nursery
        if nursery is not None:
            for peer in removed:
                nursery.start_soon(self._disconnect_banned, peer)

    def _banned(self, peer: ID) -> None:
        """PeerGuard's ban callback (synchronous, maybe inside a stream handler): close the peer's connection soon."""
        nursery = self._nursery
        if nursery is not None:
            nursery.start_soon(self._disconnect_banned, peer)

    async def _disconnect_banned(self, peer: ID) -> None:
        host = self._host
        if host is None:
            return
        try:
            await self._disconnect(peer)
        except Exception as exc:
            self._log.warning("disconnecting a banned peer failed", peer=peer.to_base58(), error=repr(exc))

    async def _disconnect(self, peer: ID, *, abort: bool = False) -> None:
        """Close ``peer``'s connections within ``dial_timeout``; with ``abort``, close their sockets first.

        A polite close writes yamux GO_AWAY and stream resets, which wait behind any write stuck on
        a dead connection; aborting first makes them fail at once.
        """
        host, nursery = self._host, self._nursery
        if host is None or nursery is None:
            return
        if abort:
            for connection in host.get_network().get_connections(peer):
                abort_connection(connection)
        try:
            await bounded(nursery, self._settings.dial_timeout, lambda: host.disconnect(peer))
        except trio.TooSlowError:
            for connection in host.get_network().get_connections(peer):
                abort_connection(connection)

    def _connection_event(self, connection: INetConn, connected: bool) -> None:
        peer = connection.muxed_conn.peer_id
        changed, self._connection_changed = self._connection_changed, trio.Event()
        changed.set()
        if not connected:
            self._connections.discard(connection)
            self._ping_failures.pop(peer, None)
            self._unanswered.discard(peer)
            if self._links is not None and not self._is_connected(peer):
                self._links.unlink(peer)
            return
        self._connections.add(connection)
        nursery = self._nursery
        if nursery is None or peer not in self._allowed:
            return
        if peer not in self._status_exchanges:
            self._status_exchanges.add(peer)
            nursery.start_soon(self._exchange_status, peer)
        if peer not in self._watched:
            self._watched.add(peer)
            nursery.start_soon(self._watch_peer, peer)
        if self._links is not None:
            nursery.start_soon(self._links.keep_linked, peer)

    async def _exchange_status(self, peer: ID) -> None:
        """Learn a newly connected peer's status, retrying briefly while the connection settles."""
        try:
            for attempt in range(_STATUS_ATTEMPTS_ON_CONNECT):
                try:
                    status = await self.request_status(peer.to_base58())
                except PeerNotConnected:
                    return
                except P2PError as exc:
                    if attempt + 1 == _STATUS_ATTEMPTS_ON_CONNECT:
                        self._log.warning("status exchange with new peer failed", peer=peer.to_base58(), error=str(exc))
                        return
                    await trio.sleep(0.2 * (attempt + 1))
                else:
                    await self._report_status(peer, status)
                    return
        finally:
            self._status_exchanges.discard(peer)

    async def _watch_peer(self, peer: ID) -> None:
        """Ping one connected peer every ``ping_interval`` until it disconnects; abort it when it stops answering.

        One task per peer, so a peer that does not answer delays no one else's pings. The ping is a
        status request bounded by ``ping_timeout``; its answer also feeds ``on_peer_status``.
        """
        settings = self._settings
        try:
            while self._is_connected(peer):
                await trio.sleep(settings.ping_interval)
                try:
                    status = await self._ping(peer)
                except PeerNotConnected:
                    return
                except P2PError as exc:
                    failures = self._ping_failures.get(peer, 0) + 1
                    self._ping_failures[peer] = failures
                    if peer not in self._unanswered:
                        self._unanswered.add(peer)
                        self._log.warning("peer not answering pings", peer=peer.to_base58(), error=str(exc))
                    if failures >= settings.ping_failures_before_disconnect:
                        self._log.warning("peer unresponsive; closing its connection", peer=peer.to_base58(),
                                          failures=failures)
                        self._ping_failures.pop(peer, None)
                        await self._disconnect(peer, abort=True)
                        return
                    continue
                if self._unanswered:
                    if peer in self._unanswered:
                        self._log.info("peer answering pings again", peer=peer.to_base58())
                    self._unanswered.discard(peer)
                self._ping_failures.pop(peer, None)
                await self._report_status(peer, status)
        finally:
            self._watched.discard(peer)
            self._ping_failures.pop(peer, None)
            self._unanswered.discard(peer)

    async def _peer_ready(self, peer: ID) -> None:
        """Call ``on_peer_ready`` once our direct stream to a (re)connected peer is open, so what we send arrives.

        After a partition heals, the peer missed everything we sent meanwhile; the node re-sends
        what still matters (its latest round change and lock).
        """
        peer_id = peer.to_base58()
        callback = self._on_peer_ready
        if callback is None:
            return
        try:
            await callback(peer_id)
        except Exception as exc:
            self._log.error("on_peer_ready callback raised", peer=peer_id, error=repr(exc), exc_info=True)

    async def _ping(self, peer: ID) -> Status:
        if not self._is_connected(peer):
            raise PeerNotConnected(peer.to_base58(), "status")
        response = await self._request(peer, STATUS_PROTOCOL_ID, StatusRequest(), timeout=self._settings.ping_timeout)
        return sync_protocol.expect_status(peer, response)

    async def _report_status(self, peer: ID, status: Status) -> None:
        if status.network_id != self._network_id and self._foreign_networks.get(peer) != status.network_id:
            self._foreign_networks[peer] = status.network_id
            self._log.warning("peer runs a different network", peer=peer.to_base58(),
                              its_network_id=status.network_id.hex(), our_network_id=self._network_id.hex())
        if self._on_peer_status is None:
            return
        try:
            await self._on_peer_status(peer.to_base58(), status)
        except Exception as exc:
            self._log.error("on_peer_status callback raised", peer=peer.to_base58(), error=repr(exc), exc_info=True)

    async def _keep_connected(self, peer_info: PeerInfo) -> None:
        """Dial one bootstrap peer whenever it is not connected, backing off while it is down."""
        host = self._require_host()
        peer = peer_info.peer_id
        delay = self._settings.redial_initial_delay
        was_connected = False
        if peer.to_bytes() < self._own_id.to_bytes():
            # Validators usually list each other: let the peer with the smaller id dial
            # first, so the pair does not end up with two connections from crossed dials.
            with trio.move_on_after(2 * self._settings.redial_initial_delay):
                while not self._is_connected(peer):
                    await self._connection_changed.wait()
        while True:
            ban = self.guard.ban_remaining(peer)
            if ban > 0:
                await trio.sleep(ban)  # its handshake would be refused anyway
                continue
            while self._is_connected(peer):
                was_connected = True
                delay = self._settings.redial_initial_delay
                with trio.move_on_after(self._settings.ping_interval):
                    await self._connection_changed.wait()
            if was_connected:
                self._log.info("bootstrap peer disconnected; re-dialling", peer=peer.to_base58())
                was_connected = False
                await trio.sleep(delay)  # a peer that is shutting down may still accept for a moment
                continue  # it may have dialled us meanwhile
            try:
                # libp2p refuses to dial a peer for 60 s after a failed dial; we pace dials ourselves.
                host.get_network().unblock_peer(peer)  # type: ignore[attr-defined]  # new_host's Swarm
                if host.get_network().get_connections(peer):
                    # Only closed connections are left (we are not connected). They linger, and
                    # connect() would return at once "connected" without dialling: this loop would spin.
                    await self._disconnect(peer, abort=True)
                nursery = self._nursery
                if nursery is None:
                    return
                await bounded(nursery, self._settings.dial_timeout, lambda: host.connect(peer_info))
                if not self._is_connected(peer):
                    raise ConnectionError("connect returned without a live connection")
            except Exception as exc:
                self._log.debug("dial failed", peer=peer.to_base58(), error=repr(exc), retry_in=delay)
                await trio.sleep(delay)
                delay = min(delay * 2, self._settings.redial_max_delay)
            else:
                self._log.info("connected to bootstrap peer", peer=peer.to_base58())


class _ConnectionEvents(INotifee):
    """Forwards libp2p connection events to the network; must not block (libp2p awaits it)."""

    def __init__(self, network: P2PNetwork) -> None:
        self._network = network

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self._network._connection_event(conn, connected=True)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._network._connection_event(conn, connected=False)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        pass

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        pass


def _parse_listen(listen: str) -> multiaddr.Multiaddr:
    try:
        address = multiaddr.Multiaddr(listen)
        address.value_for_protocol("tcp")
    except Exception as exc:
        raise InvalidNetworkConfig("listen", listen, f"not a TCP multiaddr ({exc})") from None
    return address


def _parse_peer_id(peer_id: str) -> ID:
    try:
        check_peer_id(peer_id)
    except (ValueError, TypeError) as exc:
        raise InvalidNetworkConfig("allowed peer", peer_id, str(exc)) from None
    return ID.from_base58(peer_id)


def _parse_bootstrap(bootstrap: Sequence[str], own_id: ID, allowed: frozenset[ID]) -> list[PeerInfo]:
    """Bootstrap peers to keep connected; our own address (configs often list every validator) is skipped."""
    peers: dict[ID, PeerInfo] = {}
    for address in bootstrap:
        try:
            peer_info = info_from_p2p_addr(multiaddr.Multiaddr(address))
        except Exception as exc:
            raise InvalidNetworkConfig(
                "bootstrap address", address, f"not a multiaddr ending in /p2p/<peer id> ({exc})"
            ) from None
        if peer_info.peer_id == own_id:
            continue
        if peer_info.peer_id not in allowed:
            raise InvalidNetworkConfig("bootstrap address", address, "its peer id is not in allowed_peers")
        if peer_info.peer_id in peers:
            peers[peer_info.peer_id].addrs.extend(peer_info.addrs)
        else:
            peers[peer_info.peer_id] = peer_info
    return list(peers.values())


def _check_port_free(listen: multiaddr.Multiaddr) -> None:
    """Refuse to share our TCP port.

    libp2p 0.8.1 listens with SO_REUSEPORT (for hole punching), so a second
    node on the same port would bind too and the kernel would split incoming
    connections between the two. A plain bind (SO_REUSEADDR only, so sockets
    of a previous run in TIME_WAIT do not count) fails while anyone listens.
    """
    try:
        port = int(listen.value_for_protocol("tcp"))
    except Exception:
        return
    if port == 0:
        return
    family, ip = socket.AF_INET, "0.0.0.0"
    for protocol, protocol_family in (("ip4", socket.AF_INET), ("ip6", socket.AF_INET6)):
        try:
            ip, family = listen.value_for_protocol(protocol), protocol_family
            break
        except Exception:
            continue
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((ip, port))
        except OSError as exc:
            raise ListenFailed(str(listen), exc.strerror or str(exc)) from None

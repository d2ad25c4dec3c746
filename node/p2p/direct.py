"""Direct streams: transactions and consensus messages on one long-lived stream per peer and direction.

Every node of a Settle network is known (the registry's validators and auditors), and each keeps a
connection to every other, so a message needs no relaying: it is written once to each peer. That
replaces gossipsub, which in py-libp2p 0.8.1 cost most of a validator's CPU under load: an ed25519
signature per message and its check at every hop, a signed peer record in every RPC, IHAVE/IWANT
bookkeeping and duplicate deliveries in a full mesh (docs/p2p.md has the profile). Noise already
authenticates the peer at the other end of a stream, so frames carry no signature.

* **Outbound.** When a peer connects we open one stream to it on ``/settle/<tag>/direct/1``
  (:class:`DirectLinks`). Each peer has its own :class:`PeerLink`: a queue bounded in bytes and
  a writer task with a write deadline. Publishing never waits for a peer: a frame that does not
  fit a peer's queue is dropped for that peer with a warning, and a write that misses its deadline
  (a stalled or vanished peer) aborts that peer's connection, so the re-dial logic starts afresh.
  One slow peer never delays what we send to the others, our votes included.
* **Inbound.** :class:`DirectInbound` reads a peer's stream frame by frame, each at most
  ``max_frame_bytes``, takes a token from the peer's budget per frame, decodes it and hands the
  payloads to the node. A frame that is too large or does not decode costs the peer
  ``MALFORMED_PENALTY`` and closes the stream with one warning; the peer re-opens it.

A frame is an unsigned varint length and an RLP body ``[kind, [payload, ...]]``
(:func:`node.p2p.messages.encode_frame`). Reads take whatever the stream has buffered, up to
64 KiB at a time, and frames are cut from our own buffer: reading the length prefix byte by byte
(as libp2p's helpers do) costs a yamux read and a window update per byte.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import trio
from libp2p.abc import INetStream
from libp2p.io.exceptions import IOException
from libp2p.network.stream.exceptions import StreamEOF, StreamError
from libp2p.peer.id import ID
from libp2p.stream_muxer.exceptions import MuxedConnUnavailable, MuxedStreamError
from libp2p.utils import encode_varint_prefixed

from node.p2p.errors import MalformedMessage
from node.p2p.messages import decode_frame, encode_frame
from node.p2p.scoring import MALFORMED_PENALTY, PeerGuard
from node.p2p.streams import describe_error, reset_quietly

READ_CHUNK_BYTES = 64 * 1024
"""Most bytes taken from a stream per read (yamux hands over at most what it has buffered)."""

WRITE_COALESCE_BYTES = 256 * 1024
"""Queued frames are joined into one write up to this many bytes: one yamux and Noise pass, not many."""

MAX_RETRY_DELAY = 10.0
"""Cap of the wait between attempts to open a stream to a connected peer (one of another network
never speaks our protocol)."""

_MAX_VARINT_BYTES = 10

Deliver = Callable[[int, list[bytes], ID], None]
"""Called synchronously with (kind, payloads, peer) for each well-formed frame; must not raise."""


class FrameError(Exception):
    """A peer's frame cannot be taken: a bad length prefix, over the size limit, or cut short."""


class WriteTimeout(Exception):
    """A write to a peer did not finish within the write deadline."""


def frame_bytes(kind: int, items: list[bytes]) -> bytes:
    """The wire form of one frame: varint length, then the RLP body."""
    return encode_varint_prefixed(encode_frame(kind, items))


class FrameReader:
    """Cuts length-prefixed frames out of a stream, reading in large chunks."""

    def __init__(self, stream: INetStream, max_frame_bytes: int) -> None:
        self._stream = stream
        self._max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()

    async def next_frame(self) -> bytes | None:
        """The next frame's body; None when the peer closed the stream between frames.

        Raises :class:`FrameError` for a bad or oversized length (before its body is read) and for a
        stream that ends inside a frame. Stream resets propagate as libp2p raises them.
        """
        while True:
            prefix = _parse_varint(self._buffer)
            if prefix is not None:
                length, start = prefix
                if length > self._max_frame_bytes:
                    raise FrameError(f"frame of {length} bytes exceeds the limit of {self._max_frame_bytes} bytes")
                end = start + length
                if len(self._buffer) >= end:
                    body = bytes(self._buffer[start:end])
                    del self._buffer[:end]
                    return body
                wanted = max(READ_CHUNK_BYTES, end - len(self._buffer))
            else:
                wanted = READ_CHUNK_BYTES
            try:
                chunk = await self._stream.read(wanted)
            except StreamEOF:
                chunk = b""
            if not chunk:
                if self._buffer:
                    raise FrameError(f"stream ended inside a frame ({len(self._buffer)} bytes pending)")
                return None
            self._buffer += chunk


def _parse_varint(buffer: bytearray) -> tuple[int, int] | None:
    """(value, bytes used) of the unsigned varint at the start of ``buffer``; None if it is incomplete."""
    value = 0
    for index in range(min(len(buffer), _MAX_VARINT_BYTES)):
        byte = buffer[index]
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            return value, index + 1
    if len(buffer) >= _MAX_VARINT_BYTES:
        raise FrameError("frame length prefix longer than 10 bytes")
    return None


class PeerLink:
    """Our outbound stream to one peer: a queue bounded in bytes, drained by :meth:`run`.

    :meth:`offer` never blocks; the task running :meth:`run` owns the stream.
    """

    def __init__(self, peer: ID, *, max_queued_bytes: int, write_timeout: float, log: Any) -> None:
        self.peer = peer
        self._max_queued_bytes = max_queued_bytes
        self._write_timeout = write_timeout
        self._log = log
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._wakeup = trio.Event()
        self._closed = False
        self._dropping = False
        self.dropped = 0
        """Frames dropped because the queue was full, over the link's life."""

    def offer(self, frame: bytes) -> bool:
        """Queue ``frame``; False (and a warning, once per full spell) when the queue has no room."""
        if self._closed:
            return False
        if self._queued_bytes + len(frame) > self._max_queued_bytes:
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                self._log.warning("send queue to peer full; frames dropped", peer=self.peer.to_base58(),
                                  queued_bytes=self._queued_bytes, limit=self._max_queued_bytes)
            return False
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        self._wakeup.set()
        return True

    def close(self) -> None:
        """Stop :meth:`run` once the current write ends; queued frames are discarded."""
        self._closed = True
        self._wakeup.set()

    async def run(self, stream: INetStream) -> None:
        """Write queued frames to ``stream`` until :meth:`close`.

        Raises :class:`WriteTimeout` when one write takes longer than the write deadline, and
        whatever libp2p raises when the stream or connection fails.
        """
        while not self._closed:
            if not self._queue:
                await self._wakeup.wait()
                self._wakeup = trio.Event()
                continue
            data = self._take()
            with trio.move_on_after(self._write_timeout) as scope:
                await stream.write(data)
            if scope.cancelled_caught:
                raise WriteTimeout(f"a write of {len(data)} bytes took longer than {self._write_timeout:g} s")

    def _take(self) -> bytes:
        parts = [self._queue.popleft()]
        size = len(parts[0])
        while self._queue and size + len(self._queue[0]) <= WRITE_COALESCE_BYTES:
            parts.append(self._queue.popleft())
            size += len(parts[-1])
        self._queued_bytes -= size
        if self._dropping and self._queued_bytes <= self._max_queued_bytes // 2:
            self._dropping = False
            self._log.info("send queue to peer has room again", peer=self.peer.to_base58(), dropped=self.dropped)
        return parts[0] if len(parts) == 1 else b"".join(parts)


class DirectLinks:
    """Our outbound direct streams, one per connected peer: opens them, feeds them, reports them ready.

    The network calls :meth:`keep_linked` in a task of its nursery when a peer connects and
    :meth:`unlink` when its last connection closes. ``open_stream(peer)`` must be bounded in time;
    ``abort(peer)`` closes the peer's connection at once; ``on_ready(peer)`` is called (in a task
    of ``nursery``) each time a stream to the peer is open, so what we send from then on reaches it.
    """

    def __init__(
        self,
        *,
        nursery: trio.Nursery,
        open_stream: Callable[[ID], Awaitable[INetStream]],
        is_connected: Callable[[ID], bool],
        abort: Callable[[ID], Awaitable[None]],
        on_ready: Callable[[ID], Awaitable[None]],
        max_queued_bytes: int,
        write_timeout: float,
        retry_delay: float,
        log: Any,
    ) -> None:
        self._nursery = nursery
        self._open_stream = open_stream
        self._is_connected = is_connected
        self._abort = abort
        self._on_ready = on_ready
        self._max_queued_bytes = max_queued_bytes
        self._write_timeout = write_timeout
        self._retry_delay = retry_delay
        self._log = log
        self._links: dict[ID, PeerLink] = {}
        self._linking: set[ID] = set()

    def send(self, kind: int, items: list[bytes]) -> None:
        """Queue one frame of ``items`` for every linked peer; never blocks."""
        if not self._links:
            return
        frame = frame_bytes(kind, items)
        for link in list(self._links.values()):
            link.offer(frame)

    def linked(self) -> list[ID]:
        """Peers with an open outbound stream."""
        return list(self._links)

    def unlink(self, peer: ID) -> None:
        """The peer disconnected: stop its writer (its task then ends)."""
        link = self._links.get(peer)
        if link is not None:
            link.close()

    async def keep_linked(self, peer: ID) -> None:
        """Keep one outbound stream open to ``peer`` while it is connected; returns when it is not."""
        if peer in self._linking:
            return
        self._linking.add(peer)
        delay = self._retry_delay
        try:
            while self._is_connected(peer):
                try:
                    stream = await self._open_stream(peer)
                except Exception as exc:
                    self._log.debug("opening a direct stream failed", peer=peer.to_base58(), error=describe_error(exc))
                    await trio.sleep(delay)
                    delay = min(2 * delay, MAX_RETRY_DELAY)
                    continue
                delay = self._retry_delay
                link = PeerLink(peer, max_queued_bytes=self._max_queued_bytes, write_timeout=self._write_timeout,
                                log=self._log)
                self._links[peer] = link
                self._nursery.start_soon(self._on_ready, peer)
                try:
                    await link.run(stream)
                except WriteTimeout as exc:
                    self._log.warning("write to peer timed out; closing its connection", peer=peer.to_base58(),
                                      problem=str(exc))
                    await self._abort(peer)  # then the loop ends, unless the peer is back already
                except Exception as exc:
                    if self._is_connected(peer):
                        self._log.warning("direct stream to peer failed; reopening", peer=peer.to_base58(),
                                          error=describe_error(exc))
                        await trio.sleep(self._retry_delay)
                finally:
                    if self._links.get(peer) is link:
                        del self._links[peer]
                    link.close()
                    await reset_quietly(stream)
        finally:
            self._linking.discard(peer)


class DirectInbound:
    """Reads the direct streams peers open to us and hands their payloads to ``deliver``.

    Whatever a peer sends, the cost stays with that stream: nothing raises out of
    :meth:`handle_stream`, and a bad frame costs the peer points and its stream.
    """

    def __init__(self, *, allowed_peers: Collection[ID], guard: PeerGuard, deliver: Deliver,
                 max_frame_bytes: int, max_rlp_depth: int, log: Any) -> None:
        self._allowed_peers = allowed_peers
        self._guard = guard
        self._deliver = deliver
        self._max_frame_bytes = max_frame_bytes
        self._max_rlp_depth = max_rlp_depth
        self._log = log

    async def handle_stream(self, stream: INetStream) -> None:
        """Stream handler for the direct protocol: read frames until the peer closes the stream."""
        peer = stream.muxed_conn.peer_id
        if peer not in self._allowed_peers or self._guard.is_banned(peer):
            self._log.warning("direct stream from a peer not allowed; reset", peer=peer.to_base58())
            await reset_quietly(stream)
            return
        reader = FrameReader(stream, self._max_frame_bytes)
        try:
            while True:
                body = await reader.next_frame()
                if body is None:
                    return
                if peer not in self._allowed_peers or self._guard.is_banned(peer):
                    await reset_quietly(stream)
                    return
                if not self._guard.allow(peer):
                    continue  # over its budget: dropped undecoded; the guard logged and penalised it
                kind, items = decode_frame(body, self._max_rlp_depth)
                self._deliver(kind, items, peer)
        except (FrameError, MalformedMessage) as exc:
            problem = exc.problem if isinstance(exc, MalformedMessage) else str(exc)
            self._bad_frame(stream, peer, problem)
            await reset_quietly(stream)
        except trio.Cancelled:
            raise
        except Exception as exc:  # a reset or a dead connection, or a decoder bug: contain it
            if _is_stream_failure(exc):
                self._log.debug("direct stream from peer ended", peer=peer.to_base58(), error=describe_error(exc))
            else:
                self._bad_frame(stream, peer, describe_error(exc))
            await reset_quietly(stream)

    def _bad_frame(self, stream: INetStream, peer: ID, problem: str) -> None:
        self._log.warning("malformed frame from peer; stream closed", peer=peer.to_base58(), problem=problem[:200])
        self._guard.penalise(peer, MALFORMED_PENALTY, "malformed frame", log=False)


def _is_stream_failure(exc: Exception) -> bool:
    """Whether ``exc`` is libp2p reporting a stream or connection that ended, not bad data."""
    return isinstance(exc, StreamError | IOException | MuxedStreamError | MuxedConnUnavailable
                      | trio.BrokenResourceError | trio.ClosedResourceError | ConnectionError)

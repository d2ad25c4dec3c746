"""Request/response over libp2p streams: status and blocks, one exchange per stream.

A client opens a stream, writes one request frame and reads one response frame;
the server closes the stream after answering. A frame is a varint length prefix
and an RLP body (:mod:`node.p2p.messages`). Both sides cap frame sizes before
reading a body and bound the whole exchange with a trio timeout, so a peer that
sends garbage, claims a huge frame, goes silent or dies mid-request costs one
stream and a warning, never the server or the caller.

libp2p's ``read_exactly`` gives up after 100 partial reads, which a multi-MiB
response over yamux can exceed, so bodies are read here in a loop instead.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.peer.id import ID
from libp2p.utils import decode_uvarint_from_stream, encode_varint_prefixed

from node.p2p.errors import (
    MalformedMessage,
    MalformedResponse,
    SyncRequestFailed,
    SyncRequestRefused,
    SyncRequestTimeout,
)
from node.p2p.messages import (
    MAX_BLOCKS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    MAX_TRANSACTIONS_PER_REQUEST,
    RESPONSE_BUDGET_BYTES,
    BlocksRequest,
    BlocksResponse,
    ErrorResponse,
    Status,
    StatusRequest,
    SyncRequest,
    SyncResponse,
    TransactionsRequest,
    TransactionsResponse,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from node.p2p.scoring import MALFORMED_PENALTY, PeerGuard
from node.p2p.streams import describe_error, reset_quietly
from node.rlp_nesting import MAX_RLP_DEPTH


class FrameError(Exception):
    """A frame could not be read: too large, truncated, or a bad length prefix."""


async def read_frame(stream: INetStream, max_bytes: int) -> bytes:
    """Read one length-prefixed frame, refusing lengths above ``max_bytes`` before reading the body."""
    try:
        length = await decode_uvarint_from_stream(stream)
    except StreamEOF:
        raise FrameError("stream ended before a frame started") from None
    if length > max_bytes:
        raise FrameError(f"frame of {length} bytes exceeds the limit of {max_bytes} bytes")
    body = bytearray()
    while len(body) < length:
        try:
            chunk = await stream.read(length - len(body))
        except StreamEOF:
            chunk = b""
        if not chunk:
            raise FrameError(f"stream ended after {len(body)} of {length} frame bytes")
        body += chunk
    return bytes(body)


async def write_frame(stream: INetStream, body: bytes) -> None:
    """Write one length-prefixed frame."""
    await stream.write(encode_varint_prefixed(body))


class SyncServer:
    """Answers status and blocks requests from allowed peers.

    The providers are synchronous calls into the node (they read the chain
    store); an exception from one becomes an error frame for the peer and a
    warning here. At most ``max_concurrent`` requests are served at once;
    further streams are reset, so a flood of requests cannot pile up tasks.
    Each request takes a token from the peer's budget in ``guard`` (none left:
    reset unread), and a malformed one costs the peer points.
    """

    def __init__(
        self,
        *,
        status_provider: Callable[[], Status],
        blocks_provider: Callable[[int, int], list[bytes]],
        allowed_peers: Collection[ID],
        timeout: float,
        max_concurrent: int,
        log: Any,
        guard: PeerGuard | None = None,
        max_rlp_depth: int = MAX_RLP_DEPTH,
        transactions_provider: Callable[[list[bytes]], list[bytes]] | None = None,
    ) -> None:
        self._guard = guard
        self._transactions_provider = transactions_provider
        """hashes -> the encodings of those held (compact proposals' fetches); None: refused."""
        self._max_rlp_depth = max_rlp_depth
        self._status_provider = status_provider
        self._blocks_provider = blocks_provider
        self._allowed_peers = allowed_peers
        self._timeout = timeout
        self._slots = trio.Semaphore(max_concurrent)
        self._log = log

    async def handle_status_stream(self, stream: INetStream) -> None:
        """Stream handler for the network-independent status protocol."""
        await self._serve(stream, status_only=True)

    async def handle_sync_stream(self, stream: INetStream) -> None:
        """Stream handler for the network's sync protocol (status and blocks)."""
        await self._serve(stream, status_only=False)

    async def _serve(self, stream: INetStream, *, status_only: bool) -> None:
        peer = stream.muxed_conn.peer_id
        if peer not in self._allowed_peers:
            self._log.warning("sync request from a peer not in the allow-list", peer=str(peer))
            await reset_quietly(stream)
            return
        if self._guard is not None and not self._guard.allow(peer):
            await reset_quietly(stream)  # over its budget or banned; the guard logged it
            return
        try:
            self._slots.acquire_nowait()
        except trio.WouldBlock:
            self._log.warning("sync server busy; request dropped", peer=str(peer))
            await reset_quietly(stream)
            return
        try:
            with trio.move_on_after(self._timeout) as scope:
                payload = await read_frame(stream, MAX_REQUEST_BYTES)
                response = self.answer(payload, status_only=status_only, peer=str(peer))
                await write_frame(stream, encode_response(response))
                await stream.close()
            if scope.cancelled_caught:
                self._log.warning("sync request timed out", peer=str(peer), timeout=self._timeout)
                await reset_quietly(stream)
        except Exception as exc:  # a peer's bad bytes or a dead connection: contain it
            self._log.warning("sync request failed", peer=str(peer), error=describe_error(exc))
            await reset_quietly(stream)
        finally:
            self._slots.release()

    def answer(self, payload: bytes, *, status_only: bool, peer: str) -> SyncResponse:
        """The response to one request frame body; never raises."""
        try:
            request = decode_request(payload, self._max_rlp_depth)
        except MalformedMessage as exc:
            self._log.warning("malformed sync request", peer=peer, problem=exc.problem)
            if self._guard is not None:
                self._guard.penalise(ID.from_base58(peer), MALFORMED_PENALTY, "malformed sync request", log=False)
            return ErrorResponse(reason=str(exc))
        if isinstance(request, StatusRequest):
            try:
                return self._status_provider()
            except Exception as exc:
                self._log.warning("status provider failed", peer=peer, error=describe_error(exc))
                return ErrorResponse(reason="status unavailable")
        if status_only:
            self._log.warning("blocks request on the status protocol", peer=peer)
            return ErrorResponse(reason="only status requests are served on this protocol")
        if isinstance(request, TransactionsRequest):
            return self._transactions(request, peer)
        return self._blocks(request, peer)

    def _transactions(self, request: TransactionsRequest, peer: str) -> SyncResponse:
        if self._transactions_provider is None:
            return ErrorResponse(reason="transactions are not served here")
        try:
            items = self._transactions_provider(list(request.hashes[:MAX_TRANSACTIONS_PER_REQUEST]))
        except Exception as exc:
            self._log.warning("transactions provider failed", peer=peer, error=describe_error(exc))
            return ErrorResponse(reason="transactions unavailable")
        served: list[bytes] = []
        size = 0
        for item in items:
            if size + len(item) > RESPONSE_BUDGET_BYTES:
                break
            served.append(item)
            size += len(item)
        return TransactionsResponse(items=tuple(served))

    def _blocks(self, request: BlocksRequest, peer: str) -> SyncResponse:
        count = min(request.count, MAX_BLOCKS_PER_REQUEST)
        try:
            items = self._blocks_provider(request.start, count)
        except Exception as exc:
            self._log.warning("blocks provider failed", peer=peer, start=request.start, error=describe_error(exc))
            return ErrorResponse(reason="blocks unavailable")
        if not isinstance(items, list | tuple) or not all(isinstance(item, bytes) for item in items):
            self._log.warning("blocks provider returned something other than a list of bytes", peer=peer)
            return ErrorResponse(reason="blocks unavailable")
        served: list[bytes] = []
        size = 0
        for item in items[:count]:
            if served and size + len(item) > RESPONSE_BUDGET_BYTES:
                break
            served.append(item)
            size += len(item)
        if size > MAX_RESPONSE_BYTES - 64:
            self._log.warning("block too large to serve", peer=peer, start=request.start, size=size)
            return ErrorResponse(reason=f"block at height {request.start} is larger than a response frame")
        return BlocksResponse(items=tuple(served))


async def request(
    host: IHost, peer: ID, protocol_id: str, message: SyncRequest, *, timeout: float,
    max_rlp_depth: int = MAX_RLP_DEPTH,
) -> SyncResponse:
    """Send one request to ``peer`` and return its decoded answer.

    Raises :class:`SyncRequestTimeout` when the whole exchange (stream
    negotiation included) takes longer than ``timeout``, and
    :class:`SyncRequestFailed` for anything else that goes wrong: the peer
    does not speak the protocol, resets the stream, dies, or sends bytes that
    do not decode (then :class:`MalformedResponse`). An :class:`ErrorResponse`
    is returned, not raised; callers turn it into :class:`SyncRequestRefused`.
    """
    kind = request_kind(message)
    stream: INetStream | None = None
    try:
        with trio.move_on_after(timeout) as scope:
            stream = await host.new_stream(peer, [TProtocol(protocol_id)])
            await write_frame(stream, encode_request(message))
            payload = await read_frame(stream, MAX_RESPONSE_BYTES)
            response = decode_response(payload, max_rlp_depth)
            await stream.close()
            return response
    except MalformedMessage as exc:
        await reset_quietly(stream)
        raise MalformedResponse(str(peer), kind, exc.problem) from None
    except Exception as exc:  # libp2p raises assorted types for dead or refusing peers
        await reset_quietly(stream)
        raise SyncRequestFailed(str(peer), kind, describe_error(exc)) from None
    assert scope.cancelled_caught
    await reset_quietly(stream)
    raise SyncRequestTimeout(str(peer), kind, timeout)


def request_kind(message: SyncRequest) -> str:
    """The request's name in errors and logs."""
    if isinstance(message, StatusRequest):
        return "status"
    return "transactions" if isinstance(message, TransactionsRequest) else "blocks"


def _expect_items(peer: ID, response: SyncResponse, count: int, kind: type[BlocksResponse | TransactionsResponse],
                  request: str, too_many: str, other: str) -> list[bytes]:
    """The items of a ``kind`` response, at most ``count``; a refusal or another answer raises."""
    if isinstance(response, kind):
        if len(response.items) > count:
            raise SyncRequestFailed(str(peer), request, f"peer sent {len(response.items)} {too_many}for {count} asked")
        return list(response.items)
    if isinstance(response, ErrorResponse):
        raise SyncRequestRefused(str(peer), request, response.reason)
    raise SyncRequestFailed(str(peer), request, f"peer answered a {request} request with {other}")


def expect_transactions(peer: ID, response: SyncResponse, count: int) -> list[bytes]:
    """The transactions in ``response`` (at most ``count``); the caller checks they are the ones it asked for."""
    return _expect_items(peer, response, count, TransactionsResponse, "transactions", "", "something else")


def expect_status(peer: ID, response: SyncResponse) -> Status:
    """The status in ``response``, or the matching :class:`SyncRequestFailed`."""
    if isinstance(response, Status):
        return response
    if isinstance(response, ErrorResponse):
        raise SyncRequestRefused(str(peer), "status", response.reason)
    raise SyncRequestFailed(str(peer), "status", "peer answered a status request with blocks")


def expect_blocks(peer: ID, response: SyncResponse, count: int) -> list[bytes]:
    """The blocks in ``response``, checked against what was asked for."""
    return _expect_items(peer, response, count, BlocksResponse, "blocks", "items ", "a status")

"""Status and blocks requests between real libp2p hosts, including peers that misbehave."""

from __future__ import annotations

import pytest
import trio
from libp2p.network.stream.exceptions import StreamError
from libp2p.peer.id import ID
from libp2p.utils import encode_varint_prefixed

from node.p2p import (
    MAX_BLOCKS_PER_REQUEST,
    PeerNotConnected,
    SyncRequestFailed,
    SyncRequestRefused,
    SyncRequestTimeout,
)
from node.p2p.messages import (
    MAX_REQUEST_BYTES,
    BlocksRequest,
    ErrorResponse,
    Status,
    StatusRequest,
    decode_response,
    encode_request,
    sync_protocol_id,
)
from node.p2p.sync_protocol import read_frame
from tests.node.p2p.harness import FAST, NETWORK_ID, Chain, Node, start_validators, wait_until

SYNC = sync_protocol_id(NETWORK_ID)


async def test_status_and_blocks_come_from_the_providers(nursery: trio.Nursery) -> None:
    a, b = await start_validators(nursery, 2)
    await wait_until(lambda: a.network.peers() == [b.peer_id], what="a connected to b")

    status = await a.network.request_status(b.peer_id)
    blocks = await a.network.request_blocks(b.peer_id, 3, 5)

    assert status == b.chain.status()
    assert blocks == [b"block 3", b"block 4", b"block 5", b"block 6", b"block 7"]
    assert await a.network.request_blocks(b.peer_id, 9, 5) == [b"block 9", b"block 10"]  # stops at the head
    assert await a.network.request_blocks(b.peer_id, 11, 5) == []


async def test_status_is_exchanged_on_connect_and_polled(nursery: trio.Nursery) -> None:
    a, b = await start_validators(nursery, 2)

    await wait_until(lambda: (b.peer_id, b.chain.status()) in a.statuses, what="b's status at a")
    await wait_until(lambda: (a.peer_id, a.chain.status()) in b.statuses, what="a's status at b")
    b.chain.blocks.append(b"block 11")  # b commits a block; a's poll notices
    await wait_until(lambda: any(status.height == 11 for _, status in a.statuses), timeout=3, what="polled height 11")


async def test_a_count_above_the_cap_is_clamped(nursery: trio.Nursery) -> None:
    chain = Chain(height=200)
    a, b = await start_validators(nursery, 2)
    b.chain.blocks = chain.blocks
    await wait_until(lambda: a.network.peers() == [b.peer_id], what="a connected to b")

    blocks = await a.network.request_blocks(b.peer_id, 0, 1000)
    assert blocks == chain.blocks[:MAX_BLOCKS_PER_REQUEST]

    # A raw request past the cap (as another implementation might send) is clamped by the server too.
    stream = await a.network.host.new_stream(ID.from_base58(b.peer_id), [SYNC])
    await stream.write(encode_varint_prefixed(encode_request(BlocksRequest(start=0, count=1000))))
    response = decode_response(await read_frame(stream, 1 << 20))
    assert len(response.items) == MAX_BLOCKS_PER_REQUEST


async def test_bad_arguments_and_failing_providers_are_clear_errors(nursery: trio.Nursery) -> None:
    a, b = await start_validators(nursery, 2)
    await wait_until(lambda: a.network.peers() == [b.peer_id], what="a connected to b")

    with pytest.raises(ValueError, match="start"):
        await a.network.request_blocks(b.peer_id, -1, 5)
    with pytest.raises(ValueError, match="count"):
        await a.network.request_blocks(b.peer_id, 0, 0)
    with pytest.raises(PeerNotConnected):
        await a.network.request_status("not a peer id")
    b.chain.fail = True
    with pytest.raises(SyncRequestRefused, match="blocks unavailable"):
        await a.network.request_blocks(b.peer_id, 0, 5)
    assert b.log.count("warning", "blocks provider failed") == 1


async def _raw_exchange(node: Node, peer_id: str, frame: bytes) -> bytes | None:
    """Send raw bytes on the sync protocol; return the answer frame, or None if the server reset/closed."""
    stream = await node.network.host.new_stream(ID.from_base58(peer_id), [SYNC])
    await stream.write(frame)
    try:
        with trio.fail_after(3):
            return await read_frame(stream, 1 << 20)
    except trio.TooSlowError:
        raise
    except Exception:
        return None


async def test_malformed_frames_are_answered_or_dropped_and_the_server_keeps_serving(nursery: trio.Nursery) -> None:
    a, b = await start_validators(nursery, 2)
    await wait_until(lambda: a.network.peers() == [b.peer_id], what="a connected to b")

    not_rlp = await _raw_exchange(b, a.peer_id, encode_varint_prefixed(b"\xff\xfe garbage"))
    unknown_type = await _raw_exchange(b, a.peer_id, encode_varint_prefixed(b"\xc1\x09"))  # RLP [9]
    bad_varint = await _raw_exchange(b, a.peer_id, b"\xff" * 12)
    oversized = await _raw_exchange(b, a.peer_id, encode_varint_prefixed(b"x" * (MAX_REQUEST_BYTES + 1)))
    truncated = await b.network.host.new_stream(ID.from_base58(a.peer_id), [SYNC])
    await truncated.write(encode_varint_prefixed(b"\xc1\x01")[:-1])
    await truncated.reset()

    assert isinstance(decode_response(not_rlp), ErrorResponse)
    assert "unknown request type 9" in decode_response(unknown_type).reason
    assert bad_varint is None and oversized is None
    await wait_until(lambda: a.log.count("warning", "sync request failed") >= 3, what="warnings at a")
    assert a.log.count("warning", "malformed sync request") == 2
    assert await b.network.request_status(a.peer_id) == a.chain.status()
    assert await b.network.request_blocks(a.peer_id, 0, 2) == [b"block 0", b"block 1"]


async def test_a_silent_client_is_timed_out_by_the_server(nursery: trio.Nursery) -> None:
    a, b = await start_validators(nursery, 2)
    await wait_until(lambda: a.network.peers() == [b.peer_id], what="a connected to b")

    silent = await b.network.host.new_stream(ID.from_base58(a.peer_id), [SYNC])
    await wait_until(lambda: a.log.count("warning", "sync request timed out") == 1,
                     timeout=FAST.serve_timeout + 2, what="the server's timeout")
    with trio.fail_after(2), pytest.raises(StreamError):
        await silent.read(1)  # the server reset the stream
    assert await b.network.request_status(a.peer_id) == a.chain.status()


async def test_a_silent_or_dying_server_fails_the_request_promptly(nursery: trio.Nursery) -> None:
    a, b = await start_validators(nursery, 2)
    await wait_until(lambda: a.network.peers() == [b.peer_id], what="a connected to b")
    requests_seen = trio.Event()

    async def never_answer(stream: object) -> None:
        requests_seen.set()
        await trio.sleep_forever()

    b.network.host.set_stream_handler(SYNC, never_answer)
    start = trio.current_time()
    with pytest.raises(SyncRequestTimeout):
        await a.network.request_blocks(b.peer_id, 0, 1)
    assert trio.current_time() - start < FAST.request_timeout + 1

    async def reset_midway(stream: object) -> None:
        await stream.read(2)
        await stream.reset()

    b.network.host.set_stream_handler(SYNC, reset_midway)
    with pytest.raises(SyncRequestFailed) as failure:
        with trio.fail_after(FAST.request_timeout - 0.5):
            await a.network.request_blocks(b.peer_id, 0, 1)
    assert not isinstance(failure.value, SyncRequestTimeout)

    async def die_midway(stream: object) -> None:
        await stream.read(2)
        b.cancel_scope.cancel()  # the whole node goes away while a waits
        await trio.sleep_forever()

    b.network.host.set_stream_handler(SYNC, die_midway)
    with pytest.raises(SyncRequestFailed) as failure:
        with trio.fail_after(FAST.request_timeout - 0.5):
            await a.network.request_blocks(b.peer_id, 0, 1)
    assert not isinstance(failure.value, SyncRequestTimeout)
    assert requests_seen.is_set()
    await wait_until(lambda: a.network.peers() == [], what="b gone")
    assert isinstance(a.chain.status(), Status) and StatusRequest() == StatusRequest()

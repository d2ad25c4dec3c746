"""The sync and direct-frame wire format: round trips and every way a peer's bytes can be wrong."""

from __future__ import annotations

import pytest
import rlp

from node.p2p.errors import MalformedMessage
from node.p2p.messages import (
    KIND_CONSENSUS,
    KIND_TRANSACTIONS,
    MAX_BATCH_ITEMS,
    BlocksRequest,
    BlocksResponse,
    ErrorResponse,
    Status,
    StatusRequest,
    decode_frame,
    decode_request,
    decode_response,
    direct_protocol_id,
    encode_frame,
    encode_request,
    encode_response,
    sync_protocol_id,
)


def decode_batch(data: bytes, max_depth: int = 16) -> list[bytes]:
    kind, items = decode_frame(data, max_depth)
    assert kind == KIND_TRANSACTIONS
    return items


def encode_batch(items: list[bytes]) -> bytes:
    return encode_frame(KIND_TRANSACTIONS, items)

STATUS = Status(network_id=b"\x11" * 32, height=42, head_hash=b"\x22" * 32)


def test_names_carry_the_network_id() -> None:
    network_id = bytes.fromhex("ab" * 32)
    assert direct_protocol_id(network_id) == "/settle/abababababababab/direct/1"
    assert sync_protocol_id(network_id) == "/settle/abababababababab/sync/1"
    assert sync_protocol_id(bytes(32)) != sync_protocol_id(network_id)


@pytest.mark.parametrize("request_", [StatusRequest(), BlocksRequest(start=0, count=1), BlocksRequest(2**64 - 1, 64)])
def test_requests_round_trip(request_: object) -> None:
    assert decode_request(encode_request(request_)) == request_


@pytest.mark.parametrize(
    "response",
    [STATUS, BlocksResponse(items=()), BlocksResponse(items=(b"", b"\x00" * 100)), ErrorResponse(reason="busy")],
)
def test_responses_round_trip(response: object) -> None:
    assert decode_response(encode_response(response)) == response


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"", "not RLP"),
        (b"\xff\xfe", "not RLP"),
        (rlp.encode(b"bytes, not a list"), "non-empty RLP list"),
        (rlp.encode([]), "non-empty RLP list"),
        (rlp.encode([9]), "unknown request type 9"),
        (rlp.encode([[1]]), "message type must be an integer"),
        (rlp.encode([1, 2]), "status request must have 1 fields"),
        (rlp.encode([2, 0]), "blocks request must have 3 fields"),
        (rlp.encode([2, 0, 0]), "count must be at least 1"),
        (rlp.encode([2, b"\x00\x01", 1]), "start is not a canonical integer"),
        (rlp.encode([2, 2**64, 1]), "start 18446744073709551616 is larger"),
        (rlp.encode([2, [], 1]), "start must be an integer"),
        (rlp.encode([2, 0, 1]) + b"trailing", "not RLP"),
    ],
)
def test_malformed_requests_are_refused_with_the_reason(payload: bytes, problem: str) -> None:
    with pytest.raises(MalformedMessage, match=problem):
        decode_request(payload)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (rlp.encode([1, [b"\x11" * 31, 42, b"\x22" * 32]]), "network_id must be 32 bytes"),
        (rlp.encode([1, [b"\x11" * 32, 42]]), "status must be"),
        (rlp.encode([1, b"flat"]), "status must be"),
        (rlp.encode([2, [b"ok", [b"nested"]]]), "blocks must be a list of byte strings"),
        (rlp.encode([0, [b"reason"]]), "error reason must be a byte string"),
        (rlp.encode([7, b""]), "unknown response type 7"),
        (rlp.encode([2]), "response must have 2 fields"),
    ],
)
def test_malformed_responses_are_refused_with_the_reason(payload: bytes, problem: str) -> None:
    with pytest.raises(MalformedMessage, match=problem):
        decode_response(payload)


def test_a_peer_cannot_make_us_keep_a_long_error_reason() -> None:
    response = decode_response(rlp.encode([0, b"x" * 10_000]))
    assert response == ErrorResponse(reason="x" * 200)


def test_status_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="head_hash"):
        Status(network_id=bytes(32), height=1, head_hash=b"short")
    with pytest.raises(ValueError, match="height"):
        Status(network_id=bytes(32), height=-1, head_hash=bytes(32))


def test_direct_frames_round_trip_and_reject_garbage() -> None:
    items = [b"tx one", b"", b"\x00" * 1000]
    assert decode_frame(encode_frame(KIND_TRANSACTIONS, items)) == (KIND_TRANSACTIONS, items)
    assert decode_frame(encode_frame(KIND_CONSENSUS, [b"vote"])) == (KIND_CONSENSUS, [b"vote"])
    with pytest.raises(MalformedMessage):
        decode_frame(b"\xff not rlp")
    with pytest.raises(MalformedMessage, match="byte strings"):
        decode_frame(rlp.encode([KIND_CONSENSUS, [b"ok", [b"nested"]]]))
    with pytest.raises(MalformedMessage, match="exceeds"):
        decode_frame(rlp.encode([KIND_CONSENSUS, [b"x"] * (MAX_BATCH_ITEMS + 1)]))
    with pytest.raises(MalformedMessage, match="unknown frame kind 0"):
        decode_frame(rlp.encode([0, [b"x"]]))
    with pytest.raises(MalformedMessage, match="must have 2 fields"):
        decode_frame(rlp.encode([KIND_CONSENSUS, [b"x"], b"extra"]))
    with pytest.raises(MalformedMessage, match="must be a list"):
        decode_frame(rlp.encode([KIND_CONSENSUS, b"x"]))


def _nested(depth: int) -> bytes:
    data = b"\xc0"
    for _ in range(depth - 1):
        data = rlp.codec.length_prefix(len(data), 0xC0) + data
    return data


def test_deep_nesting_is_refused_before_decoding_everywhere_a_peer_sends_rlp() -> None:
    deep = _nested(100_000)
    for decode in (decode_frame, decode_request, decode_response):
        with pytest.raises(MalformedMessage, match="RLP lists nested deeper than 16"):
            decode(deep)
    # Payloads inside a well-formed message are decoded by the node next: checked too, typed
    # transactions (a type byte, then RLP) included.
    with pytest.raises(MalformedMessage, match="nested deeper than 16"):
        decode_batch(encode_batch([b"ok", _nested(17)]))
    with pytest.raises(MalformedMessage, match="nested deeper than 16"):
        decode_batch(encode_batch([b"\x02" + _nested(17)]))
    with pytest.raises(MalformedMessage, match="nested deeper than 4"):
        decode_response(rlp.encode([2, [_nested(5)]]), max_depth=4)
    assert decode_batch(encode_batch([b"\x02" + _nested(16), _nested(16)])) == [b"\x02" + _nested(16), _nested(16)]

"""What the validator network puts on the wire: protocol ids, topics and sync messages.

Pure data and pure functions, no I/O, so every decoding rule is unit-testable.

Names carry the network id (the 32-byte genesis id) so that nodes of different
networks never exchange messages or blocks, even when they share peer ids:

* the direct protocol ``/settle/<tag>/direct/1``: one long-lived stream per
  peer and direction, carrying transactions and consensus messages;
* the sync protocol ``/settle/<tag>/sync/1`` (status and blocks requests);

where ``<tag>`` is the first 16 hex digits of the network id. The status
request alone is also served on ``/settle/status/1``, which has no network id
in it: that is how a node learns that a peer runs a *different* genesis
(otherwise the mismatch would look like "protocol not supported").

A direct frame carries the payloads of one kind (transactions, or consensus
messages) that one node published in the same moment, as ``[kind, [payload,
...]]``: each frame costs a write and a read per hop, so a burst travels as one
frame, not hundreds.

Direct and sync frames are RLP lists behind a varint length prefix (see
:mod:`node.p2p.direct` and :mod:`node.p2p.sync_protocol`). Sync messages::

    request   [1]                          status
              [2, start, count]            blocks start .. start+count-1
              [3, [hash, ...]]             transactions by hash (a compact proposal's missing ones)
    response  [0, reason]                  error (reason is UTF-8 text)
              [1, [network_id, height, head_hash]]
              [2, [item, ...]]             encoded blocks, in height order
              [3, [transaction, ...]]      those of the asked ones the peer holds, each as it hashes
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from rlp.exceptions import DecodingError, DeserializationError
from rlp.sedes import big_endian_int

from node.p2p.errors import MalformedMessage
from node.rlp_nesting import MAX_RLP_DEPTH, RLPTooDeep, check_rlp_nesting

NETWORK_ID_LENGTH = 32
"""The network id is the 32-byte genesis id."""

HASH_LENGTH = 32
"""Block hashes are 32-byte keccak digests."""

STATUS_PROTOCOL_ID = "/settle/status/1"
"""Status requests only, with no network id in the name, so a genesis mismatch is visible."""

MAX_BLOCKS_PER_REQUEST = 64
"""A blocks request asks for at most this many items; servers clamp larger counts."""

MAX_TRANSACTIONS_PER_REQUEST = 1024
"""Most hashes one transactions request may carry (``[p2p] max_fetch_transactions`` is at most this)."""
MAX_REQUEST_BYTES = 64 + 33 * MAX_TRANSACTIONS_PER_REQUEST
"""Largest request frame a server reads: a transactions request of the most hashes (status and blocks
requests are a dozen bytes)."""

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
"""Largest response frame a client reads."""

RESPONSE_BUDGET_BYTES = 16 * 1024 * 1024
"""A server stops adding blocks to a response once it holds this many bytes (at least one block is sent)."""

MAX_BATCH_ITEMS = 1024
"""Most payloads carried by one direct frame."""

BATCH_OVERHEAD_BYTES = 16
"""RLP list header plus one item header, the most a single payload grows by in a batch."""

FRAME_OVERHEAD_BYTES = 32
"""What a direct frame adds around its payloads' batch: the outer list and the kind."""

KIND_TRANSACTIONS = 1
"""Direct frame kind: raw signed transactions."""

KIND_CONSENSUS = 2
"""Direct frame kind: consensus messages (proposals, votes, round changes)."""

FRAME_KINDS = (KIND_TRANSACTIONS, KIND_CONSENSUS)

MAX_REASON_LENGTH = 200
"""Error reasons are cut to this many characters, so a peer cannot make us log megabytes."""


_ERROR, _STATUS, _BLOCKS, _TRANSACTIONS = 0, 1, 2, 3
_MAX_START = 2**64 - 1


def network_tag(network_id: bytes) -> str:
    """The short form of the network id used in topic and protocol names."""
    return network_id.hex()[:16]


def direct_protocol_id(network_id: bytes) -> str:
    """Stream protocol of the long-lived per-peer streams carrying transactions and consensus messages."""
    return f"/settle/{network_tag(network_id)}/direct/1"


def sync_protocol_id(network_id: bytes) -> str:
    """Stream protocol for status and blocks requests within one network."""
    return f"/settle/{network_tag(network_id)}/sync/1"


@dataclass(frozen=True, slots=True)
class Status:
    """A node's view of its chain, exchanged when peers connect and polled periodically."""

    network_id: bytes
    """Genesis id; a peer with a different one runs a different network."""

    height: int
    """Height of the node's head block."""

    head_hash: bytes
    """Hash of the node's head block."""

    def __post_init__(self) -> None:
        if not isinstance(self.network_id, bytes) or len(self.network_id) != NETWORK_ID_LENGTH:
            raise ValueError(f"network_id must be {NETWORK_ID_LENGTH} bytes")
        if not isinstance(self.height, int) or isinstance(self.height, bool) or not 0 <= self.height <= _MAX_START:
            raise ValueError(f"height must be an integer in 0..2**64-1, got {self.height!r}")
        if not isinstance(self.head_hash, bytes) or len(self.head_hash) != HASH_LENGTH:
            raise ValueError(f"head_hash must be {HASH_LENGTH} bytes")


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """Ask a peer for its :class:`Status`."""


@dataclass(frozen=True, slots=True)
class BlocksRequest:
    """Ask a peer for encoded blocks ``start .. start + count - 1``."""

    start: int
    """First height wanted."""

    count: int
    """How many heights are wanted (1 or more; servers serve at most MAX_BLOCKS_PER_REQUEST)."""


@dataclass(frozen=True, slots=True)
class BlocksResponse:
    """Encoded blocks in height order from the requested start; possibly fewer than asked."""

    items: tuple[bytes, ...]
    """Opaque encodings produced by the provider's ``blocks_provider``."""


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """A peer's refusal, with a short human-readable reason."""

    reason: str
    """Why the request was refused (bad request, busy, provider failure)."""


@dataclass(frozen=True, slots=True)
class TransactionsRequest:
    """Ask a peer for the transactions with these hashes (a compact proposal's the asker lacks)."""

    hashes: tuple[bytes, ...]
    """32-byte transaction hashes, 1 to MAX_TRANSACTIONS_PER_REQUEST of them."""


@dataclass(frozen=True, slots=True)
class TransactionsResponse:
    """The asked-for transactions the peer holds, each encoded as it hashes (type byte and payload, or legacy RLP)."""

    items: tuple[bytes, ...]


SyncRequest = StatusRequest | BlocksRequest | TransactionsRequest
SyncResponse = Status | BlocksResponse | TransactionsResponse | ErrorResponse


def encode_request(request: SyncRequest) -> bytes:
    """The RLP frame body of a request."""
    if isinstance(request, StatusRequest):
        return rlp.encode([_STATUS])
    if isinstance(request, TransactionsRequest):
        return rlp.encode([_TRANSACTIONS, list(request.hashes)])
    return rlp.encode([_BLOCKS, request.start, request.count])


def decode_request(payload: bytes, max_depth: int = MAX_RLP_DEPTH) -> SyncRequest:
    """Parse a request frame body; anything unexpected is a :class:`MalformedMessage`."""
    fields = _decode_list(payload, max_depth)
    kind = _message_type(fields)
    if kind == _STATUS:
        _expect_length(fields, 1, "status request")
        return StatusRequest()
    if kind == _BLOCKS:
        _expect_length(fields, 3, "blocks request")
        start = _decode_int(fields[1], "start", _MAX_START)
        count = _decode_int(fields[2], "count", _MAX_START)
        if count < 1:
            raise MalformedMessage("blocks request count must be at least 1")
        return BlocksRequest(start=start, count=count)
    if kind == _TRANSACTIONS:
        _expect_length(fields, 2, "transactions request")
        hashes = fields[1]
        if not isinstance(hashes, list) or not 1 <= len(hashes) <= MAX_TRANSACTIONS_PER_REQUEST:
            raise MalformedMessage(f"transactions request must list 1 to {MAX_TRANSACTIONS_PER_REQUEST} hashes")
        if not all(isinstance(item, bytes) and len(item) == HASH_LENGTH for item in hashes):
            raise MalformedMessage(f"transaction hashes must be {HASH_LENGTH} bytes each")
        return TransactionsRequest(hashes=tuple(hashes))
    raise MalformedMessage(f"unknown request type {kind}")


def encode_response(response: SyncResponse) -> bytes:
    """The RLP frame body of a response."""
    if isinstance(response, Status):
        return rlp.encode([_STATUS, [response.network_id, response.height, response.head_hash]])
    if isinstance(response, BlocksResponse):
        return rlp.encode([_BLOCKS, list(response.items)])
    if isinstance(response, TransactionsResponse):
        return rlp.encode([_TRANSACTIONS, list(response.items)])
    return rlp.encode([_ERROR, response.reason[:MAX_REASON_LENGTH].encode("utf-8")])


def decode_response(payload: bytes, max_depth: int = MAX_RLP_DEPTH) -> SyncResponse:
    """Parse a response frame body; anything unexpected is a :class:`MalformedMessage`.

    Each block item is checked for nesting too: the node decodes them next.
    """
    fields = _decode_list(payload, max_depth)
    kind = _message_type(fields)
    _expect_length(fields, 2, "response")
    body = fields[1]
    if kind == _ERROR:
        if not isinstance(body, bytes):
            raise MalformedMessage("error reason must be a byte string")
        return ErrorResponse(reason=body.decode("utf-8", errors="replace")[:MAX_REASON_LENGTH])
    if kind == _STATUS:
        if not isinstance(body, list) or len(body) != 3 or not all(isinstance(item, bytes) for item in body):
            raise MalformedMessage("status must be [network_id, height, head_hash]")
        try:
            return Status(
                network_id=body[0],
                height=_decode_int(body[1], "height", _MAX_START),
                head_hash=body[2],
            )
        except ValueError as exc:
            raise MalformedMessage(str(exc)) from None
    if kind == _BLOCKS:
        if not isinstance(body, list) or not all(isinstance(item, bytes) for item in body):
            raise MalformedMessage("blocks must be a list of byte strings")
        for item in body:
            check_payload_nesting(item, max_depth)
        return BlocksResponse(items=tuple(body))
    if kind == _TRANSACTIONS:
        if not isinstance(body, list) or not all(isinstance(item, bytes) and item for item in body):
            raise MalformedMessage("transactions must be a list of non-empty byte strings")
        for item in body:
            check_payload_nesting(item, max_depth)
        return TransactionsResponse(items=tuple(body))
    raise MalformedMessage(f"unknown response type {kind}")


def encode_frame(kind: int, items: list[bytes]) -> bytes:
    """The body of one direct frame carrying ``items`` of ``kind`` in order."""
    return rlp.encode([kind, items])


def decode_frame(data: bytes, max_depth: int = MAX_RLP_DEPTH) -> tuple[int, list[bytes]]:
    """The kind and payloads of a direct frame body; anything else is a :class:`MalformedMessage`.

    The body must be ``[kind, [payload, ...]]`` with a known kind, at most ``MAX_BATCH_ITEMS``
    byte-string payloads, none nesting RLP lists deeper than ``max_depth``: the node decodes each
    one next (transactions, consensus messages), and would recurse as deep as the peer chose.
    """
    fields = _decode_list(data, max_depth)
    _expect_length(fields, 2, "direct frame")
    kind = _decode_int(fields[0], "frame kind", 255)
    if kind not in FRAME_KINDS:
        raise MalformedMessage(f"unknown frame kind {kind}")
    items = fields[1]
    if not isinstance(items, list):
        raise MalformedMessage("frame payloads must be a list")
    if len(items) > MAX_BATCH_ITEMS:
        raise MalformedMessage(f"frame of {len(items)} payloads exceeds {MAX_BATCH_ITEMS}")
    if not all(isinstance(item, bytes) for item in items):
        raise MalformedMessage("frame payloads must be byte strings")
    for item in items:
        check_payload_nesting(item, max_depth)
    return kind, items


def check_payload_nesting(payload: bytes, max_depth: int) -> None:
    """Refuse (:class:`MalformedMessage`) a payload the node would decode into lists nested deeper
    than ``max_depth``: an RLP item, or an EIP-2718 typed transaction (a type byte below 0x80, then
    RLP). Payloads that are neither pass: the node refuses them when it decodes them, without
    recursing."""
    if payload and payload[0] < 0x80:
        payload = payload[1:]
    if payload:
        _check_nesting(payload, max_depth)


def _check_nesting(payload: bytes, max_depth: int) -> None:
    try:
        check_rlp_nesting(payload, max_depth)
    except RLPTooDeep as exc:
        raise MalformedMessage(str(exc)) from None


def _decode_list(payload: bytes, max_depth: int) -> list:
    _check_nesting(payload, max_depth)
    try:
        fields = rlp.decode(payload, strict=True)
    except (DecodingError, DeserializationError) as exc:
        raise MalformedMessage(f"not RLP ({exc.__class__.__name__})") from None
    if not isinstance(fields, list) or not fields:
        raise MalformedMessage("expected a non-empty RLP list")
    return fields


def _message_type(fields: list) -> int:
    return _decode_int(fields[0], "message type", 255)


def _expect_length(fields: list, length: int, what: str) -> None:
    if len(fields) != length:
        raise MalformedMessage(f"{what} must have {length} fields, got {len(fields)}")


def _decode_int(field: object, name: str, maximum: int) -> int:
    if not isinstance(field, bytes):
        raise MalformedMessage(f"{name} must be an integer, got a list")
    try:
        value = big_endian_int.deserialize(field)
    except DeserializationError:
        raise MalformedMessage(f"{name} is not a canonical integer") from None
    if value > maximum:
        raise MalformedMessage(f"{name} {value} is larger than {maximum}")
    return value

"""The engine's 32-byte commands and 64-byte events (formats in docs/matching.md)."""
from __future__ import annotations

from typing import NamedTuple

from vm.matching.reference import OP_AMEND, OP_CANCEL, OP_PLACE

EVENT_SIZE = 64
COMMAND_SIZE = 32


def place(owner: int, side: int, kind: int, price: int, qty: int) -> bytes:
    """A PLACE command: ``owner`` is the caller's own account number (used for self-trade prevention)."""
    return (bytes([OP_PLACE, side, kind]) + bytes(5) + owner.to_bytes(8, "big") + price.to_bytes(8, "big")
            + qty.to_bytes(8, "big"))


def cancel(order_id: int) -> bytes:
    return bytes([OP_CANCEL]) + bytes(7) + order_id.to_bytes(8, "big") + bytes(16)


def amend(order_id: int, price: int, qty: int) -> bytes:
    """Amend to a new price and remaining quantity: a reduce at the same price keeps priority."""
    return (bytes([OP_AMEND]) + bytes(7) + order_id.to_bytes(8, "big") + price.to_bytes(8, "big")
            + qty.to_bytes(8, "big"))


class Event(NamedTuple):
    """One engine event; the meaning of ``a``..``d`` depends on ``kind`` (docs/matching.md)."""

    kind: int
    flag: int
    a: int
    b: int
    c: int
    d: int
    price: int
    qty: int


def decode_events(data: bytes) -> list[Event]:
    if len(data) % EVENT_SIZE:
        raise ValueError(f"events are {EVENT_SIZE}-byte records, got {len(data)} bytes")
    out = []
    for offset in range(0, len(data), EVENT_SIZE):
        record = data[offset:offset + EVENT_SIZE]
        words = [int.from_bytes(record[i:i + 8], "big") for i in (8, 16, 24, 40, 48, 56)]
        out.append(Event(record[0], record[1], *words))
    return out

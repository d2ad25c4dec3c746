"""The write-ahead safety record: what a validator must remember across a crash to never equivocate.

Emitted as ``PersistSafety`` before any message whose content depends on a new vote or lock, and
passed back to ``initial_state`` after a restart. It holds the height and round, the lock (prepared
certificate with its block, so the validator can still report and re-propose it), and the raw
messages the validator sent in the current round together with the proposal it voted for. A
restarted validator re-sends exactly those messages instead of signing new ones for that round.

Encoding (RLP): ``[version, height, round, lock, messages]`` with ``lock`` either ``[]`` or
``[round, block_hash, block, [prepare...]]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp

from consensus.errors import InvalidSafetyRecord

SAFETY_RECORD_VERSION = 1


@dataclass(frozen=True, slots=True)
class Lock:
    """A prepared certificate this validator saw and committed on (QBFT's preparedRound/Value)."""

    round: int
    block_hash: bytes
    block: bytes
    """The prepared block, carried in ROUND-CHANGEs so the next proposer can re-propose it."""
    prepares: tuple[bytes, ...]
    """A quorum of raw signed PREPAREs for (height, round, block_hash)."""


@dataclass(frozen=True, slots=True)
class SafetyRecord:
    """Decoded form of a PersistSafety record."""

    height: int
    round: int
    lock: Lock | None
    messages: tuple[bytes, ...]
    """Raw messages: the validator's own messages of this round and the proposal it prepared."""

    def encode(self) -> bytes:
        lock = [] if self.lock is None else [self.lock.round, self.lock.block_hash, self.lock.block,
                                             list(self.lock.prepares)]
        encoded: bytes = rlp.encode([SAFETY_RECORD_VERSION, self.height, self.round, lock, list(self.messages)])
        return encoded

    @classmethod
    def decode(cls, data: bytes) -> SafetyRecord:
        """Parse a record; raise InvalidSafetyRecord if it is corrupt (the node must not guess)."""
        try:
            items = rlp.decode(bytes(data), strict=True)
        except rlp.exceptions.RLPException as error:
            raise InvalidSafetyRecord(f"not valid RLP: {error}") from None
        except RecursionError:  # lists nested past the interpreter's recursion limit
            raise InvalidSafetyRecord("not valid RLP: lists nested too deeply") from None
        if not isinstance(items, list) or len(items) != 5:
            raise InvalidSafetyRecord("expected an RLP list [version, height, round, lock, messages]")
        version, height, round, lock, messages = items
        if _uint(version, "version") != SAFETY_RECORD_VERSION:
            raise InvalidSafetyRecord(f"unknown safety record version {_uint(version, 'version')}")
        if not isinstance(lock, list) or len(lock) not in (0, 4):
            raise InvalidSafetyRecord("lock: expected [] or [round, block_hash, block, prepares]")
        decoded_lock = None
        if lock:
            lock_round, block_hash, block, prepares = lock
            if not isinstance(prepares, list) or not all(isinstance(item, bytes) for item in prepares):
                raise InvalidSafetyRecord("lock: prepares must be a list of byte strings")
            if not isinstance(block_hash, bytes) or len(block_hash) != 32 or not isinstance(block, bytes):
                raise InvalidSafetyRecord("lock: block_hash must be 32 bytes and block a byte string")
            decoded_lock = Lock(_uint(lock_round, "lock round"), block_hash, block, tuple(prepares))
        if not isinstance(messages, list) or not all(isinstance(item, bytes) for item in messages):
            raise InvalidSafetyRecord("messages: expected a list of byte strings")
        return cls(_uint(height, "height"), _uint(round, "round"), decoded_lock, tuple(messages))


def _uint(item: object, name: str) -> int:
    if not isinstance(item, bytes):
        raise InvalidSafetyRecord(f"{name}: expected an integer")
    if item[:1] == b"\x00" or len(item) > 8:
        raise InvalidSafetyRecord(f"{name}: not a canonical 64-bit integer")
    return int.from_bytes(item, "big")

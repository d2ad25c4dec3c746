"""Vote counting: one vote per validator per (height, round, kind), thresholds reported once, evidence.

PREPAREs and COMMITs are counted per (height, round, kind, block_hash); ROUND-CHANGEs per
(height, round) whatever they report, since any quorum of them justifies a proposal. A validator's
first vote in a (height, round, kind) slot counts; a different second one is kept as Evidence and
not counted, an identical one (a replay or rebroadcast) is ignored.

The collector is immutable: ``add`` returns a new collector, so the state machine's states stay
values that tests can compare and keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from consensus.messages import MessageKind, RoundChange, SignedMessage
from consensus.validators import ValidatorSet

QUORUM = "quorum"
WEAK = "f+1"
"""f+1 ROUND-CHANGEs: at least one honest validator is in that round."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """Two different signed votes by one validator in the same (height, round, kind): equivocation."""

    kind: MessageKind
    first: SignedMessage
    second: SignedMessage

    @property
    def offender(self) -> bytes:
        return self.first.sender


@dataclass(frozen=True, slots=True)
class Threshold:
    """A count crossed a threshold for the first time."""

    height: int
    round: int
    kind: MessageKind
    block_hash: bytes
    """The counted hash (empty for ROUND-CHANGE)."""
    level: str
    """QUORUM or WEAK."""


@dataclass(frozen=True, slots=True)
class AddResult:
    """What adding one vote did."""

    counted: bool
    """True if the vote was new and now counts."""
    thresholds: tuple[Threshold, ...] = ()
    evidence: Evidence | None = None


def _vote_content(message: SignedMessage) -> object:
    """What must be equal for two votes in one slot to be the same vote."""
    payload = message.payload
    if isinstance(payload, RoundChange):
        return (payload.prepared_round, payload.prepared_block_hash)
    return payload.block_hash


def _count_hash(message: SignedMessage) -> bytes:
    return b"" if message.kind == MessageKind.ROUND_CHANGE else message.block_hash


@dataclass(frozen=True, slots=True)
class VoteCollector:
    """Counts votes of one validator set. Never mutated after construction."""

    validator_set: ValidatorSet
    slots: Mapping[tuple[int, int, MessageKind], Mapping[bytes, SignedMessage]] = field(default_factory=dict)
    """(height, round, kind) -> sender -> the sender's counted vote."""
    reported: frozenset[tuple[int, int, MessageKind, bytes, str]] = frozenset()
    """Thresholds already reported."""

    def add(self, message: SignedMessage) -> tuple[VoteCollector, AddResult]:
        """Count a PREPARE, COMMIT or ROUND-CHANGE from a validator of the set.

        Messages from non-validators are not counted. Thresholds are reported on the vote that
        crosses them, exactly once per (height, round, kind, hash, level).
        """
        if message.kind == MessageKind.PROPOSAL:
            raise ValueError("proposals are not votes")
        if not self.validator_set.contains(message.sender):
            return self, AddResult(counted=False)
        slot_key = (message.height, message.round, message.kind)
        slot = self.slots.get(slot_key, {})
        previous = slot.get(message.sender)
        if previous is not None:
            if _vote_content(previous) == _vote_content(message):
                return self, AddResult(counted=False)
            return self, AddResult(counted=False, evidence=Evidence(message.kind, previous, message))
        new_slot = dict(slot)
        new_slot[message.sender] = message
        new_slots = dict(self.slots)
        new_slots[slot_key] = new_slot
        count_hash = _count_hash(message)
        count = sum(1 for vote in new_slot.values() if _count_hash(vote) == count_hash)
        levels = [QUORUM] if count >= self.validator_set.quorum else []
        if message.kind == MessageKind.ROUND_CHANGE and count >= self.validator_set.f + 1:
            levels.append(WEAK)
        thresholds = []
        reported = set(self.reported)
        for level in levels:
            key = (message.height, message.round, message.kind, count_hash, level)
            if key not in reported:
                reported.add(key)
                thresholds.append(Threshold(message.height, message.round, message.kind, count_hash, level))
        collector = VoteCollector(self.validator_set, new_slots, frozenset(reported))
        return collector, AddResult(counted=True, thresholds=tuple(thresholds))

    def votes(self, height: int, round: int, kind: MessageKind, block_hash: bytes = b"") -> tuple[SignedMessage, ...]:
        """The counted votes for (height, round, kind, hash), in validator order (deterministic)."""
        slot = self.slots.get((height, round, kind), {})
        matching = [vote for vote in slot.values() if _count_hash(vote) == block_hash]
        return tuple(sorted(matching, key=lambda vote: self.validator_set.position(vote.sender)))

    def count(self, height: int, round: int, kind: MessageKind, block_hash: bytes = b"") -> int:
        """How many validators voted for (height, round, kind, hash)."""
        slot = self.slots.get((height, round, kind), {})
        return sum(1 for vote in slot.values() if _count_hash(vote) == block_hash)

    def vote_of(self, height: int, round: int, kind: MessageKind, sender: bytes) -> SignedMessage | None:
        """The counted vote of ``sender`` in that slot, if any."""
        return self.slots.get((height, round, kind), {}).get(sender)

"""The state machine's configuration and state: plain immutable values.

``machine.apply`` turns one state and one event into the next state and a list of actions; nothing
here is ever mutated, so a node (or a test) can keep any state and compare states for equality.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from blspy import PrivateKey as BLSPrivateKey
from coincurve import PrivateKey
from eth_hash.auto import keccak

from consensus.errors import InvalidConfig
from consensus.messages import SignedMessage
from consensus.safety import Lock
from consensus.validators import ValidatorSet
from consensus.votes import VoteCollector

NEW_ROUND = "new-round"
"""Waiting for the round's proposal (or, as proposer, for enough ROUND-CHANGEs or the built block)."""
PROPOSED = "proposed"
"""Accepted the round's proposal: validating it, or PREPARE sent."""
PREPARED = "prepared"
"""Saw a quorum of PREPAREs: locked and COMMIT sent."""
DECIDED = "decided"
"""Saw a quorum of COMMITs, waiting for the block (validation or sync). Signs nothing more here."""
COMMITTED = "committed"
"""CommitBlock emitted; waiting for NewHeight(height + 1). Signs nothing more here."""

MAX_FUTURE_MESSAGES_PER_SENDER = 64
"""Messages buffered per validator for later heights; the oldest is dropped beyond this."""
MAX_ROUNDS_AHEAD = 16
"""Votes more than this many rounds above ours are not stored (a Byzantine validator could otherwise
fill memory with votes for endless rounds); far-ahead ROUND-CHANGEs still count for the f+1 catch-up,
which keeps one round per sender."""
MAX_FUTURE_HEIGHTS = 4
"""Messages more than this many heights ahead are not buffered (they only trigger sync)."""


@dataclass(frozen=True, slots=True)
class ConsensusConfig:
    """What a node tells its state machine. Without keys the machine only follows (audit node)."""

    chain_id: int
    validator_set: ValidatorSet
    private_key: bytes | None = field(default=None, repr=False)
    """32-byte secp256k1 key that signs consensus messages; None for a non-validator."""
    bls_private_key: bytes | None = field(default=None, repr=False)
    """32-byte BLS12-381 key that signs commit seals; None for a non-validator."""
    block_period_ms: int = 1000
    """Pause after a commit before the round-0 proposer builds the next block."""
    round_timeout_ms: int = 2000
    """Base round timeout; round r >= 1 waits min(round_timeout_ms * 2**r, max_round_timeout_ms)."""
    max_round_timeout_ms: int = 60000
    """Cap on the round timeout."""
    address: bytes | None = field(init=False, default=None)
    """Derived: the address of ``private_key``."""

    @property
    def signing_key(self) -> bytes:
        """The secp256k1 key that signs this validator's messages; an observer has none."""
        if self.private_key is None:
            raise InvalidConfig("an observer has no key to sign messages with")
        return self.private_key

    @property
    def sealing_key(self) -> bytes:
        """The BLS key that signs this validator's commit seals; an observer has none."""
        if self.bls_private_key is None:
            raise InvalidConfig("an observer has no key to sign commit seals with")
        return self.bls_private_key

    def __post_init__(self) -> None:
        if (self.private_key is None) != (self.bls_private_key is None):
            raise InvalidConfig("give both private_key and bls_private_key, or neither (observer)")
        if self.block_period_ms < 0 or self.round_timeout_ms <= 0 or self.max_round_timeout_ms < self.round_timeout_ms:
            raise InvalidConfig("timeouts must satisfy block_period_ms >= 0 and 0 < round_timeout_ms <= "
                                "max_round_timeout_ms")
        if self.private_key is None or self.bls_private_key is None:
            return
        if len(self.private_key) != 32 or len(self.bls_private_key) != 32:
            raise InvalidConfig("private_key and bls_private_key must be 32 bytes each")
        try:
            public_key = PrivateKey(self.private_key).public_key.format(compressed=False)
            bls_public_key = bytes(BLSPrivateKey.from_bytes(self.bls_private_key).get_g1())
        except Exception as error:  # coincurve and blspy raise plain exceptions for out-of-range keys
            raise InvalidConfig(f"invalid private key: {error}") from None
        address = keccak(public_key[1:])[-20:]
        object.__setattr__(self, "address", address)
        index = self.validator_set.index_of(address)
        if index is not None and self.validator_set.validators[index].bls_public_key != bls_public_key:
            raise InvalidConfig(f"BLS key does not match the registered key of validator {index} (0x{address.hex()})")

    @property
    def is_validator(self) -> bool:
        """Whether this node holds the keys of a member of the current validator set."""
        return self.address is not None and self.validator_set.contains(self.address)


@dataclass(frozen=True, slots=True)
class ConsensusState:
    """Everything the machine knows at one height. Replace, never mutate."""

    config: ConsensusConfig
    height: int
    votes: VoteCollector
    """PREPAREs, COMMITs and ROUND-CHANGEs counted at this height."""
    round: int = 0
    step: str = NEW_ROUND
    started: bool = False
    """False until the node feeds NewHeight(height); messages arriving before are buffered."""
    locked: Lock | None = None
    """The prepared certificate this validator committed on, carried across rounds of this height."""
    proposals: Mapping[int, SignedMessage] = field(default_factory=dict)
    """round -> the first justified proposal seen for that round at this height."""
    valid_blocks: Mapping[bytes, bytes] = field(default_factory=dict)
    """block_hash -> block bytes that the node validated (or that this validator built)."""
    rejected_blocks: frozenset[bytes] = frozenset()
    """Block bytes the node found invalid at this height; never validated again."""
    validating: Mapping[tuple[int, bytes], bytes] = field(default_factory=dict)
    """(round, block_hash) -> block bytes sent to ValidateBlock and not answered yet."""
    sent: tuple[SignedMessage, ...] = ()
    """This validator's own messages in the current round (rebroadcast after a restart)."""
    building_round: int | None = None
    """Round for which BuildBlock was requested."""
    round_change_rounds: Mapping[bytes, int] = field(default_factory=dict)
    """sender -> highest round it sent a valid ROUND-CHANGE for at this height (f+1 catch-up)."""
    unchecked_commits: Mapping[tuple[int, bytes], Mapping[bytes, SignedMessage]] = field(default_factory=dict)
    """(round, block_hash) -> sender -> COMMIT whose seal is not checked yet (machine._check_commits)."""
    decision: tuple[int, bytes] | None = None
    """(round, block_hash) that got a quorum of COMMITs at this height."""
    future: tuple[SignedMessage, ...] = ()
    """Buffered messages for later heights, replayed on NewHeight."""
    higher_heights: Mapping[bytes, int] = field(default_factory=dict)
    """sender -> highest height above ours it sent a message for (sync trigger)."""
    sync_requested: int = -1
    """Highest target of a RequestSync emitted because validators are ahead."""
    previous_decision: tuple[SignedMessage, ...] = ()
    """The quorum COMMITs that decided height - 1 here; relayed to validators still stuck there."""
    relayed: Mapping[bytes, int] = field(default_factory=dict)
    """sender -> highest round of its height-1 ROUND-CHANGE we answered with a relay."""
    sign_from_height: int = 0
    """Never sign below this height (a safety record newer than the chain was found at start)."""

    @property
    def can_sign(self) -> bool:
        return self.config.is_validator and self.height >= self.sign_from_height

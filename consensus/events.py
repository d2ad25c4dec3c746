"""Inputs to the state machine. The node feeds every one of them, in order, to ``apply``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from consensus.messages import SignedMessage
from consensus.validators import ValidatorSet

TimeoutKind = Literal["propose", "round"]


@dataclass(frozen=True, slots=True)
class NewHeight:
    """Block height-1 is persisted (decided here or synced): start ``height``.

    Also the start signal after ``initial_state``: feed ``NewHeight(state.height)`` once.
    """

    height: int
    validator_set: ValidatorSet | None = None
    """The set of ``height`` if it differs from the previous height's (registry change); None = unchanged."""


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A peer's message, already authenticated by ``messages.decode``."""

    message: SignedMessage


@dataclass(frozen=True, slots=True)
class TimeoutFired:
    """A timer from ScheduleTimeout expired. Stale ones (other height, round) are ignored."""

    height: int
    round: int
    kind: TimeoutKind
    """"propose": the block period elapsed, the proposer builds now; "round": the round timer expired."""


@dataclass(frozen=True, slots=True)
class BlockBuilt:
    """Answer to BuildBlock: the node built ``block`` on top of height-1."""

    height: int
    round: int
    block_hash: bytes
    block: bytes


@dataclass(frozen=True, slots=True)
class BlockValidated:
    """Answer to ValidateBlock: the node executed the block and checked it (state root, parent, ...)."""

    height: int
    round: int
    block_hash: bytes
    valid: bool
    reason: str = ""
    """Why it is invalid, for logs."""


Event = NewHeight | MessageReceived | TimeoutFired | BlockBuilt | BlockValidated

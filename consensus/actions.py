"""Outputs of the state machine: every effect it needs, for the node to carry out in list order."""

from __future__ import annotations

from dataclasses import dataclass

from consensus.certificate import CommitCertificate
from consensus.events import TimeoutKind
from consensus.messages import SignedMessage
from consensus.votes import Evidence


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send ``message.raw`` to all peers. The machine has already processed its own message."""

    message: SignedMessage


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    """Feed TimeoutFired(height, round, kind) after ``delay_ms``. Timers are never cancelled:
    the machine ignores stale ones."""

    height: int
    round: int
    kind: TimeoutKind
    delay_ms: int


@dataclass(frozen=True, slots=True)
class BuildBlock:
    """Build a block on top of height-1 and answer with BlockBuilt(height, round, ...)."""

    height: int
    round: int


@dataclass(frozen=True, slots=True)
class ValidateBlock:
    """Check that ``block`` hashes to ``block_hash`` and is a valid child of height-1 (execute it,
    compare the state root, parent, timestamp, proposer...); answer with BlockValidated."""

    height: int
    round: int
    block_hash: bytes
    block: bytes


@dataclass(frozen=True, slots=True)
class CommitBlock:
    """``block`` is final: persist it with ``certificate``, then feed NewHeight(height + 1)."""

    height: int
    block_hash: bytes
    block: bytes
    certificate: CommitCertificate


@dataclass(frozen=True, slots=True)
class RequestSync:
    """Blocks up to and including ``target_height`` are final elsewhere: fetch them with their
    certificates from peers, verify each certificate, persist, then feed NewHeight."""

    target_height: int


@dataclass(frozen=True, slots=True)
class PersistSafety:
    """Write ``record`` durably (fsync) before carrying out any later action of the same list.

    On restart pass the last record to ``initial_state``.
    """

    record: bytes


@dataclass(frozen=True, slots=True)
class ReportEvidence:
    """A validator equivocated; log it and count it. It has no effect on consensus."""

    evidence: Evidence


Action = (
    Broadcast | ScheduleTimeout | BuildBlock | ValidateBlock | CommitBlock | RequestSync | PersistSafety
    | ReportEvidence
)

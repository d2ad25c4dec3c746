"""The consensus package's errors: one root, one subclass per kind of bad input.

Each error carries a precise ``reason`` so the node can log or report it without parsing text.
"""

from __future__ import annotations


class ConsensusError(Exception):
    """Root of every error raised by ``consensus/``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        """What exactly was wrong, with the numbers involved."""


class InvalidMessage(ConsensusError):
    """A consensus message is malformed, oversized or badly signed; drop it."""


class InvalidCertificate(ConsensusError):
    """A commit certificate is malformed or does not prove finality for the validator set."""


class InvalidConfig(ConsensusError):
    """A validator set or consensus configuration is inconsistent (duplicate keys, wrong lengths...)."""


class InvalidSafetyRecord(ConsensusError):
    """A persisted safety record cannot be decoded; the node must not start signing from it."""


class InvalidJustification(ConsensusError):
    """A round > 0 proposal, or a ROUND-CHANGE's prepared certificate, does not justify its block."""

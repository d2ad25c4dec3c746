"""Errors raised by the validator network layer.

Every failure the network reports to its caller is a :class:`P2PError`, so the
node can catch one type. Subclasses keep the peer and the problem as attributes,
so a caller can act on them (pick another peer, retry later) without parsing
the message.
"""

from __future__ import annotations


class P2PError(Exception):
    """Root of every error raised by ``node.p2p``."""


class NetworkNotRunning(P2PError):
    """A publish or request was made while :meth:`P2PNetwork.run` is not running."""

    def __init__(self) -> None:
        super().__init__("the p2p network is not running")


class MessageTooLarge(P2PError):
    """An outgoing message is larger than a direct frame carries."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"message of {size} bytes exceeds the frame limit of {limit} bytes")


class MalformedMessage(P2PError):
    """Bytes received from (or about to be sent to) a peer do not decode as a sync message."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"malformed sync message: {problem}")


class SyncRequestFailed(P2PError):
    """A status or blocks request to ``peer_id`` did not produce a usable answer."""

    def __init__(self, peer_id: str, request: str, problem: str) -> None:
        self.peer_id = peer_id
        self.request = request
        self.problem = problem
        super().__init__(f"{request} request to {peer_id} failed: {problem}")


class MalformedResponse(SyncRequestFailed):
    """The peer's answer did not decode (bad RLP, nested too deep, wrong fields); the peer is penalised."""


class PeerNotConnected(SyncRequestFailed):
    """The peer is not connected (or not in the allow-list), so nothing was sent."""

    def __init__(self, peer_id: str, request: str) -> None:
        super().__init__(peer_id, request, "peer is not connected")


class SyncRequestTimeout(SyncRequestFailed):
    """The peer did not answer within the request timeout."""

    def __init__(self, peer_id: str, request: str, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(peer_id, request, f"no answer within {timeout:g} s")


class SyncRequestRefused(SyncRequestFailed):
    """The peer answered with an error frame (bad request, busy, provider failure)."""

    def __init__(self, peer_id: str, request: str, reason: str) -> None:
        self.reason = reason
        super().__init__(peer_id, request, f"peer refused: {reason}")


class InvalidNetworkConfig(P2PError):
    """A constructor argument of :class:`P2PNetwork` is unusable (bad multiaddr, peer id, network id)."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{field} {value!r}: {problem}")


class ListenFailed(P2PError):
    """The node could not listen on its configured address (port in use, address not local)."""

    def __init__(self, address: str, problem: str) -> None:
        self.address = address
        self.problem = problem
        super().__init__(f"cannot listen on {address}: {problem}")

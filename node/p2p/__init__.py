"""Validator network: direct libp2p streams for transactions and consensus messages, and block sync.

See docs/p2p.md for protocol ids, topics, framing, limits and the reconnect policy.
"""

from node.p2p.errors import (
    InvalidNetworkConfig,
    ListenFailed,
    MalformedMessage,
    MessageTooLarge,
    NetworkNotRunning,
    P2PError,
    PeerNotConnected,
    SyncRequestFailed,
    SyncRequestRefused,
    SyncRequestTimeout,
)
from node.p2p.messages import MAX_BLOCKS_PER_REQUEST, Status
from node.p2p.network import P2PNetwork
from node.p2p.settings import P2PSettings

__all__ = [
    "MAX_BLOCKS_PER_REQUEST",
    "InvalidNetworkConfig",
    "ListenFailed",
    "MalformedMessage",
    "MessageTooLarge",
    "NetworkNotRunning",
    "P2PError",
    "P2PNetwork",
    "P2PSettings",
    "PeerNotConnected",
    "Status",
    "SyncRequestFailed",
    "SyncRequestRefused",
    "SyncRequestTimeout",
]

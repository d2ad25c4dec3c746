"""Noise security that admits only allowed peer ids (and, of those, none that is banned).

The Noise handshake proves which key the remote holds, so its peer id is known
the moment the handshake ends. Checking it there, inside the security
transport, refuses a stranger before the stream muxer, identify, pubsub or the
sync protocol ever see the connection: nothing it sends reaches the node, and
the refusal works the same for inbound and outbound connections.

libp2p 0.8.1 only gates connections by IP address (``ConnectionGate``), and
its ``new_host`` offers plaintext, secio and TLS beside Noise unless told
otherwise; this transport is the only one we give it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from libp2p.abc import IRawConnection, ISecureConn
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.peer.id import ID
from libp2p.security.exceptions import HandshakeFailure
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport

__all__ = ["NOISE_PROTOCOL_ID", "AllowListNoise", "PeerNotAllowed"]


class PeerNotAllowed(HandshakeFailure):
    """The remote completed the Noise handshake with a key that is not in the allow-list, or is banned."""

    def __init__(self, peer_id: ID, problem: str = "is not in the allow-list") -> None:
        self.peer_id = peer_id
        super().__init__(f"peer {peer_id} {problem}")


class AllowListNoise(NoiseTransport):
    """Noise XX that closes the connection unless the remote peer id is allowed."""

    def __init__(self, key_pair: KeyPair, allowed_peers: Collection[ID], log: Any,
                 is_banned: Callable[[ID], bool] = lambda peer: False) -> None:
        super().__init__(key_pair, noise_privkey=create_x25519_key_pair().private_key)
        self._allowed_peers = allowed_peers
        self._is_banned = is_banned
        self._log = log

    async def secure_inbound(self, conn: IRawConnection) -> ISecureConn:
        return await self._admit(await super().secure_inbound(conn), "inbound")

    async def secure_outbound(self, conn: IRawConnection, peer_id: ID) -> ISecureConn:
        return await self._admit(await super().secure_outbound(conn, peer_id), "outbound")

    async def _admit(self, secure_conn: ISecureConn, direction: str) -> ISecureConn:
        peer_id = secure_conn.get_remote_peer()
        if peer_id in self._allowed_peers and not self._is_banned(peer_id):
            return secure_conn
        banned = peer_id in self._allowed_peers
        if banned:
            self._log.info("refused a connection from a banned peer", peer=str(peer_id), direction=direction)
        else:
            self._log.warning("refused a connection from a peer not in the allow-list", peer=str(peer_id),
                              direction=direction)
        try:
            await secure_conn.close()
        except Exception:
            pass
        raise PeerNotAllowed(peer_id, "is banned for misbehaving" if banned else "is not in the allow-list")

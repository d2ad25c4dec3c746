"""``admin_``: what a node operator asks of the node itself (geth's admin namespace), behind a bearer token.

Served only when ``[rpc] admin_token`` is set. Each call must present that token, over HTTP as
``Authorization: Bearer <token>`` and over WebSocket in the same header of the handshake; without it the
answer is -32001 ``unauthorized``. The comparison takes constant time. The token protects operator
information (peer identities, the validator's address, its data directory) on an endpoint that may also
serve the public; it is no substitute for binding the RPC port to a private interface.
"""
from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from eth_utils import to_checksum_address

from node.backend import Backend
from node.rpc.api import Connection, _Namespace
from node.rpc.errors import UNAUTHORIZED, rpc_error
from node.rpc.format import hexb, qty


class AdminAPI(_Namespace):
    prefix = "admin"

    def __init__(self, backend: Backend, token: str, *, role: str, validator: bytes | None,
                 peers: Callable[[], list[str]], p2p_listen: str | None) -> None:
        if not token:
            raise ValueError("the admin namespace needs a token")
        self._backend = backend
        self._token = token.encode()
        self._role = role
        self._validator = validator
        self._peers = peers
        self._p2p_listen = p2p_listen

    def _authorize(self, connection: Connection, method: str) -> None:
        if not hmac.compare_digest(connection.bearer.encode(), self._token):
            raise rpc_error(UNAUTHORIZED, f"unauthorized: admin_{method} needs the node's admin token "
                                          "(Authorization: Bearer …; [rpc] admin_token)")

    def nodeInfo(self, connection: Connection) -> dict[str, Any]:
        """The node's identity and position: role, validator address, chain, genesis id, head, p2p address."""
        self._authorize(connection, "nodeInfo")
        store, head = self._backend.store, self._backend.head
        return {
            "role": self._role,
            "validator": to_checksum_address(self._validator) if self._validator is not None else None,
            "chainId": qty(store.genesis.chain_id),
            "genesisId": hexb(store.genesis_id),
            "head": {"number": qty(head.block_number), "hash": hexb(head.hash)},
            "p2pListen": self._p2p_listen,
            "dataDir": str(store.data_dir),
        }

    def peers(self, connection: Connection) -> list[dict[str, str]]:
        """The peers connected now (libp2p peer ids)."""
        self._authorize(connection, "peers")
        return [{"id": peer} for peer in self._peers()]

"""The audit node's RPC: ``audit_report``, and the refusal of every write on a read-only node.

An audit node (``settle node run --role auditor``, docs/audit.md) serves every read a full node
serves. Methods that would write (submit or sign a transaction, mine, administer) are answered with
one clear error instead of "method not found", so a client pointed at the wrong node learns why.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from node.audit import audit_store
from node.backend import Backend
from node.rpc.errors import SERVER_ERROR, rpc_error

#: Methods refused on an audit node.
WRITE_METHODS = (
    "eth_sendRawTransaction",
    "eth_sendTransaction",
    "eth_sign",
    "eth_signTransaction",
    "eth_signTypedData",
    "eth_signTypedData_v4",
    "evm_mine",
    "evm_increaseTime",
)


def refusal(name: str) -> Callable[..., Any]:
    """A handler answering ``name`` with -32000 ``read-only audit node: <name> is refused``."""
    # Optional positional parameters: the dispatcher checks arity from the signature, and any call is refused.
    def refuse(first: Any = None, second: Any = None, third: Any = None, fourth: Any = None) -> Any:
        raise rpc_error(SERVER_ERROR, f"read-only audit node: {name} is refused (audit nodes never write)")

    refuse.__name__ = name
    return refuse


class AuditAPI:
    """``audit_report``: the same audit as ``settle audit report``, of this node's own database."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def methods(self) -> dict[str, Callable[..., Any]]:
        return {"audit_report": self.report}

    async def report(self) -> dict[str, Any]:
        """Audit the chain from block 1 to the head (off the trio thread); the JSON of docs/audit.md."""
        report = await trio.to_thread.run_sync(audit_store, self.backend.store)
        return report.to_json()

"""Hard deadlines around libp2p calls, and closing a connection that cannot be closed politely.

py-libp2p 0.8.1 shields some of its clean-up from cancellation: ``BasicHost.new_stream`` resets a
stream that failed to open inside ``trio.CancelScope(shield=True)`` with no timeout, and yamux's
reset, FIN and GO_AWAY each wait for the connection's write lock. On a connection whose peer has
vanished (a partition: no RST, no FIN) such a write can wait until the kernel gives up on TCP
retransmits, minutes later, and a ``trio.move_on_after`` around the call cannot end it: the caller
waits as long as the shield does (issue 26: one status poll took 97 s to fail).

:func:`bounded` runs the call in a task of a nursery the caller names (the network's), and returns
or raises :class:`trio.TooSlowError` at the deadline whether or not that task has finished. The
task is cancelled at the deadline; if a shield keeps it alive, it lingers until the connection
under it is aborted. :func:`abort_connection` does that: it closes the TCP socket under a libp2p
connection at once, which wakes every task blocked reading or writing it with an error, so the
lingering tasks end and libp2p sees the connection drop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import outcome
import trio

T = TypeVar("T")

_LAYERS = ("muxed_conn", "secured_conn", "conn", "read_writer", "read_write_closer", "stream", "raw_conn")
"""Attributes that lead from a libp2p connection down to its trio socket stream (swarm connection,
yamux, Noise session, Noise packet reader, raw connection, TCP stream)."""


async def bounded(nursery: trio.Nursery, seconds: float, call: Callable[[], Awaitable[T]]) -> T:
    """``await call()``, but return or raise :class:`trio.TooSlowError` within ``seconds`` whatever it shields.

    ``call`` runs in a task of ``nursery``, which must outlive the call's lingering (the network's
    own nursery). If the caller is cancelled, the call is cancelled too.
    """
    done = trio.Event()
    result: list[outcome.Outcome[T]] = []
    scope = trio.CancelScope()

    async def attempt() -> None:
        with scope:
            result.append(await outcome.acapture(call))
        done.set()

    nursery.start_soon(attempt)
    try:
        with trio.move_on_after(seconds):
            await done.wait()
    finally:
        if not done.is_set():
            scope.cancel()
    if not result:
        raise trio.TooSlowError(f"no result within {seconds:g} s")
    return result[0].unwrap()


def abort_connection(connection: Any) -> bool:
    """Close the TCP socket under a libp2p connection now, without writing anything; True if one was found.

    Synchronous and never blocks: trio wakes the tasks waiting on the socket with
    ``ClosedResourceError``. The peer sees the connection die when its own keepalive or writes fail.
    """
    aborted = False
    for stream in _socket_streams(connection):
        try:
            stream.socket.close()
            aborted = True
        except Exception:  # already closed, or a socket type that refuses: nothing else to do
            pass
    return aborted


def _socket_streams(root: object) -> list[trio.SocketStream]:
    found: list[trio.SocketStream] = []
    seen: set[int] = set()
    pending = [root]
    while pending and len(seen) < 64:
        layer = pending.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, trio.SocketStream):
            found.append(layer)
            continue
        for name in _LAYERS:
            child = getattr(layer, name, None)
            if child is not None and not isinstance(child, str | bytes | int):
                pending.append(child)
    return found

"""Small helpers shared by the stream protocols (direct streams, block sync)."""
from __future__ import annotations

import trio
from libp2p.abc import INetStream


def describe_error(exc: BaseException) -> str:
    """A one-line, bounded description of ``exc`` for logs and error replies."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{exc.__class__.__name__}: {text}"[:300] if text else exc.__class__.__name__


async def reset_quietly(stream: INetStream | None) -> None:
    """Reset ``stream`` (if any), giving up after a second and ignoring whatever libp2p raises."""
    if stream is None:
        return
    with trio.move_on_after(1):
        try:
            await stream.reset()
        except Exception:
            pass

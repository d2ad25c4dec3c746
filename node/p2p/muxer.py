"""Yamux with fewer window updates, for the few long-lived streams between validators.

py-libp2p 0.8.1's yamux (``libp2p.stream_muxer.yamux``) releases receive credit on every read:
unless the environment says ``PY_YAMUX_RELEASE_ON_READ=0``, each ``read`` that takes bytes sends
a WINDOW_UPDATE frame for them, a Noise message and a socket write of its own. Under load that was
11% of a validator's CPU (docs/p2p.md). go-yamux instead returns credit once half the window has
been consumed; :class:`ThresholdYamuxStream` does the same. The window a peer may have outstanding
is unchanged (256 KiB to start, auto-tuned up to 16 MiB by the same code), so flow control still
holds back a peer that outruns our reader.

Yamux builds its streams itself (``YamuxStream(...)`` in ``open_stream`` and in the frame loop)
and offers no parameter for the class, so :class:`SettleYamux` gives each stream our subclass as
it is registered in ``Yamux.streams``: the one point every stream passes before it carries data.
Editing site-packages is not an option; the wire protocol is unchanged, so stock peers interoperate.
"""

from __future__ import annotations

from typing import Any

from libp2p.custom_types import TMuxerOptions, TProtocol
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID, Yamux, YamuxStream


class ThresholdYamuxStream(YamuxStream):
    """A yamux stream that returns receive credit in batches of at least half its target window."""

    async def _auto_tune_and_send_window_update(self, *, bytes_read: int = 0) -> None:
        async with self.window_lock:
            self._pending_recv_release += bytes_read
            pending = self._pending_recv_release
            if pending <= 0 or pending < self._grow_threshold():
                return
            self._pending_recv_release = 0
            self.recv_window += pending
            increment = pending + self._apply_autotune_epoch(len(self.conn.stream_buffers.get(self.stream_id, b"")))
        await self.send_window_update(increment, skip_lock=True)


class _StreamTable(dict):
    """``Yamux.streams`` replacement that turns each stream into a :class:`ThresholdYamuxStream` as it is added."""

    def __setitem__(self, stream_id: Any, stream: Any) -> None:
        if type(stream) is YamuxStream:
            stream.__class__ = ThresholdYamuxStream
        super().__setitem__(stream_id, stream)


class SettleYamux(Yamux):
    """Yamux whose streams return receive credit in batches (:class:`ThresholdYamuxStream`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.streams = _StreamTable()


def settle_yamux_option() -> TMuxerOptions:
    """``muxer_opt`` for ``new_host``: yamux only, with batched window updates."""
    return {TProtocol(PROTOCOL_ID): SettleYamux}

"""Structured logs (structlog): human-readable on a terminal, JSON lines for collectors."""
from __future__ import annotations

import logging
import sys

import structlog

#: What `settle node dev|run` logs once it serves JSON-RPC; supervisors and tests wait for it.
READY_EVENT = "node ready"


def configure_logging(level: str = "info", fmt: str = "console") -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(name)s: %(message)s")
    # py-libp2p logs every failed re-dial of a peer that is down at ERROR, some with a
    # traceback; node/p2p reports what matters (peers lost, dials failing) itself.
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )

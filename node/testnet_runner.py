"""`settle testnet up DIR`: every validator of a local testnet as its own process.

Each node runs `settle node run --config DIR/node<i>/config.toml`. Its output
is copied to ``DIR/node<i>/node.log`` through a pipe, so the supervisor sees
each node say it is ready and reports it. Ctrl-C (or SIGTERM) stops them all
with SIGTERM and waits; a node that exits on its own is reported with the tail
of its log. If the supervisor itself is killed, the nodes lose their output
pipe and stop at their next log line, rather than running on unsupervised.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from node.config import load_config
from node.logs import READY_EVENT
from node.process_output import copy_output


class TestnetError(Exception):
    """The directory is not a testnet made by `settle testnet init`."""


@dataclass
class NodeProcess:
    name: str
    config_path: Path
    rpc_url: str
    log_path: Path
    process: subprocess.Popen | None = None
    copier: threading.Thread | None = None
    ready: bool = False
    exit_code: int | None = None


def discover_nodes(directory: Path) -> list[NodeProcess]:
    """The node<i> directories of a testnet, in index order."""
    configs = sorted(
        directory.glob("node*/config.toml"),
        key=lambda path: int(re.sub(r"\D", "", path.parent.name) or 0),
    )
    if not configs:
        raise TestnetError(f"{directory} has no node*/config.toml; create one with `settle testnet init`")
    nodes = []
    for path in configs:
        config = load_config(path)
        nodes.append(NodeProcess(
            name=path.parent.name,
            config_path=path,
            rpc_url=f"http://{config.rpc.host}:{config.rpc.port}",
            log_path=path.parent / "node.log",
        ))
    return nodes


def start(node: NodeProcess, changed: threading.Condition) -> subprocess.Popen[bytes]:
    """Start ``node`` and return its process; its output goes to its log, and readiness and exit are noted
    under ``changed``."""
    node.process = process = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "node", "run", "--config", str(node.config_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # Ctrl-C reaches only this supervisor, which stops nodes in order
    )

    def on_line(text: str) -> None:
        if READY_EVENT in text:
            with changed:
                node.ready = True
                changed.notify_all()

    def on_exit(code: int) -> None:
        with changed:
            node.exit_code = code
            changed.notify_all()

    node.copier = copy_output(process, node.log_path, on_line, on_exit)
    return process


def stop_all(nodes: list[NodeProcess], timeout: float = 20.0) -> None:
    for node in nodes:
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for node in nodes:
        if node.process is None:
            continue
        try:
            node.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
    for node in nodes:  # the nodes' last lines ("chain store closed") reach their logs
        if node.copier is not None:
            node.copier.join(max(0.1, deadline - time.monotonic()))


def log_tail(node: NodeProcess, lines: int = 5) -> str:
    try:
        return "\n".join(node.log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class _StopRequested(Exception):
    """Raised by the SIGINT/SIGTERM handler to end the supervisor's wait."""


def run_testnet(directory: Path, echo: Callable[[str], None]) -> int:
    """Start every node, say where to reach it and when it is ready, and supervise until a signal."""
    nodes = discover_nodes(directory)
    changed = threading.Condition()

    def request_stop(signum: int, _frame: object) -> None:
        raise _StopRequested

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for node in nodes:
            process = start(node, changed)
            echo(f"{node.name}  pid {process.pid}  rpc {node.rpc_url}  log {node.log_path}")
        echo(f"{len(nodes)} validators running; Ctrl-C stops them all")
        reported_ready: set[str] = set()
        reported_exit: set[str] = set()
        with changed:
            while True:
                for node in nodes:
                    if node.ready and node.name not in reported_ready:
                        reported_ready.add(node.name)
                        echo(f"{node.name} ready")
                        if len(reported_ready) == len(nodes):
                            echo(f"all {len(nodes)} validators ready")
                    if node.exit_code is not None and node.name not in reported_exit:
                        reported_exit.add(node.name)
                        echo(f"{node.name} exited with status {node.exit_code}:\n{log_tail(node)}")
                if len(reported_exit) == len(nodes):
                    return 1
                changed.wait()
    except _StopRequested:
        echo("stopping validators")
        return 0
    finally:
        for sig in previous:  # a second Ctrl-C must not cut the shutdown short
            signal.signal(sig, lambda *_: None)
        stop_all(nodes)
        for sig, handler in previous.items():
            signal.signal(sig, handler)

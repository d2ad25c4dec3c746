"""`settle testnet up DIR`: every validator of a local testnet as its own process.

Each node runs `settle node run --config DIR/node<i>/config.toml`, logging to
``DIR/node<i>/node.log``. Ctrl-C (or SIGTERM) stops them all with SIGTERM and
waits; a node that exits on its own is reported with the tail of its log.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from node.config import load_config


class TestnetError(Exception):
    """The directory is not a testnet made by `settle testnet init`."""


@dataclass
class NodeProcess:
    name: str
    config_path: Path
    rpc_url: str
    log_path: Path
    process: subprocess.Popen | None = None


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


def start(node: NodeProcess) -> None:
    log = open(node.log_path, "ab")
    node.process = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "node", "run", "--config", str(node.config_path)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # Ctrl-C reaches only this supervisor, which stops nodes in order
    )


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


def log_tail(node: NodeProcess, lines: int = 5) -> str:
    try:
        return "\n".join(node.log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_testnet(directory: Path, echo: Callable[[str], None]) -> int:
    """Start every node, print where to reach it, and supervise until a signal."""
    nodes = discover_nodes(directory)
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for node in nodes:
            start(node)
            echo(f"{node.name}  pid {node.process.pid}  rpc {node.rpc_url}  log {node.log_path}")
        echo(f"{len(nodes)} validators running; Ctrl-C stops them all")
        exited: set[str] = set()
        while not stopping:
            for node in nodes:
                code = node.process.poll() if node.process is not None else None
                if code is not None and node.name not in exited:
                    exited.add(node.name)
                    echo(f"{node.name} exited with status {code}:\n{log_tail(node)}")
            if len(exited) == len(nodes):
                return 1
            time.sleep(0.2)
        echo("stopping validators")
        return 0
    finally:
        stop_all(nodes)
        for sig, handler in previous.items():
            signal.signal(sig, handler)

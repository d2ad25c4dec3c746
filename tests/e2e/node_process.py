"""Start, watch and stop real `settle` processes for end-to-end tests.

The tests do not sleep. Each child's output reaches its log file through a pipe
and a thread (``node.process_output``), and a wait re-checks its condition
whenever a watched child prints a line or a subscribed node announces a block
(``head_feeds``). Every block a node commits, every round change and its
readiness are logged, so anything a test waits for comes with a wake-up.
"""
from __future__ import annotations

import functools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from node.logs import READY_EVENT
from node.process_output import copy_output

SETTLE = [sys.executable, "-m", "node.cli"]
T = TypeVar("T")

_activity = threading.Condition()
_events = 0  # lines printed and heads announced so far, by every watched process and feed


def _wake_waiters() -> None:
    global _events
    with _activity:
        _events += 1
        _activity.notify_all()


def wait_until(condition: Callable[[], T], timeout: float, failure: Callable[[], str]) -> T:
    """``condition()``'s first truthy result; fail with ``failure()`` after ``timeout`` s.

    The condition is asked once at once, then again after each line or head
    that arrives, including any that arrived while it was being asked.
    """
    deadline = time.monotonic() + timeout
    while True:
        with _activity:
            seen = _events
        result = condition()
        if result:
            return result
        with _activity:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not _activity.wait_for(lambda seen=seen: _events != seen, remaining):
                raise AssertionError(failure())


class WatchedProcess(subprocess.Popen):
    """A child whose output a thread copies to ``log_path``, waking the waits on every line."""

    def __init__(self, args: list[str], log_path: Path, **popen_options: Any) -> None:
        super().__init__(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen_options)
        self.log_path = log_path
        self.output_ended = False
        self._lines: list[str] = []
        self._copier = copy_output(self, log_path, self._on_line, self._on_exit)

    def _on_line(self, text: str) -> None:
        with _activity:
            self._lines.append(text)
        _wake_waiters()

    def _on_exit(self, _code: int) -> None:
        with _activity:
            self.output_ended = True
        _wake_waiters()

    def wait(self, timeout: float | None = None) -> int:
        """Popen's wait, and then the rest of the child's output is in its log too."""
        code = super().wait(timeout)
        copier = getattr(self, "_copier", None)  # unset only while the copier itself waits, early
        if copier is not None and threading.current_thread() is not copier:
            copier.join(timeout)
        return code

    def lines(self, start: int = 0) -> list[str]:
        """The lines printed so far, from the ``start``-th on."""
        with _activity:
            return self._lines[start:]

    def output(self) -> str:
        """Everything the child printed so far (all of it, once it has been waited for)."""
        return read_log(self.log_path)


def wait_for_output(process: WatchedProcess, text: str, timeout: float) -> None:
    """Wait until ``process`` prints a line containing ``text``; fail at once if it exits first."""
    scanned = 0

    def printed() -> bool:
        nonlocal scanned
        ended = process.output_ended  # read first: every line is in before the output ends
        lines = process.lines(scanned)
        scanned += len(lines)
        if any(text in line for line in lines):
            return True
        if ended:
            raise RuntimeError(f"{' '.join(map(str, process.args))} exited with {process.wait()} "
                               f"before printing {text!r}:\n{process.output()}")
        return False

    wait_until(printed, timeout, lambda: f"no {text!r} after {timeout}s:\n{process.output()}")


def wait_for_ready(process: WatchedProcess, url: str, timeout: float) -> None:
    """Wait until a `settle node` process says it is ready, then check that ``url`` answers."""
    wait_for_output(process, READY_EVENT, timeout)
    assert "result" in rpc(url, "eth_chainId"), f"{url} said it was ready but does not answer"


@contextmanager
def head_feeds(ws_urls: Iterable[str]) -> Iterator[None]:
    """Subscribe to each node's ``newHeads``, read on threads: every block announced wakes the waits.

    For nodes whose output the test cannot see (those `settle testnet up` starts).
    """
    def listen(socket: ClientConnection) -> None:
        try:
            for _message in socket:
                _wake_waiters()
        except ConnectionClosed:
            pass

    with ExitStack() as sockets:
        for url in ws_urls:
            socket = sockets.enter_context(connect(url, open_timeout=10))
            socket.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
            reply = json.loads(socket.recv(timeout=10))
            assert "result" in reply, reply
            threading.Thread(target=listen, args=(socket,), name=f"heads of {url}", daemon=True).start()
        yield


@functools.cache
def _listen_ports() -> range:
    """Ports for test servers: just below Linux's ephemeral range.

    The kernel takes the source ports of outgoing connections (the tests' RPC
    calls, the nodes' dials) from the ephemeral range, 32768-60999 by default.
    A server port from that range can be held by such a connection by the time
    a killed node is started again on it.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(10000, 32768) if low < 20000 else range(low - 12000, low)


_handed_out: set[int] = set()  # never the same port twice in one test session


def free_port_range(count: int) -> int:
    """A base port such that base .. base+count-1 are all free on 127.0.0.1 right now."""
    ports = _listen_ports()
    for _ in range(1000):
        base = random.randrange(ports.start, ports.stop - count)
        block = range(base, base + count)
        if _handed_out.intersection(block):
            continue
        sockets = []
        try:
            for port in block:
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        _handed_out.update(block)
        return base
    raise RuntimeError(f"no {count} free ports in a row in {ports}")


def free_port() -> int:
    return free_port_range(1)


def rpc(url: str, method: str, params: list | None = None, timeout: float = 10.0) -> dict:
    """One raw JSON-RPC call; returns the whole response object."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def spawn_settle(args: list[str], log_path: Path) -> WatchedProcess:
    """Start ``settle ARGS`` as its own process, its output appended to ``log_path``."""
    return WatchedProcess(SETTLE + args, log_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def read_log(log_path: Path | None) -> str:
    return log_path.read_text(errors="replace") if log_path and log_path.exists() else ""


def terminate(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
    """Signal a running process and wait; kill it and re-raise if it outlives ``timeout``."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    return process.returncode


@dataclass
class DevNode:
    data_dir: Path
    port: int = field(default_factory=free_port)
    block_period: float = 0.2
    extra_args: list[str] = field(default_factory=list)
    """More `settle node dev` options (e.g. --interval-mining)."""
    log_path: Path | None = None
    process: WatchedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> DevNode:
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-{self.port}.log"
        self.process = spawn_settle(
            ["node", "dev", "--datadir", str(self.data_dir), "--rpc-port", str(self.port),
             "--block-period", str(self.block_period), *self.extra_args],
            self.log_path,
        )
        wait_for_ready(self.process, self.url, timeout)
        return self

    def log(self) -> str:
        return read_log(self.log_path)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.process is not None
        return terminate(self.process, sig, timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

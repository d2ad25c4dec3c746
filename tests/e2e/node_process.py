"""Start and stop real `settle node dev` processes for end-to-end tests."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

SETTLE = [sys.executable, "-m", "node.cli"]
POLL_INTERVAL = 0.1
T = TypeVar("T")


def poll_until(condition: Callable[[], T], timeout: float, failure: Callable[[], str]) -> T:
    """``condition()``'s first truthy result, asked every ``POLL_INTERVAL`` s; fail with ``failure()`` after ``timeout`` s.

    The one place the end-to-end tests poll: they watch real processes over
    RPC and through files, which offer nothing to await.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(failure())
        time.sleep(POLL_INTERVAL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rpc(url: str, method: str, params: list | None = None, timeout: float = 10.0) -> dict:
    """One raw JSON-RPC call; returns the whole response object."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_for_rpc(url: str, process: subprocess.Popen, timeout: float, log: Callable[[], str]) -> None:
    """Poll ``eth_chainId`` until ``process`` answers; fail at once if it exits."""
    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"node exited with {process.returncode}:\n{log()}")
        try:
            rpc(url, "eth_chainId", timeout=1)
        except OSError:
            return False
        return True

    poll_until(answers, timeout, lambda: f"node not ready after {timeout}s:\n{log()}")


def spawn_settle(args: list[str], log_path: Path) -> subprocess.Popen:
    """Start ``settle ARGS`` as its own process, its output appended to ``log_path``."""
    with open(log_path, "ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(SETTLE + args, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


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
    log_path: Path | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "DevNode":
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-{self.port}.log"
        self.process = spawn_settle(
            ["node", "dev", "--datadir", str(self.data_dir), "--rpc-port", str(self.port),
             "--block-period", str(self.block_period)],
            self.log_path,
        )
        wait_for_rpc(self.url, self.process, timeout, self.log)
        return self

    def log(self) -> str:
        return read_log(self.log_path)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.process is not None
        return terminate(self.process, sig, timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

"""A real litecoind in regtest on 127.0.0.1 with a temporary datadir, for anchoring tests.

Litecoin Core 0.21 is a fork of Bitcoin Core 0.21 with the same RPC names and the
same header, merkle and txid rules (shared/DEPENDENCIES.md). Never mocked.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from node.anchor.bitcoin import BitcoinCredentials, BitcoinError, BitcoinRPC
from tests.e2e.node_process import free_port_range

T = TypeVar("T")

LITECOIND = shutil.which("litecoind") or "/usr/bin/litecoind"
RPC_USER = "settle"
RPC_PASSWORD = "anchor-test-password"
# MWEB activates at block 432 on regtest and the miner then builds invalid blocks (DEPENDENCIES.md).
VBPARAMS = "-vbparams=mweb:9999999998:9999999999:1000000:1000001"


def poll_until(condition: Callable[[], T], timeout: float, failure: Callable[[], str], interval: float = 0.2) -> T:
    """``condition()``'s first truthy result, asked every ``interval`` s; fail with ``failure()`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(failure())
        time.sleep(interval)


class LitecoinNode:
    """One regtest node; ``start``/``stop`` may be repeated on the same datadir (an outage)."""

    def __init__(self, datadir: Path) -> None:
        self.datadir = datadir
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.port = free_port_range(1)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = datadir / "litecoind.out"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def url_with_credentials(self) -> str:
        return f"http://{RPC_USER}:{RPC_PASSWORD}@127.0.0.1:{self.port}/"

    def rpc(self, wallet: str = "") -> BitcoinRPC:
        return BitcoinRPC(self.url, credentials=BitcoinCredentials(RPC_USER, RPC_PASSWORD), wallet=wallet)

    def call(self, method: str, *params: Any, wallet: str = "") -> Any:
        return self.rpc(wallet).call(method, *params, wallet=bool(wallet))

    def start(self, *extra_args: str) -> LitecoinNode:
        args = [
            LITECOIND, "-regtest", f"-datadir={self.datadir}", f"-rpcport={self.port}", "-rpcbind=127.0.0.1",
            "-rpcallowip=127.0.0.1", "-listen=0", "-server=1", f"-rpcuser={RPC_USER}",
            f"-rpcpassword={RPC_PASSWORD}", VBPARAMS, "-fallbackfee=0.0002", "-txindex=0", "-printtoconsole=0",
            "-dnsseed=0", "-discover=0", "-upnp=0", *extra_args,
        ]
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"litecoind exited with {self.process.returncode}: {self.log_path.read_text()}")
            try:
                self.call("getblockchaininfo")
                return True
            except BitcoinError:
                return False

        poll_until(ready, 60, lambda: "litecoind did not answer RPC within 60 s")
        for wallet in self.call("listwalletdir")["wallets"]:
            if wallet["name"] not in self.call("listwallets"):
                self.call("loadwallet", wallet["name"])
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.call("stop")
        except BitcoinError:
            self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def create_wallet(self, name: str) -> str:
        """Create (or load) wallet ``name``; returns a fresh address of it."""
        if name not in self.call("listwallets"):
            self.call("createwallet", name)
        return self.call("getnewaddress", wallet=name)

    def mine(self, blocks: int = 1) -> list[str]:
        return self.call("generatetoaddress", blocks, self.miner_address)

    def setup_miner(self) -> None:
        """A miner wallet with mature coins (20 spendable coinbases)."""
        self.miner_address = self.create_wallet("miner")
        self.mine(120)

    def fund(self, wallet: str, coins: float = 2.0, outputs: int = 5) -> None:
        """Send ``outputs`` coins to ``wallet`` (several UTXOs, so many anchors can be in flight) and confirm."""
        for _ in range(outputs):
            address = self.call("getnewaddress", wallet=wallet)
            self.call("sendtoaddress", address, coins, wallet="miner")
        self.mine(1)

    @contextmanager
    def mining(self, interval: float = 0.5) -> Iterator[None]:
        """Mine a block every ``interval`` s in a background thread, while the block runs."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                try:
                    self.mine(1)
                except BitcoinError:  # stopped for an outage test: keep trying
                    pass

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

"""The reset trigger (§2.1): answer Beethoven's StartPreReset/StartReset events with transactions.

It subscribes over WebSocket (``eth_subscribe`` "logs" on Beethoven's address) and, for each block
with such an event, sends ``startPreReset`` (state PreReset) or ``startReset`` (a reset state) —
at most one transaction per block and never while its previous one is unmined, so several triggers
running at once add a bounded number of transactions and cannot loop. Each call is first run as
``eth_call``: if another trigger already moved the state on, nothing is sent. A slow poll of the
state covers events missed while disconnected.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog
from eth_account import Account
from eth_typing import Hash32
from web3 import AsyncWeb3, Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TransactionNotFound
from web3.providers.persistent import WebSocketProvider

from contracts.compiler import load_artifact
from node.duo.deploy import State

log = structlog.get_logger("duo.trigger")

RESET_STATES = (State.UPWARD_RESET, State.DOWNWARD_RESET, State.PERIODIC_RESET)
WATCHED_EVENTS = ("StartPreReset", "StartReset")


@dataclass(frozen=True, slots=True)
class TriggerSettings:
    ws_url: str
    beethoven: str
    private_key: str
    gas: int = 3_000_000
    """Gas per startReset transaction: it bounds how many holders one transaction processes."""
    poll_seconds: float = 5.0
    pending_timeout: float = 30.0
    """Give up waiting on an unmined transaction after this long and resync the nonce."""


class Trigger:
    def __init__(self, settings: TriggerSettings) -> None:
        self.settings = settings
        self.account = Account.from_key(settings.private_key)
        self.abi = load_artifact("Beethoven").abi
        self.topics = {"0x" + Web3.keccak(text=f"{name}()" if name == "StartPreReset" else f"{name}(uint256,uint256)")
                       .hex().removeprefix("0x") for name in WATCHED_EVENTS}
        self.lock = asyncio.Lock()
        self.nonce: int | None = None
        self.pending: tuple[bytes, float] | None = None
        self.last_block = -1
        self.sent = 0

    async def act(self, w3: AsyncWeb3) -> str:
        """Send the call the state asks for, unless a transaction of ours is still pending."""
        async with self.lock:
            contract = w3.eth.contract(address=Web3.to_checksum_address(self.settings.beethoven), abi=self.abi)
            if self.pending is not None:
                tx_hash, since = self.pending
                try:
                    await w3.eth.get_transaction_receipt(Hash32(tx_hash))
                    self.pending = None
                except TransactionNotFound:
                    if time.monotonic() - since < self.settings.pending_timeout:
                        return "pending"
                    self.pending, self.nonce = None, None
            state = State(await contract.functions.state().call())
            if state == State.PRE_RESET:
                function, gas = contract.functions.startPreReset(), 300_000
            elif state in RESET_STATES:
                function, gas = contract.functions.startReset(), self.settings.gas
            else:
                return "idle"
            try:
                await function.call({"from": self.account.address})
            except (ContractCustomError, ContractLogicError):
                return "raced"  # another trigger moved the state on first
            if self.nonce is None:
                self.nonce = await w3.eth.get_transaction_count(self.account.address, "pending")
            fields = {"chainId": await w3.eth.chain_id, "nonce": self.nonce, "gas": gas, "value": 0, "type": 2,
                      "maxFeePerGas": (await w3.eth.gas_price) * 2, "maxPriorityFeePerGas": 0,
                      "to": function.address, "data": function._encode_transaction_data()}
            raw = self.account.sign_transaction(fields).raw_transaction
            tx_hash = await w3.eth.send_raw_transaction(raw)
            self.nonce += 1
            self.sent += 1
            self.pending = (bytes(tx_hash), time.monotonic())
            log.info("sent", function=function.fn_name, state=state.name, nonce=self.nonce - 1)
            return function.fn_name

    async def listen(self, w3: AsyncWeb3) -> None:
        await w3.eth.subscribe("logs", {"address": Web3.to_checksum_address(self.settings.beethoven)})
        log.info("subscribed", beethoven=self.settings.beethoven)
        await self.act(w3)
        async for message in w3.socket.process_subscriptions():
            entry = message["result"]
            topics = entry["topics"]
            topic = topics[0].to_0x_hex() if hasattr(topics[0], "to_0x_hex") else str(topics[0])
            if topic not in self.topics:
                continue
            block = int(entry["blockNumber"])
            if block <= self.last_block:
                continue  # one answer per block, however many events it holds
            self.last_block = block
            await self.act(w3)

    async def poll(self, w3: AsyncWeb3) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_seconds)
            await self.act(w3)

    async def run(self) -> None:
        """Listen and poll until cancelled; a dropped connection is retried after a pause."""
        while True:
            try:
                async with AsyncWeb3(WebSocketProvider(self.settings.ws_url)) as w3:
                    tasks = [asyncio.create_task(self.listen(w3)), asyncio.create_task(self.poll(w3))]
                    try:
                        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                        for task in done:
                            task.result()
                    finally:
                        for task in tasks:
                            task.cancel()
            except Exception as exc:  # a daemon keeps going; the error is logged
                self.nonce = None
                log.error("trigger connection failed", error=repr(exc))
                await asyncio.sleep(1.0)

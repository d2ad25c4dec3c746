"""The price-feed daemon (§2.3): fetch trades, store them, fix the price every hour, commit it.

One process per price-feed role (pf1, pf2, pf3), each with its own key and SQLite file. Its clock
is the chain's: the timestamp of the latest block, plus ``replay_offset`` seconds to map chain
time onto the time of recorded trades. When an hour of that clock completes, the feed computes the
hour's fix and commits it (``startContract`` while Beethoven is in Inception, ``commitPrice`` in
Trading). A commit that Beethoven would refuse (cool-down, a sender already counted, a reset in
progress) is not sent: another feed's price settled the hour, which is the consensus working.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import structlog
from eth_account import Account
from web3 import Web3

from node.duo.aggregation import HOUR, hourly_fix, to_wad
from node.duo.chain import TxSender, call_revert
from node.duo.deploy import State, contract_at
from node.duo.trades import TradeSource, TradeStore

log = structlog.get_logger("duo.feed")


@dataclass(frozen=True, slots=True)
class FeedSettings:
    rpc_url: str
    beethoven: str
    private_key: str
    db_path: Path
    replay_offset: float = 0.0
    """Seconds added to chain time to get trade time (0 for live trades)."""
    poll_seconds: float = 1.0


class PriceFeed:
    """Owns one SQLite store and one signing key; `step()` does one round of work."""

    def __init__(self, settings: FeedSettings, source: TradeSource) -> None:
        self.settings = settings
        self.source = source
        self.store = TradeStore(settings.db_path)
        self.w3 = Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 30}))
        self.sender = TxSender(self.w3, Account.from_key(settings.private_key))
        self.beethoven = contract_at(self.w3, "Beethoven", settings.beethoven)
        fixes = self.store.fixes()
        self.last_hour = fixes[-1][0] if fixes else 0

    def step(self) -> str | None:
        """Ingest trades up to now; if an hour completed, fix and commit it. Returns what it did."""
        now = self.w3.eth.get_block("latest")["timestamp"] + self.settings.replay_offset
        self.store.add(self.source.poll(now))
        hour_end = int(now // HOUR * HOUR)
        if hour_end <= self.last_hour:
            return None
        self.last_hour = hour_end
        previous = self.store.previous_fix(hour_end)
        price, exchanges = hourly_fix(self.store.between(hour_end - HOUR, hour_end), hour_end, previous)
        if price is None:
            log.warning("no fix: no trades and no previous fix", hour_end=hour_end)
            return "no-fix"
        wad_price = to_wad(price)
        self.store.save_fix(hour_end, Decimal(wad_price) / 10**18, exchanges)
        return self.commit(wad_price, hour_end, exchanges)

    def commit(self, price: int, hour_end: int, exchanges: int) -> str:
        state = State(self.beethoven.functions.state().call())
        if state == State.INCEPTION:
            function = self.beethoven.functions.startContract(price)
        elif state == State.TRADING:
            function = self.beethoven.functions.commitPrice(price)
        else:
            log.info("skip: reset in progress", state=state.name, hour_end=hour_end)
            return "skip:" + state.name
        refused = call_revert(function, self.sender.address)
        if refused is not None:
            log.info("skip: refused", error=refused.name, hour_end=hour_end, price=price)
            return "skip:" + refused.name
        receipt = self.sender.transact(function, gas=400_000)
        log.info("committed", function=function.fn_name, price=price, hour_end=hour_end, exchanges=exchanges,
                 status=receipt.status, block=receipt.blockNumber)
        return "committed" if receipt.status == 1 else "reverted"

    def run(self) -> None:
        """Step forever; a failed round (node unreachable, …) is logged and retried."""
        while True:
            try:
                self.step()
            except Exception as exc:  # a daemon keeps going; the error is logged
                self.sender.nonce = None
                log.error("feed round failed", error=repr(exc))
            time.sleep(self.settings.poll_seconds)

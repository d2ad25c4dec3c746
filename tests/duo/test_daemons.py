"""Three price feeds and two triggers, as real `settle duo …` processes, run the product
unattended over a recorded two-day trade file, through an upward reset.

The test only plays the clock: it mines a block at each hour boundary of chain time (the feeds'
clock) and waits for the hour's price to settle, and it lets 40 holders create tokens. Fixing,
committing, the price consensus and the whole reset are done by the daemons.
"""
from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from node.duo.aggregation import hourly_fix, to_wad
from node.duo.deploy import DuoParams, State
from node.duo.trades import RecordedTrades, TradeStore
from tests.duo.support import DEV, Chain, deploy, make_accounts, send_raw_many, wad, wait_receipts
from tests.duo.trade_data import HOURS, JUMP_HOUR, START, write_recording
from tests.e2e.node_process import read_log, spawn_settle, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOLDERS = make_accounts(40, "daemon-holder")
TRIGGER_KEYS = [DEV.accounts[7], DEV.accounts[8]]


def wait_for(condition, timeout: float, what: str, logs: list[Path]) -> None:  # type: ignore[no-untyped-def]
    def failure() -> str:
        tails = "\n".join(f"--- {p.name}\n" + read_log(p)[-1500:] for p in logs)
        return f"{what} not reached after {timeout}s\n{tails}"

    wait_until(condition, timeout, failure)


def test_feeds_and_triggers_run_a_reset_unattended(chain: Chain, duo_node, tmp_path: Path) -> None:
    params = DuoParams(limit_upper=wad("1.2"), pre_reset_waiting_blocks=5)
    duo = deploy(chain, params, start_price=None, admin_offset=24)
    beethoven = duo.beethoven
    files = write_recording(tmp_path)
    # Chain time H0 (the next hour boundary) is trade time START + 1h: the first hour is complete.
    now = chain.w3.eth.get_block("latest")["timestamp"]
    first_boundary = (now // 3600 + 1) * 3600
    offset = START + 3600 - first_boundary

    logs: list[Path] = []
    processes: list[subprocess.Popen] = []
    try:
        for number in (1, 2, 3):
            key = tmp_path / f"pf{number}.key"
            key.write_text(duo.feed(number).account.key.hex())
            log = tmp_path / f"feed{number}.log"
            logs.append(log)
            processes.append(spawn_settle(["duo", "feed", "--rpc", duo_node.url, "--beethoven", beethoven.address,
                                           "--key-file", str(key), "--db", str(tmp_path / f"pf{number}.sqlite"),
                                           "--replay-offset", str(offset), "--poll", "0.2",
                                           *[arg for f in files for arg in ("--trades", str(f))]], log))
        for number, account in enumerate(TRIGGER_KEYS, 1):
            key = tmp_path / f"trigger{number}.key"
            key.write_text(account.key.hex())
            log = tmp_path / f"trigger{number}.log"
            logs.append(log)
            processes.append(spawn_settle(["duo", "trigger", "--ws", duo_node.ws_url, "--beethoven",
                                           beethoven.address, "--key-file", str(key), "--gas", "400000",
                                           "--poll", "2"], log))

        def settled(boundary: int, reset_time_before: int) -> bool:
            """Trading again, with this hour's price in, or with a reset finished since the hour began.

            The triggers start a pre-reset only after the price that calls for it is accepted, so the
            test can see that price and move on to the next hour while the reset is still to start.
            The feeds then skip that next hour ("reset in progress") and leave it without a price.
            """
            if State(beethoven.functions.state().call()) != State.TRADING:
                return False
            return (beethoven.functions.lastPriceTime().call() >= boundary
                    or beethoven.functions.resetPriceTime().call() != reset_time_before)

        reset_done_hour = None
        started_at = None
        hour = 0
        while hour < HOURS - 1:
            boundary = first_boundary + hour * 3600
            reset_time_before = beethoven.functions.resetPriceTime().call()
            chain.w3.provider.make_request("evm_mine", [boundary])
            # generous: a reset takes several trigger rounds, and CI machines may be loaded
            wait_for(lambda b=boundary, r=reset_time_before: settled(b, r), 180, f"the price of hour {hour}", logs)
            if hour == 0:  # the feeds started the contract; holders come in
                started_at = beethoven.functions.resetPriceTime().call()
                chain.fund([h.address for h in HOLDERS], 3 * 10**18)
                senders = [chain.sender(h) for h in HOLDERS]
                raws = [s.sign(beethoven.functions.create(True), value=10**18 + i * 10**16, gas=300_000)
                        for i, s in enumerate(senders)]
                receipts = wait_receipts(duo_node.url, send_raw_many(duo_node.url, raws))
                assert all(int(r["status"], 16) == 1 for r in receipts)
            elif reset_done_hour is None and beethoven.functions.resetPriceTime().call() != started_at:
                reset_done_hour = hour
            # After the reset, skim the rest of the file, but only once past the jump: the +6% must come
            # between consecutive hourly fixes. Skimming across it in 6-hour steps made the jump, or
            # whether it exceeds the tolerance from the last accepted price, depend on the hour the
            # reset happened to finish in.
            hour += 1 if reset_done_hour is None or hour <= JUMP_HOUR else 6
        assert reset_done_hour is not None, "no reset happened"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    # The reset was upward, processed over several startReset transactions from the triggers.
    reset_logs = beethoven.events.StartReset().get_logs(from_block=0)
    assert max(e.args.nextIndex for e in reset_logs) > 0, "the reset took more than one transaction"
    trading = beethoven.events.StartTrading().get_logs(from_block=0)
    assert len(trading) >= 2 and trading[-1].args.navA == trading[-1].args.navB == 10**18
    senders = {chain.w3.eth.get_transaction(e.transactionHash)["from"] for e in reset_logs}
    assert senders <= {a.address for a in TRIGGER_KEYS} and senders
    assert State(beethoven.functions.state().call()) == State.TRADING
    states = duo.deployment.system_states()
    balances = [(beethoven.functions.balanceOf(0, h.address).call(), beethoven.functions.balanceOf(1, h.address).call())
                for h in HOLDERS]
    assert states["total_supply_a"] == sum(a for a, _ in balances)
    assert states["total_supply_b"] == sum(b for _, b in balances)
    # Collateral conservation: at NAV 1 after the reset, the tokens are worth the coin at the reset price.
    reset_price = duo.prices()["reset_price"]
    tokens = Fraction(states["total_supply_a"] + states["total_supply_b"], 10**18)
    assert abs(Fraction(states["collateral"] * reset_price, 10**36) - tokens) < Fraction(1, 10**6)

    # Every accepted price is a fix of the recording; the +6% hour needed a second feed (§2.3.3 ¶6).
    trades = RecordedTrades(files).poll(float("inf"))
    stores = [TradeStore(tmp_path / f"pf{n}.sqlite") for n in (1, 2, 3)]
    assert all(len(store.between(0, 2**40)) > 0 for store in stores)
    # Each feed fixes the hours it was running for (they start and poll independently), so every
    # feed's fixes are checked, and every accepted price must be one of them.
    fixes: set[int] = set()
    for store in stores:
        for hour_end, price, exchanges in store.fixes():
            expected, count = hourly_fix([t for t in trades if hour_end - 3600 <= t.timestamp < hour_end],
                                         hour_end, None)
            assert (to_wad(expected), count) == (to_wad(price), exchanges)  # type: ignore[arg-type]
            fixes.add(to_wad(price))
    assert any(n == 3 for _, _, n in stores[0].fixes())  # Gemini omitted in its silent hours
    accepted = [e.args.price for e in beethoven.events.AcceptPrice().get_logs(from_block=0)]
    assert accepted and set(accepted) <= fixes
    staged = beethoven.events.CommitPrice().get_logs(from_block=0)
    assert staged, "the +6% jump must wait for a second feed"
    feeders = {chain.w3.eth.get_transaction(e.transactionHash)["from"] for e in
               list(staged) + list(beethoven.events.AcceptPrice().get_logs(from_block=0))}
    assert len(feeders) >= 2

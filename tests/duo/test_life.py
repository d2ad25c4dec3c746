"""A whole life of the product with 520 holders: creations, transfers, redemptions, an upward, a
downward and a periodic reset, each processed over several startReset transactions, checked
against the independent model in tests/duo/model.py (§2.4, §2.5)."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode

from node.duo.deploy import DuoParams, Role, State
from tests.duo.model import Model
from tests.duo.support import DEV, Chain, Duo, deploy, make_accounts, rpc_batch, send_raw_many, wad, wait_receipts

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

WAD = 10**18
USERS = make_accounts(520, "user")
RESET_GAS = 2_500_000  # per startReset transaction: about 150 holders, so 500 need several
TOKEN_TOLERANCE = 10**7  # wei of a token: 1e-11, far below any balance here

GAS: dict[str, list[int]] = {}


def note_gas(operation: str, receipts: list[Any]) -> None:
    GAS.setdefault(operation, []).extend(
        r if isinstance(r, int) else int(r["gasUsed"], 16) if isinstance(r, dict) else r.gasUsed for r in receipts)


def run_batch(duo: Duo, calls: list[tuple[Any, Any, int]], gas: int = 400_000) -> list[dict[str, Any]]:
    """(sender, function, value) triples signed locally and sent in batches; all must succeed."""
    raws = [sender.sign(function, value=value, gas=gas) for sender, function, value in calls]
    receipts = wait_receipts(duo.chain.url, send_raw_many(duo.chain.url, raws))
    failed = [i for i, r in enumerate(receipts) if int(r["status"], 16) != 1]
    assert not failed, f"{len(failed)} of {len(calls)} transactions reverted, first {calls[failed[0]][1].fn_name}"
    return receipts


def eth_calls(duo: Duo, calls: list[Any], types: list[str]) -> list[Any]:
    """Many view calls in JSON-RPC batches; decoded results."""
    out: list[Any] = []
    for start in range(0, len(calls), 100):
        chunk = calls[start:start + 100]
        replies = rpc_batch(duo.chain.url, [
            ("eth_call", [{"to": c.address, "data": c._encode_transaction_data()}, "latest"]) for c in chunk])
        for reply in replies:
            out.append(decode(types, bytes.fromhex(reply["result"][2:]))[0])
    return out


def contract_balances(duo: Duo) -> tuple[list[int], list[int]]:
    fns = duo.beethoven.functions
    a = eth_calls(duo, [fns.balanceOf(0, u.address) for u in USERS], ["uint256"])
    b = eth_calls(duo, [fns.balanceOf(1, u.address) for u in USERS], ["uint256"])
    return a, b


def listed_users(duo: Duo) -> set[str]:
    count = duo.beethoven.functions.userCount().call()
    return set(eth_calls(duo, [duo.beethoven.functions.users(i) for i in range(count)], ["address"]))


def check_against_model(duo: Duo, model: Model) -> tuple[list[int], list[int]]:
    a, b = contract_balances(duo)
    for i, user in enumerate(USERS):
        for got, book in ((a[i], model.a), (b[i], model.b)):
            want = book.get(user.address, Fraction(0)) * WAD
            assert abs(got - want) <= TOKEN_TOLERANCE, f"user {i}: contract {got}, model {float(want)}"
    states = duo.deployment.system_states()
    assert states["total_supply_a"] == sum(a) and states["total_supply_b"] == sum(b)
    listed = {u.address for u in USERS if model.listed(u.address)}
    assert {x.lower() for x in listed_users(duo)} == {x.lower() for x in listed}
    return a, b


def commit_pair(duo: Duo, price: int) -> dict[str, Any]:
    """pf1 then pf2 commit the same price: accepted by ¶4 or, beyond 5%, by ¶6 (within 1%)."""
    receipt = duo.tx(duo.feed(1), duo.beethoven.functions.commitPrice(price))
    accepted = duo.events(receipt, "AcceptPrice")
    note_gas("commitPrice (accepted)" if accepted else "commitPrice (staged)", [receipt])
    if not accepted:
        receipt = duo.tx(duo.feed(2), duo.beethoven.functions.commitPrice(price))
        accepted = duo.events(receipt, "AcceptPrice")
        note_gas("commitPrice (accepted)", [receipt])
    return accepted[0]


def drive_reset(duo: Duo, expected: State) -> int:
    """Send startPreReset until the reset starts, then startReset until Trading; returns the
    number of startReset transactions."""
    trigger = duo.chain.sender(DEV.accounts[9])
    fns = duo.beethoven.functions
    while duo.deployment.state() == State.PRE_RESET:
        receipt = duo.tx(trigger, fns.startPreReset(), gas=300_000)
        note_gas("startPreReset", [receipt])
    assert duo.deployment.state() == expected
    batches = done = 0
    total = duo.beethoven.functions.userCount().call()
    while duo.deployment.state() == expected:
        receipt = duo.tx(trigger, fns.startReset(), gas=RESET_GAS)
        batches += 1
        progress = duo.events(receipt, "StartReset")
        if progress:  # a full batch: more holders remain
            assert progress[0]["total"] == total and progress[0]["nextIndex"] > done
            note_gas("startReset per holder", [receipt.gasUsed // (progress[0]["nextIndex"] - done)])
            done = progress[0]["nextIndex"]
        else:
            assert duo.events(receipt, "StartTrading") == [{"navA": WAD, "navB": WAD}]
    assert duo.deployment.state() == State.TRADING
    return batches


def value_of(a: int, b: int, nav_a: int, nav_b: int) -> Fraction:
    return Fraction(a * nav_a + b * nav_b, WAD * WAD)


def reset_and_check(duo: Duo, model: Model, accepted: dict[str, Any], kind: str, drift: list[Fraction],
                    balances: tuple[list[int], list[int]]) -> tuple[list[int], list[int]]:
    """``drift`` collects, reset by reset, the value skipped dust holders gained (or lost) at NAV 1."""
    states = duo.deployment.system_states()
    nav_a, nav_b = states["nav_a"], states["nav_b"]
    price = Fraction(accepted["price"], WAD)
    want_a, want_b = model.navs_at(price, accepted["time"])
    assert abs(Fraction(nav_a, WAD) - want_a) < Fraction(1, 10**15)
    assert abs(Fraction(nav_b, WAD) - want_b) < Fraction(1, 10**15)
    a, b = balances  # nothing moved tokens since they were read
    collateral = states["collateral"]
    value_before = sum(value_of(x, y, nav_a, nav_b) for x, y in zip(a, b, strict=True))
    # The collateral backs the holders' value before the reset, up to what earlier resets let the
    # dust holders gain or lose (those tokens are now worth at most max(NAV_A, NAV_B) each) ...
    slack = sum(abs(g) for g in drift) * max(Fraction(nav_a, WAD), Fraction(nav_b, WAD), Fraction(1))
    assert abs(Fraction(collateral) * price / WAD - value_before) < Fraction(1, 10**6) + slack
    unlisted = [i for i, u in enumerate(USERS) if not model.listed(u.address) and (a[i] or b[i])]
    unlisted_gain = sum(Fraction(a[i] + b[i], WAD) - value_of(a[i], b[i], nav_a, nav_b) for i in unlisted)

    batches = drive_reset(duo, {"upward": State.UPWARD_RESET, "downward": State.DOWNWARD_RESET,
                                "periodic": State.PERIODIC_RESET}[kind])
    assert batches >= 3, "500 holders must take several gas-bounded transactions"
    model.reset(kind, price, accepted["time"], Fraction(nav_a, WAD), Fraction(nav_b, WAD))
    a, b = check_against_model(duo, model)
    after = duo.deployment.system_states()
    assert (after["nav_a"], after["nav_b"], after["beta"]) == (WAD, WAD, WAD)
    assert after["collateral"] == collateral  # a reset moves no coin
    # ... and, at NAV 1, the same value after it: listed holders kept theirs exactly; holders
    # below the threshold (§2.5) were skipped and gained or lost only nav - 1 on dust.
    tokens_after = Fraction(after["total_supply_a"] + after["total_supply_b"], WAD)
    assert abs(tokens_after - (value_before + unlisted_gain)) < Fraction(1, 10**6)
    assert unlisted and abs(unlisted_gain) < Fraction(len(unlisted), 100)
    drift.append(unlisted_gain)
    prices = duo.prices()
    assert (prices["reset_price"], prices["reset_time"]) == (accepted["price"], accepted["time"])
    return a, b


def test_full_life_with_520_holders(chain: Chain, tmp_path: Path) -> None:
    params = DuoParams(pre_reset_waiting_blocks=5)  # whitepaper defaults otherwise
    duo = deploy(chain, params, start_price=wad(500), admin_offset=12)
    start = duo.prices()
    model = Model(alpha=Fraction(1), coupon=Fraction(params.period_coupon, WAD), period=params.period,
                  reset_price=Fraction(500), reset_time=start["reset_time"])
    fns = duo.beethoven.functions
    chain.fund([u.address for u in USERS], 5 * WAD)
    users = [chain.sender(u) for u in USERS]
    for s in users:
        s.nonce = 0

    # DUO for the twenty holders who pay fees in DUO (ETH:DUO fee ratio 1:800).
    dev0 = chain.sender(DEV.accounts[0])
    note_gas(
        "transfer DUO",
        run_batch(
            duo, [(dev0, duo.deployment.duo.functions.transfer(users[i].address, 1000 * WAD), 0) for i in range(20)]
        ),
    )
    note_gas(
        "approve DUO",
        run_batch(
            duo,
            [(users[i], duo.deployment.duo.functions.approve(duo.beethoven.address, 1000 * WAD), 0) for i in range(20)],
        ),
    )

    # Creation: 500 holders above the threshold, ten with dust below it (§2.5).
    creations = []
    for i in range(510):
        value = wad("0.00002") if i >= 500 else wad("0.05") * (1 + i % 37)
        creations.append((users[i], fns.create(i >= 20), value))
    note_gas("first time to create", run_batch(duo, creations))
    for i, (_, _, value) in enumerate(creations):
        fee = value * params.create_comm_bp // 10_000 if i >= 20 else 0
        model.create(USERS[i].address, Fraction(value - fee, WAD))
    duo_fees = sum(v * params.create_comm_bp // 10_000 * 800 for _, _, v in creations[:20])
    assert duo.deployment.duo.functions.balanceOf(duo.beethoven.address).call() == duo_fees
    note_gas("create", run_batch(duo, [(users[0], fns.create(True), wad("0.1"))]))
    model.create(USERS[0].address, Fraction(wad("0.1") - wad("0.001"), WAD))

    # Transfers through the Token A / Token B wrappers.
    token_a, token_b = duo.deployment.token_a.functions, duo.deployment.token_b.functions
    note_gas(
        "transfer A/B to new user",
        run_batch(duo, [(users[i], token_a.transfer(USERS[510 + i % 10].address, WAD), 0) for i in range(50)]),
    )
    for i in range(50):
        model.transfer("A", USERS[i].address, USERS[510 + i % 10].address, Fraction(1))
    a, b = contract_balances(duo)
    leave = []  # holders 50..59 keep 0.001 of each and drop out of the user list
    for i in range(50, 60):
        leave.append((users[i], token_a.transfer(USERS[i + 10].address, a[i] - wad("0.001")), 0))
        leave.append((users[i], token_b.transfer(USERS[i + 10].address, b[i] - wad("0.001")), 0))
        model.transfer("A", USERS[i].address, USERS[i + 10].address, Fraction(a[i] - wad("0.001"), WAD))
        model.transfer("B", USERS[i].address, USERS[i + 10].address, Fraction(b[i] - wad("0.001"), WAD))
    note_gas("transfer A/B", run_batch(duo, leave))
    run_batch(duo, [(users[70], token_b.approve(USERS[71].address, 2 * WAD), 0)])
    run_batch(duo, [(users[71], token_b.transferFrom(USERS[70].address, USERS[72].address, 2 * WAD), 0)])
    model.transfer("B", USERS[70].address, USERS[72].address, Fraction(2))
    assert token_b.allowance(USERS[70].address, USERS[71].address).call() == 0

    # Redemptions: ten holders redeem half of their B with as much A, fee in ETH.
    a, b = contract_balances(duo)
    redemptions = [(users[i], fns.redeem(b[i] // 2, b[i] // 2, True), 0) for i in range(100, 110)]
    receipts = run_batch(duo, redemptions)
    note_gas("redeem", receipts)
    for i in range(100, 110):
        gross = model.redeem(USERS[i].address, Fraction(b[i] // 2, WAD))
        receipt = chain.w3.eth.get_transaction_receipt(receipts[i - 100]["transactionHash"])
        (event,) = duo.events(receipt, "Redeem")
        assert abs(event["ethAmount"] - gross * WAD * 99 / 100) <= 10**6
        assert event["ethFee"] + event["ethAmount"] <= gross * WAD
    balances = check_against_model(duo, model)
    assert duo.beethoven.functions.userCount().call() == 500  # 500 + 10 new - 10 who left; dust never listed

    drift: list[Fraction] = []
    # Upward reset: +60% takes NAV_B to 2.2.
    chain.advance(params.period)
    balances = reset_and_check(duo, model, commit_pair(duo, wad(800)), "upward", drift, balances)
    # Downward reset: -43.75% from the new reset price takes NAV_B to about 0.125.
    chain.advance(params.period)
    balances = reset_and_check(duo, model, commit_pair(duo, wad(450)), "downward", drift, balances)
    # Periodic reset: after 2059 whole periods NAV_A = 1.035003 >= 1.035; price +3% so NAV_B > 1.
    chain.advance(2059 * params.period + 1)
    balances = reset_and_check(duo, model, commit_pair(duo, wad("463.5")), "periodic", drift, balances)

    assert duo.deployment.state() == State.TRADING
    # After all three resets every listed holder can still redeem, and the coin covers it.
    a, b = balances
    receipts = run_batch(duo, [(users[i], fns.redeem(a[i], b[i], True), 0) for i in range(200, 210)])
    assert all(int(r["status"], 16) == 1 for r in receipts)

    # §2.7.3 with more than 255 users: the random number is the address of user (hash mod count).
    fns = duo.beethoven.functions
    pool = fns.getPool().call()
    count = fns.userCount().call()
    assert count > 255
    receipt = duo.tx(duo.pool[0], fns.updateAddress(Role.OPERATOR))
    (event,) = duo.events(receipt, "UpdateAddress")
    seed = int.from_bytes(chain.w3.eth.get_block(receipt.blockNumber - 1)["hash"], "big")
    picked_user = fns.users(seed % count).call()
    remaining = pool[:]
    gap = remaining.index(duo.pool[0].address)
    remaining[gap] = remaining[-1]
    remaining.pop()
    assert event["newAddress"] == remaining[int(picked_user, 16) % len(remaining)]

    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "duo-gas.json").write_text(json.dumps({k: sorted(v) for k, v in GAS.items()}, indent=1))

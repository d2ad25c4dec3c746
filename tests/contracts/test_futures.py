"""ConsortiumOracle (validator signatures, quorum, rounds, staleness), the oracle feeder script and
CashSettledFuture (mark-to-market, margin call, liquidation, capped maturity, sale of a position),
against a real dev node."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak

from contracts.oracle_reports import PriceReport, asset_id, order_signatures, sign_report
from tests.contracts.suite import events

pytestmark = pytest.mark.e2e

DAY = 24 * 3600
# An address without code: genesis deploys the permission registry at 0x…5e77 (docs/permissioning.md),
# whose validators() is the chain's validator set, so "no registry" must be elsewhere.
NO_REGISTRY = "0x000000000000000000000000000000000000dEaD"
KEYS = [keccak(text=f"settle oracle validator {i}") for i in range(4)]
VALIDATORS = [Account.from_key(k).address for k in KEYS]
OUTSIDER = keccak(text="not a validator")
SILVER = asset_id("SILVER")
LONG, SHORT = 0, 1
ACTIVE, LIQUIDATED, SETTLED = 1, 2, 3
REPO = Path(__file__).resolve().parents[2]


def deploy_oracle(chain, registry=NO_REGISTRY, validators=VALIDATORS):
    return chain.deploy("ConsortiumOracle", chain.accounts[0], registry, validators, 3600, 2 * DAY)


def signed(chain, oracle, price, keys, asset=SILVER, round_=None, observed_at=None):
    report = PriceReport(asset, price, round_ or oracle.functions.latestRound(asset).call() + 1,
                         observed_at or chain.now())
    sigs = order_signatures(sign_report(report, k, chain.w3.eth.chain_id, oracle.address) for k in keys)
    return oracle.functions.submitReport(report.asset, report.price, report.round, report.observed_at, sigs)


def publish(chain, oracle, price, keys=KEYS[:3]):
    receipt = chain.tx(signed(chain, oracle, price, keys), chain.accounts[0])
    return events(oracle, "PriceReported", receipt)[0]


def test_oracle_accepts_three_of_four_and_refuses_two(chain):
    oracle = deploy_oracle(chain)
    admin = chain.accounts[0]
    assert oracle.functions.validators().call() == VALIDATORS
    assert oracle.functions.quorum().call() == 3
    # Our signatures are over exactly the digest the contract computes.
    report = PriceReport(SILVER, 50_000, 1, 1_700_000_000)
    digest = oracle.functions.reportDigest(SILVER, 50_000, 1, 1_700_000_000).call()
    sig = sign_report(report, KEYS[0], chain.w3.eth.chain_id, oracle.address)
    assert Account._recover_hash(digest, signature=sig.signature) == VALIDATORS[0]

    assert chain.reverts(signed(chain, oracle, 50_000, KEYS[:2]), admin, "NotEnoughSignatures") == (2, 3)
    assert chain.reverts(signed(chain, oracle, 50_000, [KEYS[0], KEYS[1], OUTSIDER]), admin, "NotAValidator") == (
        Account.from_key(OUTSIDER).address.lower(),)
    chain.call_reverts(oracle.functions.latestPrice(SILVER), "NoPrice")

    event = publish(chain, oracle, 50_000, KEYS[1:4])
    assert (event["round"], event["price"], event["signers"]) == (1, 50_000, 3)
    price, round_, observed_at = oracle.functions.latestPrice(SILVER).call()
    assert (price, round_) == (50_000, 1) and observed_at <= chain.now()
    chain.advance(1)  # a new report must be observed after the last one; blocks may share a second
    assert publish(chain, oracle, 50_100, KEYS)["signers"] == 4  # all four is fine too
    assert oracle.functions.priceAtRound(SILVER, 1).call()[0] == 50_000

    # The same signer twice, unsorted signatures, a wrong round and an old report are refused.
    chain.advance(1)  # so that only the defect under test is wrong with each report
    report = PriceReport(SILVER, 1, 3, chain.now())
    sigs = [sign_report(report, k, chain.w3.eth.chain_id, oracle.address).signature for k in KEYS[:3]]
    ordered = order_signatures(sign_report(report, k, chain.w3.eth.chain_id, oracle.address) for k in KEYS[:3])
    twice = [ordered[0], ordered[0], ordered[1]]
    chain.reverts(oracle.functions.submitReport(SILVER, 1, 3, report.observed_at, twice), admin, "SignersNotAscending")
    if sigs != ordered:
        chain.reverts(oracle.functions.submitReport(SILVER, 1, 3, report.observed_at, sigs), admin,
                      "SignersNotAscending")
    assert chain.reverts(signed(chain, oracle, 1, KEYS[:3], round_=5), admin, "UnexpectedRound") == (SILVER, 3, 5)
    chain.reverts(signed(chain, oracle, 1, KEYS[:3], observed_at=chain.now() - 7200), admin, "ReportNotFresh")
    chain.reverts(signed(chain, oracle, 1, KEYS[:3], observed_at=chain.now() + 7200), admin, "ReportNotFresh")
    bad = oracle.functions.submitReport(SILVER, 1, 3, chain.now(), [b"\1" * 65, b"\2" * 65, b"\3" * 65])
    chain.reverts(bad, admin, "InvalidSignature")

    # Readers are protected from stale prices.
    chain.advance(2 * DAY + 10)
    chain.call_reverts(oracle.functions.latestPrice(SILVER), "StalePrice")

    # Only the admin configures validators and limits.
    chain.reverts(oracle.functions.setValidators(VALIDATORS[:3]), chain.accounts[1], "AccessControlUnauthorizedAccount")
    chain.reverts(oracle.functions.setLimits(1, 1), chain.accounts[1], "AccessControlUnauthorizedAccount")
    chain.tx(oracle.functions.setValidators(VALIDATORS[:3]), admin)
    assert oracle.functions.quorum().call() == 2
    assert publish(chain, oracle, 49_000, KEYS[:2])["signers"] == 2
    chain.tx(oracle.functions.setValidators([]), admin)
    chain.advance(1)
    chain.reverts(signed(chain, oracle, 1, KEYS[:3]), admin, "NoValidators")


def test_oracle_reads_validators_from_registry_when_present(chain):
    registry = chain.deploy("StaticValidatorSource", VALIDATORS)
    oracle = deploy_oracle(chain, registry=registry.address, validators=[])
    assert oracle.functions.validators().call() == VALIDATORS
    chain.reverts(oracle.functions.setValidators(VALIDATORS), chain.accounts[0], "ValidatorsFromRegistry")
    assert publish(chain, oracle, 42, KEYS[1:])["signers"] == 3
    chain.advance(1)
    chain.reverts(signed(chain, oracle, 43, KEYS[2:]), chain.accounts[0], "NotEnoughSignatures")
    # A contract that is not a registry is a clear error, not a silent fallback.
    not_registry = chain.deploy("IdentityRegistry", chain.accounts[0])
    broken = deploy_oracle(chain, registry=not_registry.address)
    chain.call_reverts(broken.functions.validators(), "RegistryUnavailable")


def test_feeder_script_submits_when_quorum_is_collected(chain, tmp_path):
    oracle = deploy_oracle(chain)
    key_files = []
    for i, key in enumerate([OUTSIDER, *KEYS[:3]]):
        path = tmp_path / f"validator{i}.key"
        path.write_text(key.hex() + "\n")
        key_files += ["--validator-key-file", str(path)]
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"SILVER": 50_500, "GOLD": 4_000_000}))
    command = [sys.executable, str(REPO / "scripts" / "oracle_feeder.py"), "--rpc", chain.w3.provider.endpoint_uri,
               "--oracle", oracle.address, "--prices", str(prices), "--from", chain.accounts[0], *key_files]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "SILVER: round 1 accepted with 3 signatures" in done.stdout
    assert "not a current validator" in done.stderr
    assert oracle.functions.latestPrice(SILVER).call()[:2] == (50_500, 1)
    assert oracle.functions.latestPrice(asset_id("GOLD")).call()[:2] == (4_000_000, 1)

    # Two validator keys are not a quorum: a clear error, nothing submitted.
    few = command[: command.index("--validator-key-file")] + key_files[:6]
    done = subprocess.run(few, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode != 0 and "quorum is 3" in done.stderr and "Traceback" not in done.stderr
    assert oracle.functions.latestRound(SILVER).call() == 1
    prices.write_text("not json")
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode != 0 and "cannot read prices" in done.stderr and "Traceback" not in done.stderr


# -- futures ------------------------------------------------------------------------------------

PRICE = 100_00  # 100.00 in cash cents per unit
SIZE = 10
LEVERAGE = 5
INITIAL_MARGIN = PRICE * SIZE // LEVERAGE  # 200.00
MAINTENANCE_BPS = 7_500  # a margin call below 150.00
CALL_WINDOW = 3600
GRACE = 2 * DAY


def deploy_future(chain, oracle, cash, long, short, maturity_days=10):
    terms = (cash.address, oracle.address, SILVER, PRICE, SIZE, LEVERAGE, chain.now() + maturity_days * DAY, DAY,
             CALL_WINDOW, MAINTENANCE_BPS, long, short, GRACE)
    future = chain.deploy("CashSettledFuture", terms)
    chain.tx(cash.functions.setAllowed(future.address, True), chain.accounts[0])
    return future


@pytest.fixture
def desk(chain):
    """An oracle with 4 validators, a cash token, and Alice, Bob and Carol funded with 1,000.00 each."""
    bank, alice, bob, carol = chain.accounts[0:4]
    oracle = deploy_oracle(chain)
    cash = chain.deploy("CashToken", "Krona Token", "SEKT", 2, bank)
    for who in (alice, bob, carol):
        chain.tx(cash.functions.setAllowed(who, True), bank)
        chain.tx(cash.functions.mint(who, 1_000_00), bank)
    return oracle, cash


def fund(chain, cash, future, side, who, amount=INITIAL_MARGIN):
    chain.tx(cash.functions.approve(future.address, amount), who)
    return chain.tx(future.functions.depositMargin(side, amount), who)


def next_day(chain, oracle, future, price):
    chain.advance(DAY)
    publish(chain, oracle, price)
    return chain.tx(future.functions.markToMarket(), chain.accounts[5])  # anyone may mark


def margins(future):
    return future.functions.margin(LONG).call(), future.functions.margin(SHORT).call()


def test_mark_to_market_margin_call_and_liquidation(chain, desk):
    oracle, cash = desk
    alice, bob = chain.accounts[1:3]
    future = deploy_future(chain, oracle, cash, alice, bob)
    assert future.functions.initialMargin().call() == INITIAL_MARGIN
    chain.reverts(future.functions.markToMarket(), alice, "WrongStatus")
    fund(chain, cash, future, LONG, alice)
    receipt = fund(chain, cash, future, SHORT, bob)
    assert events(future, "Activated", receipt) == [{"initialMargin": INITIAL_MARGIN}]
    assert future.functions.status().call() == ACTIVE
    chain.reverts(future.functions.cancel(), alice, "WrongStatus")
    chain.reverts(future.functions.markToMarket(), alice, "MarkTooEarly")

    # Day 1: +2.00 -> long gains 20.00. Day 2: -3.00. Day 3: +8.00 -> short below maintenance.
    receipt = next_day(chain, oracle, future, 102_00)
    assert events(future, "MarkedToMarket", receipt)[0]["longMargin"] == 220_00
    assert margins(future) == (220_00, 180_00)
    next_day(chain, oracle, future, 99_00)
    assert margins(future) == (190_00, 210_00)
    chain.advance(DAY)
    chain.reverts(future.functions.markToMarket(), alice, "NoNewPrice")  # no report since the last mark
    publish(chain, oracle, 107_00)
    receipt = chain.tx(future.functions.markToMarket(), alice)
    assert margins(future) == (270_00, 130_00)
    (call,) = events(future, "MarginCall", receipt)
    assert (call["side"], call["holder"], call["margin"]) == (SHORT, bob, 130_00)
    assert future.functions.marginCallDeadline(SHORT).call() == call["deadline"]
    chain.reverts(future.functions.liquidate(), alice, "NothingToLiquidate")  # deadline not yet passed

    # Bob does not top up: after the deadline anyone liquidates and Alice gets both margins.
    chain.advance(CALL_WINDOW + 1)
    before = cash.functions.balanceOf(alice).call()
    receipt = chain.tx(future.functions.liquidate(), chain.accounts[5])
    assert events(future, "Liquidated", receipt) == [{"defaulter": SHORT, "winner": alice, "payout": 400_00}]
    assert cash.functions.balanceOf(alice).call() == before + 400_00
    assert cash.functions.balanceOf(bob).call() == 1_000_00 - INITIAL_MARGIN
    assert cash.functions.balanceOf(future.address).call() == 0
    assert future.functions.status().call() == LIQUIDATED
    chain.reverts(future.functions.markToMarket(), alice, "WrongStatus")
    chain.reverts(future.functions.depositMargin(LONG, 1), alice, "WrongStatus")


def test_margin_call_met_by_top_up(chain, desk):
    oracle, cash = desk
    alice, bob = chain.accounts[1:3]
    future = deploy_future(chain, oracle, cash, alice, bob)
    fund(chain, cash, future, LONG, alice)
    fund(chain, cash, future, SHORT, bob)
    receipt = next_day(chain, oracle, future, 94_00)  # long loses 60.00 -> 140.00 < 150.00
    assert events(future, "MarginCall", receipt)[0]["side"] == LONG
    receipt = fund(chain, cash, future, LONG, alice, 60_00)
    assert events(future, "MarginCallMet", receipt) == [{"side": LONG, "margin": 200_00}]
    assert future.functions.marginCallDeadline(LONG).call() == 0
    chain.advance(CALL_WINDOW + 1)
    chain.reverts(future.functions.liquidate(), bob, "NothingToLiquidate")
    chain.reverts(future.functions.depositMargin(2, 1), bob, "InvalidSide")


def test_position_sold_to_carol_who_gets_the_capped_final_payout(chain, desk):
    oracle, cash = desk
    alice, bob, carol = chain.accounts[1:4]
    future = deploy_future(chain, oracle, cash, alice, bob, maturity_days=3)
    fund(chain, cash, future, LONG, alice)
    fund(chain, cash, future, SHORT, bob)
    next_day(chain, oracle, future, 104_00)
    assert margins(future) == (240_00, 160_00)

    # §3.7: Alice lists her long side; Carol pays and becomes its payout address, atomically.
    chain.reverts(future.functions.buyPosition(LONG, carol, 50_00, chain.now() + 600), carol, "PositionNotForSale")
    chain.reverts(future.functions.listPosition(LONG, 50_00), bob, "NotPositionHolder")
    receipt = chain.tx(future.functions.listPosition(LONG, 50_00), alice)
    assert events(future, "PositionListed", receipt) == [{"side": LONG, "holder": alice, "price": 50_00}]
    chain.tx(cash.functions.approve(future.address, 50_00), carol)
    alice_before = cash.functions.balanceOf(alice).call()
    receipt = chain.tx(future.functions.buyPosition(LONG, carol, 50_00, chain.now() + 600), carol)
    assert events(future, "PositionSold", receipt) == [
        {"side": LONG, "seller": alice, "buyer": carol, "payout": carol, "price": 50_00}]
    assert future.functions.holder(LONG).call() == carol
    assert cash.functions.balanceOf(alice).call() == alice_before + 50_00
    assert future.functions.askPrice(LONG).call() == 0
    chain.reverts(future.functions.listPosition(LONG, 1), alice, "NotPositionHolder")
    chain.reverts(future.functions.cancelListing(LONG), carol, "PositionNotForSale")

    # Maturity: silver jumps to 150.00. Short owes 460.00 but has 160.00: Carol's gain is capped.
    chain.reverts(future.functions.settleAtMaturity(), carol, "NotMatured")
    maturity = future.functions.terms().call()[6]
    chain.advance(maturity - chain.now() - 60)
    publish(chain, oracle, 104_00)  # fresh at maturity, but observed before it
    chain.advance(61)
    chain.reverts(future.functions.markToMarket(), carol, "Matured")
    chain.reverts(future.functions.settleAtMaturity(), carol, "NoNewPrice")  # last price predates maturity
    publish(chain, oracle, 150_00)
    carol_before = cash.functions.balanceOf(carol).call()
    bob_before = cash.functions.balanceOf(bob).call()
    receipt = chain.tx(future.functions.settleAtMaturity(), bob)
    assert events(future, "Settled", receipt) == [{"price": 150_00, "longPayout": 400_00, "shortPayout": 0}]
    assert cash.functions.balanceOf(carol).call() == carol_before + 400_00
    assert cash.functions.balanceOf(bob).call() == bob_before
    assert cash.functions.balanceOf(future.address).call() == 0
    assert future.functions.status().call() == SETTLED
    chain.reverts(future.functions.settleAtMaturity(), bob, "WrongStatus")
    # Over the whole life: Alice -200 margin +50 sale, Bob -200, Carol -50 +400.
    assert [cash.functions.balanceOf(a).call() for a in (alice, bob, carol)] == [850_00, 800_00, 1_350_00]


def test_future_terms_are_checked(chain, desk):
    oracle, cash = desk
    alice = chain.accounts[1]
    from contracts.compiler import load_artifact

    artifact = load_artifact("CashSettledFuture")
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    same_parties = (cash.address, oracle.address, SILVER, PRICE, SIZE, LEVERAGE, chain.now() + DAY, DAY, CALL_WINDOW,
                    MAINTENANCE_BPS, alice, alice, GRACE)
    chain.reverts(factory.constructor(same_parties), alice, "InvalidTerms")
    future = deploy_future(chain, oracle, cash, alice, chain.accounts[2])
    fund(chain, cash, future, LONG, alice)
    chain.reverts(future.functions.cancel(), chain.accounts[5], "NotPositionHolder")
    receipt = chain.tx(future.functions.cancel(), alice)
    assert events(future, "Cancelled", receipt) == [{}]
    assert cash.functions.balanceOf(alice).call() == 1_000_00


def test_oracle_reads_the_permission_registry_genesis_deploys(chain):
    """At 0x…5e77 genesis now deploys the permission registry: its validators() is the chain's set."""
    from node.dev import dev_validator_keys

    oracle = deploy_oracle(chain, registry="0x0000000000000000000000000000000000005E77", validators=[])
    assert [v.lower() for v in oracle.functions.validators().call()] == ["0x" + dev_validator_keys().address.hex()]
    assert oracle.functions.quorum().call() == 1

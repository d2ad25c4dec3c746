"""§2.3.3 Price Commit: one test per rule of the three-feed consensus, against a real node.

Parameters are the whitepaper defaults (node.duo.deploy.DuoParams): cool-down 3000 s, price
tolerance 5% against the last accepted price, 1% between feeds, arrival-time tolerance 60 s. A
price's arrival time is the block timestamp of its commit; chain time moves with evm_increaseTime.
Paragraphs are numbered from the start of §2.3.3 ("Three price commit process…" is ¶1).
"""
from __future__ import annotations

import pytest

from tests.duo.support import Chain, Duo, deploy, wad

pytestmark = pytest.mark.e2e

COOL_DOWN = 3000
START = wad(500)


@pytest.fixture
def duo(chain: Chain) -> Duo:
    duo = deploy(chain, start_price=START)
    chain.advance(COOL_DOWN)  # out of the cool-down that follows startContract's price
    return duo


def commit(duo: Duo, feed: int, price: int):  # type: ignore[no-untyped-def]
    """Commit as pf<feed>; returns (accepted price or None, staged events)."""
    receipt = duo.tx(duo.feed(feed), duo.beethoven.functions.commitPrice(price))
    accepted = duo.events(receipt, "AcceptPrice")
    staged = duo.events(receipt, "CommitPrice")
    assert len(accepted) + len(staged) == 1
    return (accepted[0]["price"] if accepted else None), staged


def test_p2_cool_down_rejects_commit_after_last_accepted(chain: Chain) -> None:
    """¶2 "Price commits within cool down period from last commit are rejected/ignored." """
    duo = deploy(chain, start_price=START)
    last_time = duo.prices()["last_time"]
    rejected = duo.revert(duo.feed(2), duo.beethoven.functions.commitPrice(START))
    assert rejected is not None and rejected.name == "PriceCoolDown"
    assert rejected.args == (last_time + COOL_DOWN,)
    chain.advance(COOL_DOWN)
    assert commit(duo, 2, START)[0] == START


def test_p4_first_price_within_5_percent_accepted_at_once(duo: Duo) -> None:
    """¶4 "The first price arrived is accepted immediately if the price is similar (5% difference)
    to the previous accepted price." """
    price = START * 105 // 100  # exactly 5% away: still "similar"
    accepted, _ = commit(duo, 3, price)
    assert accepted == price
    assert duo.prices()["last_price"] == price
    assert duo.beethoven.functions.numStaged().call() == 0


def test_p4_first_price_beyond_5_percent_waits_for_second(duo: Duo) -> None:
    """¶4 "Otherwise, smart contract will wait for the second price." """
    price = START * 106 // 100
    accepted, staged = commit(duo, 1, price)
    assert accepted is None
    assert staged[0]["price"] == price and staged[0]["index"] == 0 and staged[0]["sender"] == duo.feed(1).address
    prices = duo.prices()
    assert prices["first_price"] == price and prices["first_sender"] == duo.feed(1).address
    assert prices["last_price"] == START


def test_p3_same_sender_as_first_rejected_within_cool_down(duo: Duo) -> None:
    """¶3 "All commits from the same sender as the first price are rejected if they are within cool
    down period from the first price." """
    commit(duo, 1, wad(600))
    rejected = duo.revert(duo.feed(1), duo.beethoven.functions.commitPrice(wad(600)))
    assert rejected is not None and rejected.name == "SenderAlreadyCommitted"
    assert rejected.args == (duo.feed(1).address,)


def test_p5_second_beyond_cool_down_same_sender_accepts_second(chain: Chain, duo: Duo) -> None:
    """¶5 "When the second price arrives beyond the cool down period after first price, the second
    price is accepted immediately if second sender is same as first sender" """
    commit(duo, 1, wad(600))
    chain.advance(COOL_DOWN + 1)
    assert commit(duo, 1, wad(610))[0] == wad(610)


def test_p5_second_beyond_cool_down_other_sender_accepts_first(chain: Chain, duo: Duo) -> None:
    """¶5 "…or first price is accepted if second sender is not the same as first sender." """
    commit(duo, 1, wad(600))
    chain.advance(COOL_DOWN + 1)
    assert commit(duo, 2, wad(610))[0] == wad(600)


def test_p6_second_arriving_too_late_accepts_first(chain: Chain, duo: Duo) -> None:
    """¶6 "First price is accepted if the second price arrives too late." (beyond the 60 s time
    tolerance but within the cool-down)"""
    commit(duo, 1, wad(600))
    chain.advance(120)
    assert commit(duo, 2, wad(400))[0] == wad(600)


def test_p6_second_within_price_tolerance_accepts_first(duo: Duo) -> None:
    """¶6 "If the second price's arriving time is within tolerance, it will further check the price
    difference. If the difference is within tolerance, the first price is accepted." """
    commit(duo, 1, wad(600))
    assert commit(duo, 2, wad(605))[0] == wad(600)  # 0.83% from the first


def test_p6_second_beyond_price_tolerance_waits_for_third(duo: Duo) -> None:
    """¶6 "If not, contract will wait for the third price." """
    commit(duo, 1, wad(600))
    accepted, staged = commit(duo, 2, wad(620))
    assert accepted is None and staged[0]["index"] == 1
    prices = duo.prices()
    assert (prices["second_price"], prices["second_sender"]) == (wad(620), duo.feed(2).address)
    assert duo.beethoven.functions.numStaged().call() == 2


def _two_staged(duo: Duo) -> None:
    commit(duo, 1, wad(600))
    commit(duo, 2, wad(620))


def test_p7_first_or_second_sender_rejected_within_cool_down(duo: Duo) -> None:
    """¶7 "All commits from the first or second sender are rejected if they are within cool down
    period from the first price." """
    _two_staged(duo)
    for feed in (1, 2):
        rejected = duo.revert(duo.feed(feed), duo.beethoven.functions.commitPrice(wad(610)))
        assert rejected is not None and rejected.name == "SenderAlreadyCommitted"


def test_p8_third_beyond_cool_down_new_sender_accepts_second(chain: Chain, duo: Duo) -> None:
    """¶8 "When the third price arrives beyond the cool down period from the first price … If the
    price sender is different from previous senders, the second price is accepted." """
    _two_staged(duo)
    chain.advance(COOL_DOWN + 1)
    assert commit(duo, 3, wad(640))[0] == wad(620)


@pytest.mark.parametrize("feed", [1, 2])
def test_p8_third_beyond_cool_down_known_sender_accepts_third(chain: Chain, duo: Duo, feed: int) -> None:
    """¶8 "If the price sender is same as any of the first two senders, the third price is accepted." """
    _two_staged(duo)
    chain.advance(COOL_DOWN + 1)
    assert commit(duo, feed, wad(640))[0] == wad(640)


def test_p9_third_arriving_too_late_accepts_first(chain: Chain, duo: Duo) -> None:
    """¶9 "If the third price arrives within cool down period and sent by third sender, it will
    further check the arriving time difference to the first price. If the difference is too big,
    the first price will be accepted." """
    _two_staged(duo)
    chain.advance(120)
    assert commit(duo, 3, wad(610))[0] == wad(600)


@pytest.mark.parametrize("third, median", [("610", "610"), ("590", "600"), ("650", "620")])
def test_p9_third_in_time_accepts_median_of_three(duo: Duo, third: str, median: str) -> None:
    """¶9 "If the difference is within tolerance, the median of the three prices are accepted." """
    _two_staged(duo)
    accepted, _ = commit(duo, 3, wad(third))
    assert accepted == wad(median)
    assert duo.beethoven.functions.numStaged().call() == 0


def test_accepted_price_updates_navs_and_starts_pre_reset(chain: Chain, duo: Duo) -> None:
    """§3.4.1: commitPrice "also checks if reset is required given the newly accepted price and emit
    StartPreReset event in such cases" (here NAV_B <= 0.25 after a 40% fall)."""
    commit(duo, 1, wad(300))
    receipt = duo.tx(duo.feed(2), duo.beethoven.functions.commitPrice(wad(300)))
    (accepted,) = duo.events(receipt, "AcceptPrice")
    assert accepted["price"] == wad(300)
    assert accepted["navA"] == 10**18  # no whole period since the start
    assert accepted["navB"] == 2 * wad(300) * 10**18 // wad(500) - 10**18  # 0.2
    assert len(duo.events(receipt, "StartPreReset")) == 1
    assert duo.deployment.state().name == "PRE_RESET"

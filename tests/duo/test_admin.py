"""§2.6 administration and §2.7.3 random assignment, against a real node."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from node.duo.deploy import Role, Value
from tests.duo.support import ADMIN_ACCOUNTS, DEV, Chain, deploy, wad

pytestmark = pytest.mark.e2e

DAY = 86_400
FRESH = ADMIN_ACCOUNTS[30:40]  # never used by the deployments in this module


def expected_pick(chain: Chain, block_number: int, pool: list[str], user_count: int) -> str:
    """§2.7.3: previous block hash as a number (user list <= 255), index = number mod pool size."""
    seed = int.from_bytes(chain.w3.eth.get_block(block_number - 1)["hash"], "big")
    assert user_count <= 255
    return pool[seed % len(pool)]


def swap_pop(pool: list[str], address: str) -> list[str]:
    """The contract removes from the pool by moving the last entry into the gap."""
    pool = list(pool)
    i = pool.index(address)
    pool[i] = pool[-1]
    pool.pop()
    return pool


def test_update_address_assigns_a_random_pool_member(chain: Chain) -> None:
    duo = deploy(chain)
    fns = duo.beethoven.functions
    pool = fns.getPool().call()
    assignor = duo.pool[2]
    receipt = duo.tx(assignor, fns.updateAddress(Role.PRICE_FEED_3))
    (event,) = duo.events(receipt, "UpdateAddress")
    remaining = swap_pop(pool, assignor.address)
    assert event["newAddress"] == expected_pick(chain, receipt.blockNumber, remaining, fns.userCount().call())
    assert event["assignor"] == assignor.address and event["previous"] == duo.feed(3).address
    assert duo.deployment.system_addresses()["price_feed_3"] == event["newAddress"]
    # Both the assignor and the assignee left the pool and are used for good.
    assert sorted(fns.getPool().call()) == sorted(swap_pop(remaining, event["newAddress"]))
    assert fns.addressStatus(assignor.address).call() == 2 and fns.addressStatus(event["newAddress"]).call() == 2
    # The new pf3 can commit prices; the old one no longer can.
    chain.advance(3000)
    new_pf3 = next(s for s in duo.pool if s.address == event["newAddress"])
    assert duo.revert(duo.feed(3), fns.commitPrice(wad(500))).name == "NotPriceFeed"
    assert duo.revert(new_pf3, fns.commitPrice(wad(500))) is None


def test_admin_cool_down_refuses_a_second_operation_within_a_day(chain: Chain) -> None:
    duo = deploy(chain)
    fns = duo.beethoven.functions
    receipt = duo.tx(duo.roles[Role.OPERATOR], fns.setValue(Value.CREATE_COMM_BP, 50))
    assert duo.events(receipt, "SetValue") == [{"index": 0, "oldValue": 100, "newValue": 50}]
    ready_at = chain.w3.eth.get_block(receipt.blockNumber)["timestamp"] + DAY
    for sender, function in [(duo.roles[Role.OPERATOR], fns.setValue(Value.REDEEM_COMM_BP, 50)),
                             (duo.roles[Role.POOL_MANAGER], fns.addAddress(FRESH[0].address, FRESH[1].address)),
                             (duo.roles[Role.POOL_MANAGER], fns.removeAddress(duo.pool[0].address)),
                             (duo.pool[0], fns.updateAddress(Role.OPERATOR))]:
        refused = duo.revert(sender, function)
        assert refused is not None and refused.name == "AdminCoolDown" and refused.args == (ready_at,)
    chain.advance(DAY)
    duo.tx(duo.roles[Role.OPERATOR], fns.setValue(Value.REDEEM_COMM_BP, 50))
    assert fns.values(Value.REDEEM_COMM_BP).call() == 50


def test_set_value_checks_index_and_range(chain: Chain) -> None:
    duo = deploy(chain)
    opt, fns = duo.roles[Role.OPERATOR], duo.beethoven.functions
    assert duo.revert(opt, fns.setValue(12, 1)).name == "InvalidValueIndex"
    assert duo.revert(opt, fns.setValue(Value.CREATE_COMM_BP, 501)).name == "ValueOutOfRange"
    assert duo.revert(opt, fns.setValue(Value.LIMIT_LOWER, wad(1))).name == "ValueOutOfRange"
    duo.tx(opt, fns.setValue(Value.LIMIT_UPPER, wad("1.5")))
    assert duo.deployment.system_states()["limit_upper"] == wad("1.5")


def test_pool_manager_adds_and_removes_and_is_replaced_at_random(chain: Chain) -> None:
    duo = deploy(chain)
    fns = duo.beethoven.functions
    pm = duo.roles[Role.POOL_MANAGER]
    pool = fns.getPool().call()
    # Refusals: two equal addresses, an address already used or in the pool.
    assert duo.revert(pm, fns.addAddress(FRESH[0].address, FRESH[0].address)).name == "DuplicateAddress"
    assert duo.revert(pm, fns.addAddress(FRESH[0].address, duo.feed(1).address)).name == "AddressNotFresh"
    assert duo.revert(pm, fns.addAddress(pool[0], FRESH[0].address)).name == "AddressNotFresh"
    receipt = duo.tx(pm, fns.addAddress(FRESH[0].address, FRESH[1].address))
    (event,) = duo.events(receipt, "AddAddress")
    assert event["newPoolManager"] == expected_pick(chain, receipt.blockNumber, pool, 0)
    pool = swap_pop(pool, event["newPoolManager"]) + [FRESH[0].address, FRESH[1].address]
    assert fns.getPool().call() == pool and len(pool) == 7
    new_pm = next(s for s in duo.pool if s.address == event["newPoolManager"])
    assert duo.deployment.system_addresses()["pool_manager"] == new_pm.address
    chain.advance(DAY)
    assert duo.revert(pm, fns.removeAddress(FRESH[0].address)).name == "NotRole"  # the old pm is out
    receipt = duo.tx(new_pm, fns.removeAddress(FRESH[0].address))
    (event,) = duo.events(receipt, "RemoveAddress")
    # §2.6: the manager is drawn from the pool before the removal.
    assert event == {"removed": FRESH[0].address,
                     "newPoolManager": expected_pick(chain, receipt.blockNumber, pool, 0)}
    pool = swap_pop(pool, event["newPoolManager"])
    if event["newPoolManager"] != FRESH[0].address:
        pool = swap_pop(pool, FRESH[0].address)
    assert fns.getPool().call() == pool
    # No reuse: the removed address and the replaced managers can never come back.
    chain.advance(DAY)
    # The pick may land on an original member, on FRESH[1] (added above), or on FRESH[0] itself: §2.6 draws
    # before the removal, so the candidate being removed can be drawn (it then leaves the pool as manager).
    candidates = duo.pool + [chain.sender(FRESH[0]), chain.sender(FRESH[1])]
    pm = next(s for s in candidates if s.address == event["newPoolManager"])
    for used in (FRESH[0].address, new_pm.address, pm.address):
        assert duo.revert(pm, fns.addAddress(used, FRESH[5].address)).name == "AddressNotFresh"


def draw_block(chain: Chain, wanted: Callable[[int], bool], tries: int = 200) -> int:
    """Mine empty blocks until the latest block's hash, §2.7.3's random number while the user list
    is at most 255 long, satisfies ``wanted``; returns that block's number, the parent of the next
    transaction's block."""
    for _ in range(tries):
        latest = chain.w3.eth.get_block("latest")
        if wanted(int.from_bytes(latest["hash"], "big")):
            return latest["number"]
        chain.mine()
    raise AssertionError(f"no block hash in {tries} blocks gave the wanted draw")


def test_section_2_6_remove_address_replaces_the_pool_manager_before_the_removal(chain: Chain) -> None:
    """§2.6: "Pool manager can also remove one account each time from the pool. Similarly, the pool
    manager is replaced randomly before candidate removal." The draw is over the pool as it stands,
    the candidate included, so the removal cannot shape the draw. The block is chosen so that
    drawing after the removal would give a different manager."""
    duo = deploy(chain)
    fns = duo.beethoven.functions
    pool = fns.getPool().call()
    candidate = pool[1]
    after_removal = swap_pop(pool, candidate)
    parent = draw_block(chain, lambda seed: pool[seed % len(pool)] not in (
        candidate, after_removal[seed % len(after_removal)]))
    receipt = duo.tx(duo.roles[Role.POOL_MANAGER], fns.removeAddress(candidate))
    assert receipt.blockNumber == parent + 1
    (event,) = duo.events(receipt, "RemoveAddress")
    seed = int.from_bytes(chain.w3.eth.get_block(parent)["hash"], "big")
    assert event == {"removed": candidate, "newPoolManager": pool[seed % len(pool)]}
    assert duo.deployment.system_addresses()["pool_manager"] == event["newPoolManager"]
    assert fns.getPool().call() == swap_pop(swap_pop(pool, event["newPoolManager"]), candidate)
    assert fns.addressStatus(candidate).call() == 2 and fns.addressStatus(event["newPoolManager"]).call() == 2


def test_section_2_6_remove_address_when_the_draw_picks_the_candidate(chain: Chain) -> None:
    """§2.6 with the draw before the removal landing on the candidate itself: it becomes the pool
    manager, which already takes it out of the pool; nothing else leaves."""
    duo = deploy(chain)
    fns = duo.beethoven.functions
    pool = fns.getPool().call()
    candidate = pool[2]
    parent = draw_block(chain, lambda seed: pool[seed % len(pool)] == candidate)
    receipt = duo.tx(duo.roles[Role.POOL_MANAGER], fns.removeAddress(candidate))
    assert receipt.blockNumber == parent + 1
    assert duo.events(receipt, "RemoveAddress") == [{"removed": candidate, "newPoolManager": candidate}]
    assert duo.deployment.system_addresses()["pool_manager"] == candidate
    assert fns.getPool().call() == swap_pop(pool, candidate)


def test_section_3_4_4_set_value_keeps_the_upper_limit_at_or_above_the_periodic_limit(chain: Chain) -> None:
    """§3.4.4 setValue, with the constructor's checks (issue 22): an upper limit below the periodic
    limit (upper 1.01 < periodic 1.035) let NAV_A = 1.0102, NAV_B = 1.0101 reach the upward branch,
    whose payout underflowed and locked the contract in PreReset. Both orders are refused; equal
    limits are accepted, as by the constructor."""
    duo = deploy(chain)
    opt, fns = duo.roles[Role.OPERATOR], duo.beethoven.functions
    refused = duo.revert(opt, fns.setValue(Value.LIMIT_UPPER, wad("1.01")))
    assert refused is not None
    assert (refused.name, refused.args) == ("ValueOutOfRange", (Value.LIMIT_UPPER, wad("1.01")))
    refused = duo.revert(opt, fns.setValue(Value.LIMIT_PERIODIC, wad("2.5")))
    assert refused is not None
    assert (refused.name, refused.args) == ("ValueOutOfRange", (Value.LIMIT_PERIODIC, wad("2.5")))
    duo.tx(opt, fns.setValue(Value.LIMIT_UPPER, wad("1.035")))
    assert duo.deployment.system_states()["limit_upper"] == wad("1.035")


def test_pool_never_drops_below_three(chain: Chain) -> None:
    duo = deploy(chain)
    fns = duo.beethoven.functions
    duo.tx(duo.pool[0], fns.updateAddress(Role.OPERATOR))  # pool 6 -> 4
    chain.advance(DAY)
    member = next(s for s in duo.pool if s.address in fns.getPool().call())
    refused = duo.revert(member, fns.updateAddress(Role.FEE_COLLECTOR))
    assert refused is not None and refused.name == "PoolTooSmall" and refused.args == (4, 5)
    refused = duo.revert(duo.roles[Role.POOL_MANAGER], fns.removeAddress(member.address))
    assert refused is not None and refused.name == "PoolTooSmall"


def test_fee_collection_in_eth_and_duo_fees_stay(chain: Chain) -> None:
    duo = deploy(chain)
    fns = duo.beethoven.functions
    user = chain.sender(DEV.accounts[5])
    duo.tx(user, fns.create(True), value=wad(2))  # 1% = 0.02 ETH fee
    duo_token = duo.deployment.duo.functions
    duo.tx(chain.sender(DEV.accounts[0]), duo_token.transfer(user.address, wad(100)))
    duo.tx(user, duo_token.approve(duo.beethoven.address, wad(100)))
    receipt = duo.tx(user, fns.create(False), value=wad(1))  # fee 0.01 ETH -> 8 DUO
    (event,) = duo.events(receipt, "Create")
    assert (event["ethFee"], event["duoFee"], event["ethAmount"]) == (0, wad(8), wad(1))
    states = duo.deployment.system_states()
    assert states["fee_balance"] == wad("0.02") and states["duo_received"] == wad(8)
    assert states["collateral"] == wad("2.98")
    fc = duo.roles[Role.FEE_COLLECTOR]
    assert duo.revert(fc, fns.collectFee(wad("0.03"))).name == "InsufficientFee"
    before = chain.w3.eth.get_balance(fc.address)
    receipt = duo.tx(fc, fns.collectFee(wad("0.02")))
    assert duo.events(receipt, "CollectFee") == [{"collector": fc.address, "amount": wad("0.02"), "feeBalance": 0}]
    assert chain.w3.eth.get_balance(fc.address) == before + wad("0.02")  # gas price 0 on the dev chain
    assert duo_token.balanceOf(duo.beethoven.address).call() == wad(8)  # DUO fees stay: burnt
    abi_functions = {item["name"] for item in duo.beethoven.abi if item["type"] == "function"}
    assert not abi_functions & {"withdrawDuo", "transferDuo", "collectDuo"}

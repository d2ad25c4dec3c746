"""§2.7.1 "Function Restriction": every function called by the wrong role or in the wrong state
reverts with a named error (checked by eth_call against a real node, plus a few sent for real)."""
from __future__ import annotations

import pytest

from node.duo.deploy import DuoParams, Role, State
from tests.duo.support import DEV, Chain, Duo, deploy, wad

pytestmark = pytest.mark.e2e


def user_calls(duo: Duo, who: str) -> dict[str, object]:
    """Every state-restricted call a holder or role can make, by name."""
    fns = duo.beethoven.functions
    token_a, token_b = duo.deployment.token_a.functions, duo.deployment.token_b.functions
    return {
        "create": fns.create(True),
        "redeem": fns.redeem(wad(1), wad(1), True),
        "transfer A": token_a.transfer(DEV.accounts[6].address, 1),
        "transferFrom B": token_b.transferFrom(who, DEV.accounts[6].address, 0),
        "commitPrice": fns.commitPrice(wad(500)),
        "startContract": fns.startContract(wad(500)),
        "startPreReset": fns.startPreReset(),
        "startReset": fns.startReset(),
        "collectFee": fns.collectFee(1),
        "setValue": fns.setValue(0, 10),
        "addAddress": fns.addAddress(DEV.accounts[3].address, DEV.accounts[4].address),
        "removeAddress": fns.removeAddress(duo.pool[0].address),
        "updateAddress": fns.updateAddress(0),
    }


CALLER = {  # who may call it (a role, a pool member or any holder)
    "create": "holder", "redeem": "holder", "transfer A": "holder", "transferFrom B": "holder",
    "commitPrice": Role.PRICE_FEED_1, "startContract": Role.PRICE_FEED_2, "startPreReset": "holder",
    "startReset": "holder", "collectFee": Role.FEE_COLLECTOR, "setValue": Role.OPERATOR,
    "addAddress": Role.POOL_MANAGER, "removeAddress": Role.POOL_MANAGER, "updateAddress": "pool",
}
ALLOWED = {  # the states in which each call is allowed
    State.INCEPTION: {"startContract", "setValue", "addAddress", "removeAddress", "updateAddress"},
    State.TRADING: {"create", "redeem", "transfer A", "transferFrom B", "commitPrice", "collectFee", "setValue",
                    "addAddress", "removeAddress", "updateAddress"},
    State.PRE_RESET: {"startPreReset"},
    State.UPWARD_RESET: {"startReset"},
}


def caller_address(duo: Duo, name: str) -> str:
    role = CALLER[name]
    if role == "holder":
        return DEV.accounts[5].address
    if role == "pool":
        return duo.pool[1].address
    return duo.roles[role].address  # type: ignore[index]


def check_state(duo: Duo, state: State) -> None:
    """Outside its allowed states every call fails with WrongState(current state)."""
    assert duo.deployment.state() == state
    holder = DEV.accounts[5].address
    for name, function in user_calls(duo, holder).items():
        if name in ALLOWED[state]:
            continue
        refused = duo.revert(caller_address(duo, name), function, value=wad(1) if name == "create" else 0)
        assert refused is not None, f"{name} allowed in {state.name}"
        assert (refused.name, refused.args) == ("WrongState", (state,)), f"{name} in {state.name}: {refused}"


def test_wrong_state_and_wrong_role_reverts_name_the_error(chain: Chain) -> None:
    duo = deploy(chain, DuoParams(pre_reset_waiting_blocks=2), start_price=None, admin_offset=0)
    fns = duo.beethoven.functions
    stranger = DEV.accounts[6].address
    check_state(duo, State.INCEPTION)
    assert duo.revert(stranger, fns.startContract(wad(500))).name == "NotPriceFeed"
    duo.tx(duo.feed(1), fns.startContract(wad(500)))

    check_state(duo, State.TRADING)
    wrong_role = {
        "commitPrice": ("NotPriceFeed", (stranger,)),
        "collectFee": ("NotRole", (Role.FEE_COLLECTOR, stranger)),
        "setValue": ("NotRole", (Role.OPERATOR, stranger)),
        "addAddress": ("NotRole", (Role.POOL_MANAGER, stranger)),
        "removeAddress": ("NotRole", (Role.POOL_MANAGER, stranger)),
        "updateAddress": ("NotInPool", (stranger,)),
    }
    calls = user_calls(duo, stranger)
    for name, expected in wrong_role.items():
        refused = duo.revert(stranger, calls[name])
        assert refused is not None and (refused.name, refused.args) == expected, name
    # The custodian's token functions only answer the Token A / Token B wrappers.
    refused = duo.revert(stranger, fns.transfer(0, stranger, DEV.accounts[7].address, 0))
    assert (refused.name, refused.args) == ("NotToken", (0, stranger))
    assert duo.revert(stranger, fns.approve(1, stranger, stranger, 0)).name == "NotToken"
    assert duo.revert(stranger, duo.deployment.token_a.functions.emitTransfer(stranger, stranger, 1)).name == \
        "NotCustodian"
    # Sent for real, a refused call is a failed transaction, not a silent no-op.
    receipt = chain.sender(DEV.accounts[6]).transact(fns.collectFee(1), gas=200_000)
    assert receipt.status == 0

    duo.tx(chain.sender(DEV.accounts[5]), fns.create(True), value=wad(1))
    chain.advance(3000)
    duo.tx(duo.feed(1), fns.commitPrice(wad(800)))
    duo.tx(duo.feed(2), fns.commitPrice(wad(800)))  # NAV_B 2.2: PreReset
    check_state(duo, State.PRE_RESET)
    trigger = chain.sender(DEV.accounts[9])
    while duo.deployment.state() == State.PRE_RESET:
        duo.tx(trigger, fns.startPreReset())
    check_state(duo, State.UPWARD_RESET)
    duo.tx(trigger, fns.startReset())
    assert duo.deployment.state() == State.TRADING

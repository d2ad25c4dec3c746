"""The one-pass transaction checks accept exactly what py-evm's two checks accept."""
import pytest
from eth.constants import SECPK1_N, UINT_64_MAX, UINT_256_MAX
from eth.db.atomic import AtomicDB
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks.cancun.state import CancunState
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth.vm.forks.prague.state import PragueState
from eth.vm.forks.prague.transactions import PragueTypedTransaction
from eth_utils import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from vm.fork import SettleCancunState, SettlePragueState
from vm.transaction_checks import has_cancun_checks, intrinsic_gas, passes_checks

SENDER = b"\x5e" * 20
#: A plain, valid type-2 payload from SENDER at nonce 0 (the signature is not checked here).
TRANSFER = dict(chain_id=1337, nonce=0, max_priority_fee_per_gas=0, max_fee_per_gas=0, gas=21000,
                to=b"\x01" * 20, value=1, data=b"", access_list=(), y_parity=0, r=1, s=1)


_HALF_N = SECPK1_N // 2

#: One field changed to a value at or just past an edge of what py-evm accepts.
_EDGES = {
    "chain_id": [0, UINT_256_MAX, UINT_256_MAX + 1, -1],
    "nonce": [UINT_64_MAX - 1, UINT_64_MAX, -1],
    "max_priority_fee_per_gas": [0, UINT_256_MAX, UINT_256_MAX + 1, -1],
    "max_fee_per_gas": [UINT_256_MAX + 1, -1],
    "gas": [0, UINT_256_MAX + 1, -1],
    "to": [b"", b"\x01" * 19, b"\x01" * 21],
    "value": [0, UINT_256_MAX + 1, -1],
    "y_parity": [0, 1, 255, 256, -1],
    "r": [0, 1, SECPK1_N, UINT_256_MAX, UINT_256_MAX + 1, -1],
    "s": [0, 1, _HALF_N, _HALF_N + 1, SECPK1_N - 1, UINT_256_MAX + 1, -1],
}
#: Shapes py-evm may accept that the one pass leaves to py-evm (it may be stricter, never looser).
_OTHER_SHAPES = {
    "nonce": [True], "gas": [True], "value": [False, 1.0], "chain_id": ["1337"],
    "to": ["0x" + "01" * 20, bytearray(20)],
    "data": [bytearray(b"\x01"), "ab"],
    "access_list": [((b"\x02" * 20, ()),), ((b"\x02" * 20, (1, 2)),), None],
}
_CHANGES = (
    [None]
    + [(key, value, True) for key, values in _EDGES.items() for value in values]
    + [(key, value, False) for key, values in _OTHER_SHAPES.items() for value in values]
)


def _state(state_class, base_fee: int, balance: int, nonce: int):
    context = ExecutionContext(b"\x00" * 20, 1, 1, 0, b"\x00" * 32, 30_000_000, [], 1337, base_fee, 0)
    state = state_class(AtomicDB(), context, state_class.get_account_db_class()(AtomicDB()).state_root)
    state.set_balance(SENDER, balance)
    state.set_nonce(SENDER, nonce)
    return state


def _transaction(fields: dict, sender: bytes | None = SENDER) -> PragueTypedTransaction:
    transaction = PragueTypedTransaction(2, DynamicFeeTransaction(**fields))
    if sender is not None:
        vars(transaction)["sender"] = sender  # as vm.senders.prefill_sender leaves it
    return transaction


def _py_evm_accepts(state, transaction) -> bool:
    try:
        transaction.validate()
        state.validate_transaction(transaction)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("change", _CHANGES, ids=repr)
@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([SettlePragueState, SettleCancunState]),
    st.sampled_from([0, 1, 7]),  # base fee
    st.sampled_from([0, 5, UINT_64_MAX - 2]),  # the sender's nonce
    st.integers(0, 9), st.integers(0, 12), st.integers(0, 30_000), st.integers(0, 10**6),  # tip, fee, gas, value
    st.sampled_from([-1, 0, 1, 10**30]),  # the balance beyond what gas and value need
    st.sampled_from([0, 1]), st.integers(1, SECPK1_N - 1), st.integers(1, _HALF_N),  # y_parity, r, s
)
def test_one_pass_accepts_exactly_what_py_evm_accepts(
    change, state_class, base_fee, nonce, tip, max_fee, gas, value, spare, y_parity, r, s
) -> None:
    """Every field at its edges, one at a time; the sender's nonce follows a changed nonce where it can."""
    if change is not None and change[0] == "nonce" and type(change[1]) is int and 0 <= change[1] <= UINT_64_MAX:
        nonce = change[1]
    fields = dict(chain_id=1337, nonce=nonce, max_priority_fee_per_gas=tip, max_fee_per_gas=max_fee, gas=gas,
                  to=b"\x01" * 20, value=value, data=b"\x00\x01", access_list=(), y_parity=y_parity, r=r, s=s)
    needed = max(gas * min(max_fee, tip + base_fee) + value, gas * max_fee)
    state = _state(state_class, base_fee, max(needed + spare, 0), nonce)
    must_agree = True
    if change is not None:
        key, fields[key], must_agree = change
    transaction = _transaction(fields)
    accepted = passes_checks(state, transaction)
    py_evm_accepts = _py_evm_accepts(state, transaction)
    assert py_evm_accepts or not accepted
    if must_agree:
        assert accepted == py_evm_accepts
    else:
        assert not accepted


def test_a_failed_one_pass_check_raises_py_evms_own_error() -> None:
    state = _state(SettlePragueState, 0, 10**6, 1)
    fields = dict(TRANSFER)
    with pytest.raises(ValidationError, match="Invalid transaction nonce: Expected 1, but got 0"):
        state.check_transaction(_transaction(fields))
    state.check_transaction(_transaction(dict(fields, nonce=1)))
    with pytest.raises(ValidationError, match="enough balance"):
        state.check_transaction(_transaction(dict(fields, nonce=1, value=10**6 + 1)))
    with pytest.raises(ValidationError, match="Invalid signature S value"):
        state.check_transaction(_transaction(dict(fields, nonce=1, s=SECPK1_N // 2 + 1)))


def test_only_a_recovered_sender_and_the_common_shape_take_the_one_pass() -> None:
    state = _state(SettlePragueState, 0, 10**6, 0)
    fields = dict(TRANSFER)
    assert passes_checks(state, _transaction(fields))
    assert not passes_checks(state, _transaction(fields, sender=None))
    assert not passes_checks(state, _transaction(dict(fields, access_list=((b"\x02" * 20, ()),))))


def test_the_one_pass_is_used_only_on_states_with_cancuns_checks() -> None:
    assert SettlePragueState._one_pass_checks and SettleCancunState._one_pass_checks
    assert has_cancun_checks(PragueState.__mro__) and has_cancun_checks(CancunState.__mro__)

    class OwnChecks(SettlePragueState):
        def validate_transaction(self, transaction):
            raise ValidationError("a rule of this state's own")

    assert not OwnChecks._one_pass_checks
    state = _state(OwnChecks, 0, 10**6, 0)
    fields = dict(TRANSFER)
    with pytest.raises(ValidationError, match="own"):
        state.check_transaction(_transaction(fields))


def test_intrinsic_gas_is_py_evms_and_computed_once_for_a_repeat(monkeypatch) -> None:
    fields = dict(TRANSFER, gas=90_000, data=b"\x00\x01\x02")
    plain, with_data = _transaction(dict(fields, data=b"")), _transaction(fields)
    computed = []
    own = DynamicFeeTransaction.get_intrinsic_gas
    monkeypatch.setattr(DynamicFeeTransaction, "get_intrinsic_gas", lambda self: computed.append(self) or own(self))
    assert [intrinsic_gas(plain), intrinsic_gas(plain), intrinsic_gas(with_data), intrinsic_gas(plain)] == [
        21000, 21000, 21000 + 4 + 2 * 16, 21000]
    assert len(computed) == 3

"""``vm.receipts`` builds and checks receipts exactly as py-evm does.

End to end, the equivalence tests compare whole blocks (receipt roots, header
blooms) with stock py-evm; these pin the pieces: the per-value mask against
``eth_bloom``, the receipt built for each transaction type against the
transaction's own ``make_receipt``, and the bloom check's refusals.
"""
from __future__ import annotations

import pytest
from eth.vm.forks.byzantium import ByzantiumVM
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.receipts import PragueTypedReceipt
from eth_bloom import BloomFilter
from eth_keys import keys
from eth_utils import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from vm.encoding import encode_receipt
from vm.receipts import bloom_mask, logs_bloom, make_receipt, validate_receipt_bloom

KEY = keys.PrivateKey(b"\x01" * 32)
BUILDER = PragueVM.get_transaction_builder()
TO = b"\x22" * 20


def _transactions() -> dict[str, object]:
    common = dict(nonce=0, gas=100_000, to=TO, value=1, data=b"")
    return {
        "legacy": BUILDER.new_transaction(gas_price=1, v=0, r=1, s=1, **common),
        "access list": BUILDER.new_unsigned_access_list_transaction(
            chain_id=1, gas_price=1, access_list=((TO, (1,)),), **common
        ).as_signed_transaction(KEY),
        "dynamic fee": BUILDER.new_unsigned_dynamic_fee_transaction(
            chain_id=1, max_priority_fee_per_gas=0, max_fee_per_gas=1, access_list=(), **common
        ).as_signed_transaction(KEY),
    }


log_entries = st.lists(
    st.tuples(
        st.binary(min_size=20, max_size=20),
        st.lists(st.integers(0, 2**256 - 1), max_size=4).map(tuple),
        st.binary(max_size=64),
    ),
    max_size=4,
).map(tuple)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_mask_is_eth_blooms(value: bytes) -> None:
    assert bloom_mask(value) == int(BloomFilter.from_iterable([value]))


@pytest.mark.parametrize("kind", ["legacy", "access list", "dynamic fee"])
@settings(max_examples=60, deadline=None)
@given(entries=log_entries, status=st.sampled_from([b"", b"\x01"]), gas_used=st.integers(0, 2**40))
def test_receipt_is_the_transactions_own(kind: str, entries: tuple, status: bytes, gas_used: int) -> None:
    transaction = _transactions()[kind]
    ours = make_receipt(transaction, status, gas_used, entries)
    theirs = transaction.make_receipt(status, gas_used, entries)
    assert type(ours) is type(theirs)
    assert ours.encode() == theirs.encode()
    assert ours.bloom == theirs.bloom == logs_bloom(theirs.logs)
    assert getattr(ours, "type_id", None) == getattr(theirs, "type_id", None)
    plain_ours, plain_theirs = getattr(ours, "_inner", ours), getattr(theirs, "_inner", theirs)
    assert vars(plain_ours) == vars(plain_theirs)  # the same field values, logs a tuple in both
    assert [vars(log) for log in plain_ours.logs] == [vars(log) for log in plain_theirs.logs]
    assert encode_receipt(ours) == theirs.encode()


def test_unknown_transaction_class_goes_to_its_own_make_receipt() -> None:
    class Marked:
        """Any other transaction class: its own ``make_receipt`` decides."""

        def make_receipt(self, status: bytes, gas_used: int, entries: tuple) -> str:
            return "its own"

    assert make_receipt(Marked(), b"\x01", 1, ()) == "its own"  # type: ignore[arg-type]


@pytest.mark.parametrize("missing", ["address", "topic"])
def test_bloom_check_refuses_what_py_evm_refuses(missing: str) -> None:
    transaction = _transactions()["dynamic fee"]
    entries = ((b"\x33" * 20, (7, 8), b""),)
    good = transaction.make_receipt(b"\x01", 21_000, entries)
    validate_receipt_bloom(good)
    dropped = bloom_mask(b"\x33" * 20) if missing == "address" else bloom_mask((8).to_bytes(32, "big"))
    bad = PragueTypedReceipt(good.type_id, good._inner.copy(bloom=good.bloom & ~dropped))
    with pytest.raises(ValidationError) as ours:
        validate_receipt_bloom(bad)
    with pytest.raises(ValidationError) as theirs:
        ByzantiumVM.validate_receipt(bad)
    assert str(ours.value) == str(theirs.value)


def test_only_the_receipt_just_made_skips_the_bloom_check() -> None:
    """``SettleVM.validate_receipt`` trusts the bloom of the receipt make_receipt built last, and no other."""
    from vm.fork import SettleVM
    from vm.receipts import is_bloom_of_own_logs

    transaction = _transactions()["dynamic fee"]
    entries = ((b"\x33" * 20, (7, 8), b""),)
    made = make_receipt(transaction, b"\x01", 21_000, entries)
    assert is_bloom_of_own_logs(made)
    SettleVM.validate_receipt(made)
    forged = PragueTypedReceipt(made.type_id, made._inner.copy(bloom=0))
    assert not is_bloom_of_own_logs(forged)
    with pytest.raises(ValidationError, match="not present in the provided bloom"):
        SettleVM.validate_receipt(forged)
    later = make_receipt(transaction, b"\x01", 21_000, entries)
    assert is_bloom_of_own_logs(later) and not is_bloom_of_own_logs(made)
    with pytest.raises(ValidationError, match="state_root"):
        SettleVM.validate_receipt(PragueTypedReceipt(made.type_id, made._inner.copy(state_root=b"\x02")))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**2048 - 1), st.integers(0, 2**2048 - 1))
def test_header_bloom_is_py_evms(header_bloom: int, receipt_bloom: int) -> None:
    from eth.vm.forks.byzantium import ByzantiumVM

    from vm.fast_path import FastBlockRules

    transaction = _transactions()["legacy"]
    receipt = make_receipt(transaction, b"\x01", 5, ()).copy(bloom=receipt_bloom)
    header = PragueVM.create_header_from_parent(None, gas_limit=10**7, timestamp=1).copy(bloom=header_bloom)
    ours = FastBlockRules.add_receipt_to_header(None, header, receipt)  # type: ignore[arg-type]
    theirs = ByzantiumVM.add_receipt_to_header(None, header, receipt)  # type: ignore[arg-type]
    assert ours == theirs

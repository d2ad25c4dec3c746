"""``vm.encoding``'s account and receipt encodings are ``rlp``'s, byte for byte."""
from __future__ import annotations

import pytest
import rlp
from eth.rlp.accounts import Account
from eth.rlp.logs import Log
from eth.rlp.receipts import Receipt
from eth.vm.forks.prague.receipts import PragueTypedReceipt
from hypothesis import given, settings
from hypothesis import strategies as st

from vm.encoding import (
    account_fields,
    encode_account,
    encode_bytes,
    encode_list,
    encode_node,
    encode_receipt,
    encode_uint,
    instance_of,
    new_account,
)

uint256 = st.integers(0, 2**256 - 1)
small_or_large = st.one_of(st.integers(0, 300), uint256)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_bytes(value: bytes) -> None:
    assert encode_bytes(value) == rlp.encode(value)


@pytest.mark.parametrize("length", [0, 1, 2, 55, 56, 57, 255, 256, 1023, 1024, 1025, 65_535, 65_536, 70_000])
def test_lengths_on_both_sides_of_the_prefix_tables(length: int) -> None:
    """Short, one-byte-length, tabled (under 1 KiB) and computed prefixes, for strings, lists and trie nodes."""
    value = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    assert encode_bytes(value) == rlp.encode(value)
    assert encode_list([encode_bytes(value)]) == rlp.encode([value])
    assert encode_node([value, [value]]) == rlp.encode([value, [value]])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.integers(0, 70_000), uint256, st.integers(0, 2**2048 - 1)))
def test_uint(value: int) -> None:
    assert encode_uint(value) == rlp.encode(value)


@settings(max_examples=400, deadline=None)
@given(small_or_large, small_or_large, st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_account(nonce: int, balance: int, storage_root: bytes, code_hash: bytes) -> None:
    # The same attributes, compared before encoding caches the RLP on either.
    assert vars(new_account(nonce, balance, storage_root, code_hash)) == vars(
        Account(nonce, balance, storage_root, code_hash))
    account = Account(nonce, balance, storage_root, code_hash)
    assert encode_account(account) == rlp.encode(account)
    assert account_fields(account) == (nonce, balance, storage_root, code_hash)
    built = new_account(nonce, balance, storage_root, code_hash)
    assert type(built) is Account and built == account and encode_account(built) == rlp.encode(account)
    assert rlp.decode(rlp.encode(built), sedes=Account) == account


def test_account_outside_the_fixed_shape_goes_to_rlp() -> None:
    """An empty storage root is allowed by the sedes; a short code hash is refused by it."""
    odd = Account(1, 2, b"", b"\x11" * 32)
    assert encode_account(odd) == rlp.encode(odd)
    bad = Account(1, 2, b"\x00" * 32, b"\x11" * 31)
    try:
        rlp.encode(bad)
    except rlp.exceptions.SerializationError as reference_error:
        try:
            encode_account(bad)
        except rlp.exceptions.SerializationError as error:
            assert type(error) is type(reference_error)
        else:
            raise AssertionError("encode_account accepted what rlp refuses")


logs = st.lists(
    st.builds(
        Log,
        st.one_of(st.just(b""), st.binary(min_size=20, max_size=20)),
        st.lists(uint256, max_size=4).map(tuple),
        st.binary(max_size=200),
    ),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"", b"\x01", b"\x00" * 32]), st.integers(0, 2**64), logs, st.sampled_from([None, 1, 2, 3, 4]))
def test_receipt(status: bytes, gas_used: int, receipt_logs: list, type_id: int | None) -> None:
    receipt = Receipt(status, gas_used, receipt_logs)
    if type_id is not None:
        receipt = PragueTypedReceipt(type_id, receipt)
    assert encode_receipt(receipt) == receipt.encode()


_NODE_ITEM = st.binary(max_size=70)
_NODES = st.recursive(st.lists(_NODE_ITEM, min_size=2, max_size=17),
                      lambda children: st.lists(st.one_of(_NODE_ITEM, children), min_size=2, max_size=17),
                      max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(_NODES)
def test_trie_nodes_encode_as_rlp_does(node: list) -> None:
    assert encode_node(node) == rlp.encode(node)


def test_instance_of_is_isinstance_for_py_evms_abcs() -> None:
    from eth.vm.forks.berlin.receipts import TypedReceipt
    from eth.vm.forks.berlin.transactions import TypedTransaction
    from eth.vm.forks.prague.receipts import PragueTypedReceipt

    receipt = PragueTypedReceipt(2, Receipt(b"\x01", 21_000, 0, ()))
    for obj in (receipt, receipt._inner, Account(), b""):
        for base in (TypedReceipt, TypedTransaction, Receipt, bytes):
            assert instance_of(obj, base) is isinstance(obj, base)

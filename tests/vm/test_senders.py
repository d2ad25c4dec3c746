"""``vm.senders`` recovers py-evm's sender for every transaction type, and leaves the rest to py-evm."""
from __future__ import annotations

import inspect
from typing import Any

import pytest
from eth.vm.forks.berlin.transactions import TypedTransaction
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth.vm.forks.prague.transactions import (
    Authorization,
    PragueTransactionBuilder,
    PragueUnsignedLegacyTransaction,
)
from eth_keys import keys
from hypothesis import given, settings
from hypothesis import strategies as st

from vm.senders import RECOVERED_BY_SIGNATURE, SECP256K1_N, checked_sender, prefill_sender, prefill_senders

BUILDER = PragueTransactionBuilder
private_keys = st.integers(1, SECP256K1_N - 1).map(lambda n: keys.PrivateKey(n.to_bytes(32, "big")))
addresses = st.binary(min_size=20, max_size=20)
uint64 = st.integers(0, 2**64 - 1)
uint256 = st.integers(0, 2**256 - 1)
access_lists = st.lists(st.tuples(addresses, st.lists(uint256, max_size=3).map(tuple)), max_size=2).map(tuple)


@st.composite
def signed_transactions(draw: Any) -> bytes:
    """The encoding of a transaction of any type py-evm's Prague builder knows, signed by a random key."""
    key = draw(private_keys)
    kind = draw(st.sampled_from(["legacy", "legacy-155", "access-list", "dynamic-fee", "blob", "set-code"]))
    nonce, gas, value = draw(uint64), draw(uint64), draw(uint256)
    to = draw(st.one_of(st.just(b""), addresses)) if kind not in ("blob", "set-code") else draw(addresses)
    data = draw(st.binary(max_size=80))
    chain_id = draw(st.integers(1, 2**64))
    if kind.startswith("legacy"):
        unsigned = PragueUnsignedLegacyTransaction(nonce, draw(uint256), gas, to, value, data)
        signed = unsigned.as_signed_transaction(key, chain_id=chain_id if kind == "legacy-155" else None)
    else:
        access_list = draw(access_lists)
        fees = (draw(uint256), draw(uint256))
        if kind == "access-list":
            unsigned = BUILDER.new_unsigned_access_list_transaction(
                chain_id, nonce, fees[0], gas, to, value, data, access_list)
        elif kind == "dynamic-fee":
            unsigned = BUILDER.new_unsigned_dynamic_fee_transaction(
                chain_id, nonce, *fees, gas, to, value, data, access_list)
        elif kind == "blob":
            hashes = draw(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=3))
            unsigned = BUILDER.new_unsigned_blob_transaction(
                chain_id, nonce, *fees, gas, to, value, data, access_list, draw(uint256), hashes)
        else:
            authorization = Authorization(chain_id, draw(addresses), draw(uint64), draw(st.integers(0, 1)),
                                          draw(uint256), draw(uint256))
            unsigned = BUILDER.new_unsigned_set_code_transaction(
                chain_id, nonce, *fees, gas, to, value, data, access_list, [authorization])
        signed = unsigned.as_signed_transaction(key, chain_id)
    return signed.encode()


def _py_evm_sender(encoded: bytes) -> bytes | Exception:
    try:
        return BUILDER.decode(encoded).sender
    except Exception as exc:
        return exc


@settings(max_examples=300, deadline=None)
@given(signed_transactions())
def test_every_type_recovers_py_evms_sender(encoded: bytes) -> None:
    transaction = BUILDER.decode(encoded)
    prefill_sender(transaction)
    assert "sender" in vars(transaction), "a well-signed transaction is recovered on the fast path"
    assert vars(transaction)["sender"] == _py_evm_sender(encoded)
    reference = BUILDER.decode(encoded)
    if isinstance(reference, TypedTransaction):
        assert vars(transaction)["_type_byte"] == reference._type_byte  # py-evm computes it on this access
    assert transaction.encode() == reference.encode() == encoded


def _with_signature(encoded: bytes, y_parity: int, r: int, s: int) -> Any:
    transaction = BUILDER.decode(encoded)
    if isinstance(transaction, TypedTransaction):
        return type(transaction)(transaction.type_id, transaction._inner.copy(y_parity=y_parity, r=r, s=s))
    v = transaction.v - transaction.y_parity + y_parity
    return transaction.copy(v=v, r=r, s=s)


@settings(max_examples=300, deadline=None)
@given(signed_transactions(), st.integers(0, 3),
       st.one_of(st.integers(0, 3), uint256, st.integers(SECP256K1_N - 2, SECP256K1_N + 2)),
       st.one_of(st.integers(0, 3), uint256, st.integers(SECP256K1_N - 2, SECP256K1_N + 2)))
def test_other_signatures_give_py_evms_sender_or_are_left_to_py_evm(
    encoded: bytes, y_parity: int, r: int, s: int
) -> None:
    """A signature that recovers to some key gives py-evm's address; any other is left for py-evm to refuse."""
    transaction = _with_signature(encoded, y_parity, r, s)
    reference = _py_evm_sender(transaction.encode())
    prefill_sender(transaction)
    if "sender" in vars(transaction):
        assert vars(transaction)["sender"] == reference
        return
    assert isinstance(reference, Exception) or y_parity > 1 or not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N), (
        "a signature in range that py-evm recovers must be recovered here too"
    )
    with pytest.raises(type(reference) if isinstance(reference, Exception) else ()):
        _ = transaction.sender


def _py_evm_checked_sender(encoded: bytes) -> bytes | Exception:
    """What admission learned before: py-evm's signature check, then its sender; the error if either refuses."""
    try:
        transaction = BUILDER.decode(encoded)
        transaction.check_signature_validity()
        return transaction.sender
    except Exception as exc:
        return exc


@settings(max_examples=300, deadline=None)
@given(signed_transactions(), st.sampled_from(["as signed", "high-s twin", "other"]), st.integers(0, 3),
       st.one_of(st.integers(0, 3), uint256, st.integers(SECP256K1_N - 2, SECP256K1_N + 2)),
       st.one_of(st.integers(0, 3), uint256, st.integers(SECP256K1_N - 2, SECP256K1_N + 2)), st.booleans())
def test_checked_sender_accepts_and_refuses_as_py_evms_signature_check(
    encoded: bytes, change: str, y_parity: int, r: int, s: int, prefilled: bool
) -> None:
    """One recovery decides as py-evm's recovery plus verification did, high-s twins included."""
    signed = BUILDER.decode(encoded)
    if change == "high-s twin":  # the same key signs (r, n - s) with the other parity
        transaction = _with_signature(encoded, 1 - signed.y_parity, signed.r, SECP256K1_N - signed.s)
    elif change == "other":
        transaction = _with_signature(encoded, y_parity, r, s)
    else:
        transaction = signed
    expected = _py_evm_checked_sender(transaction.encode())
    if prefilled:
        prefill_sender(transaction)
    if isinstance(expected, Exception):
        # The two may refuse with different errors (py-evm's ValidationError, eth_keys' BadSignature,
        # coincurve's plain Exception); admission catches Exception for that reason.
        with pytest.raises(Exception):  # noqa: B017
            checked_sender(transaction)
    else:
        assert checked_sender(transaction) == expected
    if change != "other":
        assert expected == signed.sender, "a valid signature and its high-s twin are both accepted"


def test_type_2_message_is_written_out_without_py_evms_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The common shape (type 2, no access list) does not go through ``get_message_for_signing``."""
    key = keys.PrivateKey(b"\x01" * 32)
    unsigned = BUILDER.new_unsigned_dynamic_fee_transaction(
        1337, 5, 0, 10**9, 60_000, b"\x22" * 20, 0, b"\xab" * 68, ()
    )
    encoded = unsigned.as_signed_transaction(key, 1337).encode()
    expected = BUILDER.decode(encoded).sender

    def refuse(self: Any) -> bytes:
        raise AssertionError("py-evm's message encoder was called")

    monkeypatch.setattr(DynamicFeeTransaction, "get_message_for_signing", refuse)
    transaction = BUILDER.decode(encoded)
    prefill_senders([transaction])
    assert vars(transaction)["sender"] == expected == key.public_key.to_canonical_address()


def test_a_sender_already_known_is_kept() -> None:
    key = keys.PrivateKey(b"\x02" * 32)
    unsigned = BUILDER.new_unsigned_dynamic_fee_transaction(1337, 0, 0, 1, 21_000, b"\x22" * 20, 1, b"", ())
    transaction = BUILDER.decode(unsigned.as_signed_transaction(key, 1337).encode())
    vars(transaction)["sender"] = b"\x33" * 20
    prefill_sender(transaction)
    assert transaction.sender == b"\x33" * 20


def test_the_recognised_get_sender_functions_are_py_evms_signature_recovery() -> None:
    """If a py-evm upgrade changes one of them, the fast path must be re-checked against it."""
    for function in RECOVERED_BY_SIGNATURE:
        body = inspect.getsource(function).strip().splitlines()[-1].strip()
        assert body == "return extract_transaction_sender(self)", function.__qualname__


@settings(max_examples=120, deadline=None)
@given(signed_transactions())
def test_blob_gas_accounting_is_cancuns_for_every_type(encoded: bytes) -> None:
    """``FastBlockRules.increment_blob_gas_used`` looks for blob hashes only in a blob transaction."""
    from eth.vm.forks.cancun import CancunVM
    from eth.vm.forks.prague import PragueVM

    from vm.fast_path import FastBlockRules

    transaction = BUILDER.decode(encoded)
    header = PragueVM.create_header_from_parent(None, gas_limit=10**7, timestamp=1).copy(blob_gas_used=0)
    ours = FastBlockRules.increment_blob_gas_used(None, header, transaction)  # type: ignore[arg-type]
    theirs = CancunVM.increment_blob_gas_used(None, header, transaction)  # type: ignore[arg-type]
    assert ours.blob_gas_used == theirs.blob_gas_used

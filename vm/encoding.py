"""RLP encodings of the two objects every transaction produces: accounts and receipts.

``rlp.encode`` serialises through each field's sedes object and then encodes
the resulting nested lists, a dozen Python calls per field. An account is
re-encoded on every balance or nonce change (three to five times per
transaction), and every receipt is encoded for the receipt trie. Their shapes
are fixed, so they are written out here directly from the RLP rules (Yellow
Paper, appendix B).

Anything outside the fixed shape (a field of an unexpected type or length, a
receipt class other than py-evm's ``Receipt`` or a ``TypedReceipt`` that
encodes as Berlin's does) goes to
``rlp.encode``, so it is refused or encoded exactly as py-evm would.
``tests/vm/test_encoding.py`` compares both with ``rlp`` on generated values.
"""
from __future__ import annotations

import functools
import operator
from typing import Any

import rlp
from eth.rlp.accounts import Account
from eth.rlp.logs import Log
from eth.rlp.receipts import Receipt
from eth.vm.forks.berlin.receipts import TypedReceipt
from eth_utils import to_bytes

_UINT256_LIMIT = 1 << 256


def _computed_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes((offset + length,))
    length_bytes = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(length_bytes),)) + length_bytes


#: RLP string and list prefixes by payload length, for the lengths a block's
#: items have (trie nodes, accounts, transactions and receipts are well under 1 KiB).
_TABLED = 1024
_STRING_PREFIX = [_computed_prefix(length, 0x80) for length in range(_TABLED)]
_LIST_PREFIX = [_computed_prefix(length, 0xC0) for length in range(_TABLED)]


def _length_prefix(length: int, offset: int) -> bytes:
    """The prefix of an RLP string (``offset`` 0x80) or list (0xC0) whose payload is ``length`` bytes."""
    if length < _TABLED:
        return (_STRING_PREFIX if offset == 0x80 else _LIST_PREFIX)[length]
    return _computed_prefix(length, offset)


def encode_bytes(value: bytes) -> bytes:
    """An RLP string."""
    if len(value) == 1 and value[0] < 0x80:
        return value
    return _length_prefix(len(value), 0x80) + value


def encode_uint(value: int) -> bytes:
    """A non-negative integer as its minimal big-endian RLP string (0 is the empty string)."""
    if value < 0x80:
        return b"\x80" if value == 0 else bytes((value,))
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return _length_prefix(len(raw), 0x80) + raw


def encode_list(encoded_items: list[bytes]) -> bytes:
    """An RLP list of already-encoded items."""
    payload = b"".join(encoded_items)
    return _length_prefix(len(payload), 0xC0) + payload



def encode_node(node: list) -> bytes:
    """A raw trie node (a list of byte strings and embedded nodes): ``rlp.encode(node)`` without rlp's type dispatch.

    A block builds tens of thousands of these (every trie it writes), so the
    loop is written out: a single byte below 0x80 is its own encoding, and
    lengths under 1 KiB take their prefix from a table.
    """
    parts: list[bytes] = []
    append = parts.append
    for item in node:
        if type(item) is list:
            append(encode_node(item))
            continue
        length = len(item)
        if length < _TABLED:
            if length != 1 or item[0] >= 0x80:
                append(_STRING_PREFIX[length])
        else:
            append(_computed_prefix(length, 0x80))
        append(item)
    payload = b"".join(parts)
    length = len(payload)
    return (_LIST_PREFIX[length] if length < _TABLED else _computed_prefix(length, 0xC0)) + payload


def is_uint(value: Any, limit: int = _UINT256_LIMIT) -> bool:
    return type(value) is int and 0 <= value < limit


#: An ``Account``'s four fields in one C call (nonce, balance, storage root, code hash), not four rlp properties.
account_fields = operator.attrgetter(*Account._meta.field_attrs)


def new_serializable(cls: type, *values: Any) -> Any:
    """A py-evm rlp object as ``rlp.Serializable.__init__`` makes it from its field values in field order.

    For classes whose own ``__init__`` only passes its arguments on (``Account``,
    ``Log``; ``Receipt``, given its bloom): the same object, without the keyword
    layers. ``Serializable.__init__`` sets each field's attribute (``_nonce``
    and so on) to the value made immutable, and nothing else; here the values
    must already be in their immutable form (tuples, not lists), so they are
    set as they are, in one dictionary update.
    """
    obj: Any = _new_object(cls)
    vars(obj).update(zip(cls._meta.field_attrs, values, strict=True))  # type: ignore[attr-defined]  # rlp's
    return obj


def new_account(nonce: int, balance: int, storage_root: bytes, code_hash: bytes) -> Account:
    """``Account(nonce, balance, storage_root, code_hash)``, through :func:`new_serializable`."""
    return new_serializable(Account, nonce, balance, storage_root, code_hash)


def encode_account(account: Account) -> bytes:
    """``rlp.encode(account)`` for py-evm's ``Account``."""
    if type(account) is not Account:
        return rlp.encode(account)
    nonce, balance, storage_root, code_hash = account_fields(account)
    if not (
        is_uint(nonce) and is_uint(balance)
        and type(storage_root) is bytes and len(storage_root) == 32
        and type(code_hash) is bytes and len(code_hash) == 32
    ):
        return rlp.encode(account)
    payload = encode_uint(nonce) + encode_uint(balance) + b"\xa0" + storage_root + b"\xa0" + code_hash
    return _length_prefix(len(payload), 0xC0) + payload


_new_object = object.__new__

#: A ``Log``'s and a ``Receipt``'s fields in one C call each, in field order.
_log_fields = operator.attrgetter(*Log._meta.field_attrs)
_receipt_fields = operator.attrgetter(*Receipt._meta.field_attrs)

# The field orders the writers above and vm.receipts' receipt maker assume.
if (
    tuple(Account._meta.field_names) != ("nonce", "balance", "storage_root", "code_hash")
    or tuple(Log._meta.field_names) != ("address", "topics", "data")
    or tuple(Receipt._meta.field_names) != ("state_root", "gas_used", "bloom", "logs")
):
    raise ImportError("py-evm's Account, Log or Receipt fields changed: re-check vm.encoding and vm.receipts")


def _encode_log(log: Log) -> bytes | None:
    address, topics, data = _log_fields(log)
    if type(address) is not bytes or len(address) not in (0, 20) or type(data) is not bytes:
        return None
    encoded_topics = []
    for topic in topics:
        if not is_uint(topic):
            return None
        encoded_topics.append(b"\xa0" + topic.to_bytes(32, "big"))
    return encode_list([encode_bytes(address), encode_list(encoded_topics), encode_bytes(data)])


def _encode_plain_receipt(receipt: Receipt) -> bytes:
    if type(receipt) is not Receipt:
        return rlp.encode(receipt)
    state_root, gas_used, bloom, logs = _receipt_fields(receipt)
    if not (type(state_root) is bytes and is_uint(gas_used) and is_uint(bloom, 1 << 2048)):
        return rlp.encode(receipt)
    encoded_logs = []
    for log in logs:
        encoded = _encode_log(log) if type(log) is Log else None
        if encoded is None:
            return rlp.encode(receipt)
        encoded_logs.append(encoded)
    return encode_list([
        encode_bytes(state_root),
        encode_uint(gas_used),
        b"\xb9\x01\x00" + bloom.to_bytes(256, "big"),
        encode_list(encoded_logs),
    ])


def encode_receipt(receipt: Any) -> bytes:
    """``receipt.encode()`` for py-evm's legacy and typed receipts (the bytes the receipt trie holds)."""
    if type(receipt) is Receipt:
        return _encode_plain_receipt(receipt)
    if (
        instance_of(receipt, TypedReceipt)
        and type(receipt).encode is TypedReceipt.encode
        and type(receipt._inner) is Receipt
    ):
        return type_byte(receipt.type_id) + _encode_plain_receipt(receipt._inner)
    return bytes(receipt.encode())


@functools.cache
def _is_subclass(cls: type, base: type) -> bool:
    return issubclass(cls, base)


def instance_of(obj: Any, base: type) -> bool:
    """``isinstance(obj, base)``, answered once per concrete class.

    py-evm's transaction and receipt bases are ABCs, whose ``isinstance``
    goes through ``ABCMeta.__instancecheck__`` in Python on every call. py-evm
    registers no virtual subclasses, so the answer depends on the class alone.
    """
    return _is_subclass(type(obj), base)  # type: ignore[arg-type]  # classes are hashable; mypy's Hashable misses type[Any]


@functools.cache
def type_byte(type_id: int) -> bytes:
    """A typed receipt's or transaction's ``_type_byte`` (a per-object cached property), computed once per type."""
    return to_bytes(type_id)

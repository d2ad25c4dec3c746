"""Transaction senders recovered without eth_keys' object layers.

py-evm recovers a sender through ``extract_transaction_sender``: it builds an
eth_keys ``Signature`` (validating v, r and s), encodes the unsigned
transaction through an rlp object, hashes it, asks the eth_keys backend
(coincurve here) to recover the public key, wraps the key in an eth_keys
``PublicKey`` and hashes it into an address. For an ERC-20 transfer that was a
fifth of building a block, and the ECDSA recovery itself under half of it.

:func:`prefill_sender` does the same recovery directly with coincurve, for
the transaction classes whose ``get_sender`` is py-evm's
``extract_transaction_sender`` (checked by function identity), and stores the
result where py-evm caches it (the ``sender`` cached property). A type-2
transaction without an access list, the common shape, has its signing message
written out from the RLP rules (:mod:`vm.encoding`); every other shape uses the
transaction's own ``get_message_for_signing``.

It only ever fills in a sender it recovered: a signature outside the ranges
eth_keys accepts, a recovery that fails, or any other surprise leaves the
sender unset, so py-evm recovers it later, at the same point as before, and
raises its own error. The address is the same by construction (the same
message hash and signature through the same libsecp256k1 recovery);
``tests/vm/test_senders.py`` compares it with py-evm's on generated
transactions of every type.
"""
from __future__ import annotations

import operator
from typing import Any

from coincurve import PublicKey
from eth.vm.forks.berlin.transactions import AccessListTransaction, TypedTransaction
from eth.vm.forks.cancun.transactions import BlobTransaction
from eth.vm.forks.frontier.transactions import FrontierTransaction
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth.vm.forks.prague.transactions import SetCodeTransaction

from vm.encoding import encode_bytes, encode_list, encode_uint, instance_of, is_uint, type_byte
from vm.native import keccak_256

#: The order of secp256k1's group; eth_keys accepts r and s below it.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

#: py-evm 0.12.1b1's ``get_sender`` functions that are ``extract_transaction_sender(self)``.
#: Legacy transactions of every fork inherit Frontier's.
RECOVERED_BY_SIGNATURE = frozenset({
    FrontierTransaction.get_sender,
    AccessListTransaction.get_sender,
    DynamicFeeTransaction.get_sender,
    BlobTransaction.get_sender,
    SetCodeTransaction.get_sender,
})

_EMPTY_LIST = b"\xc0"

#: All twelve fields of a signed type-2 payload, read in one C call instead of
#: twelve rlp properties: chain_id, nonce, tip, max fee, gas, to, value, data,
#: access list, y_parity, r, s.
dynamic_fee_fields = operator.attrgetter(*DynamicFeeTransaction._meta.field_attrs)
_TYPE_2 = type_byte(DynamicFeeTransaction._type_id)


def prefill_sender(transaction: Any) -> None:
    """Recover ``transaction``'s sender into py-evm's cache, if it is recoverable here.

    A typed transaction's type byte (a cached property too, which py-evm
    computes through ``eth_utils.to_bytes``' hex round trip on first use) is
    filled in as well, by the same ``to_bytes`` once per type. Never raises:
    whatever it cannot recover is left to py-evm's own path.
    """
    cached = vars(transaction)  # py-evm's cached_property slots
    if "_type_byte" not in cached and instance_of(transaction, TypedTransaction):
        cached["_type_byte"] = type_byte(transaction.type_id)
    if "sender" in cached:
        return
    try:
        sender = _recover(transaction)
    except Exception:  # anything odd: py-evm's path will say what is wrong
        return
    if sender is not None:
        cached["sender"] = sender


def prefill_senders(transactions: Any) -> None:
    """:func:`prefill_sender` for each transaction."""
    for transaction in transactions:
        prefill_sender(transaction)


def checked_sender(transaction: Any) -> bytes:
    """The sender of a transaction whose signature py-evm would accept; raises py-evm's error otherwise.

    py-evm's ``check_signature_validity`` recovers the public key and then
    verifies the signature against it. A key libsecp256k1 recovered from
    (r, s, y_parity) always verifies that signature: eth_keys' coincurve
    backend verifies its low-s twin, which holds for the same key. So for the
    classes whose sender is that same recovery (:data:`RECOVERED_BY_SIGNATURE`)
    a successful recovery is the whole check, one ECDSA operation instead of
    three when :func:`prefill_sender` has run. Other classes are checked first.
    """
    if type(_signed(transaction)).get_sender not in RECOVERED_BY_SIGNATURE:
        transaction.check_signature_validity()
    return transaction.sender


def _signed(transaction: Any) -> Any:
    """The object that holds the signature: a typed transaction's inner payload."""
    return transaction._inner if type(transaction).get_sender is TypedTransaction.get_sender else transaction


def _recover(transaction: Any) -> bytes | None:
    signed = _signed(transaction)
    if type(signed) is DynamicFeeTransaction:
        fields = dynamic_fee_fields(signed)
        y_parity, r, s = fields[9:]
        message = _dynamic_fee_message(*fields[:9])
    elif type(signed).get_sender in RECOVERED_BY_SIGNATURE:
        y_parity, r, s = signed.y_parity, signed.r, signed.s
        message = None
    else:
        return None
    if not (type(y_parity) is int and 0 <= y_parity <= 1
            and type(r) is int and 0 < r < SECP256K1_N
            and type(s) is int and 0 < s < SECP256K1_N):
        return None
    message_hash = keccak_256(message if message is not None else signed.get_message_for_signing()).digest()
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y_parity,))
    public_key = PublicKey.from_signature_and_message(signature, message_hash, hasher=None)
    return keccak_256(public_key.format(compressed=False)[1:]).digest()[12:]


def _dynamic_fee_message(chain_id: Any, nonce: Any, tip: Any, max_fee: Any, gas: Any, to: Any, value: Any,
                         data: Any, access_list: Any) -> bytes | None:
    """What the sender of a type-2 transaction without an access list signed, written out; None for any other.

    Only for field values as rlp's sedes would serialize them (ints that are
    uint256, a 0- or 20-byte ``to``, bytes data); anything else is left to
    py-evm's own encoder.
    """
    if not (
        access_list == () and is_uint(chain_id) and is_uint(nonce) and is_uint(tip) and is_uint(max_fee)
        and is_uint(gas) and is_uint(value) and type(to) is bytes and len(to) in (0, 20) and type(data) is bytes
    ):
        return None
    return _TYPE_2 + encode_list([
        encode_uint(chain_id), encode_uint(nonce), encode_uint(tip), encode_uint(max_fee),
        encode_uint(gas), encode_bytes(to), encode_uint(value), encode_bytes(data), _EMPTY_LIST,
    ])

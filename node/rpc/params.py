"""Parsing JSON-RPC parameters into typed values, with geth's error wording.

Every parser takes the value and its argument index, and raises an
``invalid argument N: ...`` error (-32602) naming what is wrong.
"""
from __future__ import annotations

import re
from typing import Any

from eth_utils import is_checksum_address, to_checksum_address

from node.call_overrides import NO_OVERRIDES, AccountOverride, BlockOverrides, CallOverrides
from node.rpc.errors import invalid_argument
from node.rpc.limits import limit_exceeded

BLOCK_TAGS = ("latest", "earliest", "pending", "safe", "finalized")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]+")
"""Exactly hex digits: ``int(text, 16)`` alone also takes a sign, underscores and surrounding spaces."""


def _hex_body(value: Any, index: int, what: str) -> str:
    if not isinstance(value, str):
        raise invalid_argument(index, f"{what}: expected a 0x-prefixed hex string, got {type(value).__name__}")
    if not value.startswith(("0x", "0X")):
        raise invalid_argument(index, f"{what}: hex string without 0x prefix")
    return value[2:]


def quantity(value: Any, index: int, what: str = "quantity") -> int:
    if isinstance(value, bool):
        raise invalid_argument(index, f"{what}: expected a hex quantity, got boolean")
    if isinstance(value, int):
        if not 0 <= value < 2**256:
            raise invalid_argument(index, f"{what}: number out of range 0 to 2**256-1")
        return value
    body = _hex_body(value, index, what)
    if body == "":
        raise invalid_argument(index, f"{what}: hex string \"0x\"")
    if len(body) > 1 and body[0] == "0":
        raise invalid_argument(index, f"{what}: hex number with leading zero digits")
    if len(body) > 64:
        raise invalid_argument(index, f"{what}: hex number > 256 bits")
    if not _HEX_DIGITS.fullmatch(body):
        raise invalid_argument(index, f"{what}: invalid hex string")
    return int(body, 16)


def storage_slot(value: Any, index: int) -> int:
    """A storage position: a quantity, or (as geth also accepts) up to 32 bytes of hex with leading zeros."""
    if isinstance(value, str) and value.startswith(("0x", "0X")) and len(value) > 3 and value[2] == "0":
        body = value[2:]
        if len(body) > 64:
            raise invalid_argument(index, "storage slot: hex string longer than 32 bytes")
        if not _HEX_DIGITS.fullmatch(body):
            raise invalid_argument(index, "storage slot: invalid hex string")
        return int(body, 16)
    return quantity(value, index, "storage slot")


def data(value: Any, index: int, what: str = "data") -> bytes:
    body = _hex_body(value, index, what)
    if len(body) % 2:
        raise invalid_argument(index, f"{what}: hex string of odd length")
    if body and not _HEX_DIGITS.fullmatch(body):
        raise invalid_argument(index, f"{what}: invalid hex string")
    return bytes.fromhex(body)


def fixed_bytes(value: Any, index: int, size: int, what: str) -> bytes:
    raw = data(value, index, what)
    if len(raw) != size:
        raise invalid_argument(index, f"{what}: hex string has length {len(raw) * 2}, want {size * 2}")
    return raw


def address(value: Any, index: int, what: str = "address") -> bytes:
    raw = fixed_bytes(value, index, 20, what)
    body = value[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(value):
        raise invalid_argument(
            index, f"{what}: bad EIP-55 checksum (expected {to_checksum_address(raw)})"
        )
    return raw


def block_hash(value: Any, index: int) -> bytes:
    return fixed_bytes(value, index, 32, "block hash")


def tx_hash(value: Any, index: int) -> bytes:
    return fixed_bytes(value, index, 32, "transaction hash")


def boolean(value: Any, index: int) -> bool:
    if not isinstance(value, bool):
        raise invalid_argument(index, f"expected a boolean, got {type(value).__name__}")
    return value


def obj(value: Any, index: int, allowed: set[str], what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_argument(index, f"{what}: expected an object, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise invalid_argument(index, f"{what}: unknown field {unknown[0]!r}")
    return value


def block_ref(value: Any, index: int) -> int | str | bytes:
    """A block tag (str), number (int) or EIP-1898 block hash (bytes)."""
    if isinstance(value, str) and value in BLOCK_TAGS:
        return value
    if isinstance(value, dict):
        fields = obj(value, index, {"blockNumber", "blockHash", "requireCanonical"}, "block")
        if "blockHash" in fields:
            return block_hash(fields["blockHash"], index)
        if "blockNumber" in fields:
            return block_ref(fields["blockNumber"], index)
        raise invalid_argument(index, "block: needs blockNumber or blockHash")
    if isinstance(value, str) and len(value) == 66 and value.startswith(("0x", "0X")):
        return block_hash(value, index)  # as geth's BlockNumberOrHash: 32 bytes of hex are a block hash
    if isinstance(value, str) and not value.startswith(("0x", "0X")):
        raise invalid_argument(index, f"block: expected a number or one of {', '.join(BLOCK_TAGS)}, got {value!r}")
    return quantity(value, index, "block number")


_ACCOUNT_OVERRIDE_FIELDS = {"balance", "nonce", "code", "state", "stateDiff"}
_BLOCK_OVERRIDE_FIELDS = {"number", "time", "gasLimit", "feeRecipient", "coinbase", "prevRandao", "random",
                          "baseFeePerGas", "blobBaseFee", "difficulty"}


def _storage(value: Any, index: int, what: str) -> dict[int, int]:
    if not isinstance(value, dict):
        raise invalid_argument(index, f"{what}: expected an object of slot: value, got {type(value).__name__}")
    return {
        int.from_bytes(fixed_bytes(slot, index, 32, f"{what} slot"), "big"):
            int.from_bytes(fixed_bytes(word, index, 32, f"{what} value"), "big")
        for slot, word in value.items()
    }


def state_overrides(value: Any, index: int, max_accounts: int) -> CallOverrides:
    """geth's state override set: ``{address: {balance, nonce, code, state | stateDiff}}``."""
    if value is None:
        return NO_OVERRIDES
    if not isinstance(value, dict):
        raise invalid_argument(index, f"state overrides: expected an object, got {type(value).__name__}")
    if len(value) > max_accounts:
        raise limit_exceeded(f"state overrides name {len(value)} accounts, more than {max_accounts}",
                             "override_max_accounts")
    accounts: dict[bytes, AccountOverride] = {}
    for raw_address, fields in value.items():
        account = address(raw_address, index, "state override address")
        fields = obj(fields, index, _ACCOUNT_OVERRIDE_FIELDS, "state override")
        if "state" in fields and "stateDiff" in fields:
            raise invalid_argument(index, f"account 0x{account.hex()} has both 'state' and 'stateDiff'")
        accounts[account] = AccountOverride(
            balance=quantity(fields["balance"], index, "balance") if fields.get("balance") is not None else None,
            nonce=quantity(fields["nonce"], index, "nonce") if fields.get("nonce") is not None else None,
            code=data(fields["code"], index, "code") if fields.get("code") is not None else None,
            state=_storage(fields["state"], index, "state") if fields.get("state") is not None else None,
            state_diff=_storage(fields["stateDiff"], index, "stateDiff")
            if fields.get("stateDiff") is not None else None,
        )
    return CallOverrides(accounts)


def block_overrides(value: Any, index: int) -> BlockOverrides | None:
    """geth's block overrides: ``number``, ``time``, ``gasLimit``, ``feeRecipient``, ``prevRandao``.

    ``baseFeePerGas``, ``blobBaseFee`` and ``difficulty`` are accepted only as 0: Settle's
    base fee is always 0 and its blocks are post-merge.
    """
    if value is None:
        return None
    fields = obj(value, index, _BLOCK_OVERRIDE_FIELDS, "block overrides")
    for fixed_zero in ("baseFeePerGas", "blobBaseFee", "difficulty"):
        if fields.get(fixed_zero) is not None and quantity(fields[fixed_zero], index, fixed_zero) != 0:
            raise invalid_argument(index, f"block overrides: {fixed_zero} can only be 0 on this chain")
    recipient = fields.get("feeRecipient", fields.get("coinbase"))
    randao = fields.get("prevRandao", fields.get("random"))
    return BlockOverrides(
        number=quantity(fields["number"], index, "number") if fields.get("number") is not None else None,
        time=quantity(fields["time"], index, "time") if fields.get("time") is not None else None,
        gas_limit=quantity(fields["gasLimit"], index, "gasLimit") if fields.get("gasLimit") is not None else None,
        fee_recipient=address(recipient, index, "feeRecipient") if recipient is not None else None,
        prev_randao=fixed_bytes(randao, index, 32, "prevRandao") if randao is not None else None,
    )

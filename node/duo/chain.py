"""Small, shared JSON-RPC helpers for the DUO daemons and tests: signing senders, revert decoding."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from eth_abi import decode
from eth_account.signers.local import LocalAccount
from eth_typing import ABIError, Hash32
from eth_utils import function_abi_to_4byte_selector, to_checksum_address
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError
from web3.types import Wei


@dataclass(frozen=True, slots=True)
class Revert:
    """A decoded revert: the custom error's name and arguments (or the raw reason)."""

    name: str
    args: tuple[Any, ...] = ()


def decode_revert(abi: list[dict[str, Any]], data: str | bytes | None) -> Revert:
    """Name the custom error in revert ``data`` using the contract ``abi``."""
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else (data or b"")
    for item in abi:
        if item.get("type") == "error" and function_abi_to_4byte_selector(cast(ABIError, item)) == raw[:4]:
            types = [inp["type"] for inp in item["inputs"]]
            values = decode(types, raw[4:]) if types else ()
            return Revert(item["name"], tuple(
                to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True)))
    return Revert("unknown", (raw.hex(),))


def call_revert(function: ContractFunction, sender: str, value: int = 0,
                extra_abi: Sequence[dict[str, Any]] = ()) -> Revert | None:
    """``eth_call`` the function as ``sender``; the decoded revert, or None if it would succeed.

    ``extra_abi`` names errors bubbled up from contracts it calls (Token A/B -> Beethoven).
    """
    try:
        function.call({"from": to_checksum_address(sender), "value": Wei(value)})
    except ContractCustomError as exc:
        return decode_revert(list(function.contract_abi) + list(extra_abi), exc.data)  # type: ignore[arg-type]  # ABI entries are TypedDicts
    except ContractLogicError as exc:
        return Revert("reason", (str(exc),))
    return None


@dataclass
class TxSender:
    """Signs transactions for one key and sends them raw, tracking the nonce locally."""

    w3: Web3
    account: LocalAccount
    chain_id: int = 0
    nonce: int | None = None
    max_fee: int | None = None
    sent: list[bytes] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.account.address

    def sign(self, function: ContractFunction | None = None, *, to: str | None = None, value: int = 0,
             gas: int = 500_000) -> bytes:
        """Sign a call of ``function`` (or a plain transfer to ``to``) with the next nonce."""
        if not self.chain_id:
            self.chain_id = self.w3.eth.chain_id
        if self.nonce is None:
            self.nonce = self.w3.eth.get_transaction_count(to_checksum_address(self.address), "pending")
        if self.max_fee is None:
            self.max_fee = self.w3.eth.gas_price * 2
        fields: dict[str, Any] = {
            "chainId": self.chain_id, "nonce": self.nonce, "gas": gas, "value": value, "type": 2,
            "maxFeePerGas": self.max_fee, "maxPriorityFeePerGas": 0,
        }
        if function is not None:
            fields["to"] = function.address
            fields["data"] = function._encode_transaction_data()
        else:
            fields["to"] = to
            fields["data"] = b""
        raw = bytes(self.account.sign_transaction(fields).raw_transaction)
        self.nonce += 1
        return raw

    def send(self, function: ContractFunction | None = None, **kwargs: Any) -> bytes:
        """Sign and send; returns the transaction hash. A refused send resets the local nonce."""
        raw = self.sign(function, **kwargs)
        try:
            tx_hash = bytes(self.w3.eth.send_raw_transaction(raw))
        except (Web3RPCError, ValueError):
            self.nonce = None
            raise
        self.sent.append(tx_hash)
        return tx_hash

    def transact(self, function: ContractFunction | None = None, timeout: float = 60.0, **kwargs: Any) -> Any:
        """Send and wait for the receipt."""
        tx_hash = self.send(function, **kwargs)
        return self.w3.eth.wait_for_transaction_receipt(Hash32(tx_hash), timeout=timeout, poll_latency=0.05)

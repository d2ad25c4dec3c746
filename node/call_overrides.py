"""State and block overrides for simulated execution (``eth_call``, ``eth_estimateGas``, ``eth_simulateV1``).

geth lets a caller run a call against a state that differs from the chain's:
an account's balance, nonce or code replaced, its storage replaced whole
(``state``) or slot by slot (``stateDiff``), and the block it runs in given
another number, timestamp, gas limit, fee recipient or PREVRANDAO. The
overrides apply to a throwaway state built for one request; nothing of them
reaches the chain store.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth.abc import BlockHeaderAPI
from eth_typing import Address


@dataclass(frozen=True, slots=True)
class AccountOverride:
    """What to replace in one account before the call runs; ``None`` keeps the chain's value."""

    balance: int | None = None
    nonce: int | None = None
    code: bytes | None = None
    state: Mapping[int, int] | None = None
    """Replaces the whole storage: slots not listed read as zero."""
    state_diff: Mapping[int, int] | None = None
    """Replaces only the listed slots."""


@dataclass(frozen=True, slots=True)
class BlockOverrides:
    """Fields of the block a call runs in; ``None`` keeps the value the node would use."""

    number: int | None = None
    time: int | None = None
    gas_limit: int | None = None
    fee_recipient: bytes | None = None
    prev_randao: bytes | None = None


@dataclass(frozen=True, slots=True)
class CallOverrides:
    """Everything a call may change about the world it runs in."""

    accounts: Mapping[bytes, AccountOverride] = field(default_factory=dict)
    block: BlockOverrides | None = None


NO_OVERRIDES = CallOverrides()


def apply_account_overrides(state: Any, accounts: Mapping[bytes, AccountOverride]) -> None:
    """Write the overrides into a py-evm ``StateAPI`` (its journal only: the caller never persists it)."""
    for raw_address, override in accounts.items():
        address = Address(raw_address)
        if override.balance is not None:
            state.set_balance(address, override.balance)
        if override.nonce is not None:
            state.set_nonce(address, override.nonce)
        if override.code is not None:
            state.set_code(address, override.code)
        if override.state is not None:
            state.delete_storage(address)
            for slot, value in override.state.items():
                state.set_storage(address, slot, value)
        if override.state_diff is not None:
            for slot, value in override.state_diff.items():
                state.set_storage(address, slot, value)
    if accounts:
        state.lock_changes()


def overridden_header(header: BlockHeaderAPI, block: BlockOverrides | None) -> BlockHeaderAPI:
    """``header`` with the block overrides applied (the header a call's execution context comes from)."""
    if block is None:
        return header
    changes: dict[str, Any] = {}
    if block.number is not None:
        changes["block_number"] = block.number
    if block.time is not None:
        changes["timestamp"] = block.time
    if block.gas_limit is not None:
        changes["gas_limit"] = block.gas_limit
    if block.fee_recipient is not None:
        changes["coinbase"] = block.fee_recipient
    if block.prev_randao is not None:
        changes["mix_hash"] = block.prev_randao
    return header.copy(**changes) if changes else header

"""Updated copies of py-evm's immutable rlp objects, without ``copy.deepcopy``.

py-evm changes an account or a block by ``obj.copy(field=new)``, and
``rlp.Serializable.copy`` deep-copies every field it does not replace. The
fields are ints, bytes, and tuples of other immutable rlp objects, so the
deep copy only costs time: for a 1,000-transaction block, three block copies
(``finalize_block``, ``pack_block``, Prague's ``compute_requests``) each walked
all 1,000 transactions, and every balance or nonce change walked an account.
The classes here build the new object from the unchanged fields as they are.
The encoding, and so every hash and root, is the same by construction: the
new object has the same field values.
"""
from __future__ import annotations

from typing import Any

from eth.db.account import AccountDB
from eth.rlp.accounts import Account
from eth.validation import validate_canonical_address, validate_uint64, validate_uint256
from eth.vm.forks.cancun.blocks import CancunBlock
from eth.vm.forks.prague.blocks import PragueBlock
from eth_typing import Address


class SettleAccountDB(AccountDB):
    """py-evm 0.12.1b1's ``AccountDB`` with balance and nonce updates that build the new ``Account`` directly.

    Same checks in the same order as py-evm's ``set_balance`` and ``set_nonce``.
    **Re-check them when py-evm is upgraded.**
    """

    def set_balance(self, address: Address, balance: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint256(balance, title="Account Balance")
        account = self._get_account(address)
        self._set_account(address, Account(account.nonce, balance, account.storage_root, account.code_hash))

    def set_nonce(self, address: Address, nonce: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint64(nonce, title="Nonce")
        account = self._get_account(address)
        self._set_account(address, Account(nonce, account.balance, account.storage_root, account.code_hash))


class ShallowBlockCopy:
    """Mixin for a py-evm block class: ``copy(**changes)`` shares the unchanged fields instead of deep-copying them."""

    def copy(self, *args: Any, **changes: Any) -> Any:
        names = self._meta.field_names  # type: ignore[attr-defined]
        if args or not set(changes) <= set(names):
            return super().copy(*args, **changes)  # type: ignore[misc]
        return type(self)(**{name: changes[name] if name in changes else getattr(self, name) for name in names})


class SettlePragueBlock(ShallowBlockCopy, PragueBlock):
    """Prague's block, copied cheaply."""


class SettleCancunBlock(ShallowBlockCopy, CancunBlock):
    """Cancun's block, copied cheaply (for the official state tests)."""

"""Updated copies of py-evm's immutable rlp objects, without ``copy.deepcopy``.

py-evm changes an account or a block by ``obj.copy(field=new)``, and
``rlp.Serializable.copy`` deep-copies every field it does not replace. The
fields are ints, bytes, and tuples of other immutable rlp objects, so the
deep copy only costs time: for a 1,000-transaction block, three block copies
(``finalize_block``, ``pack_block``, Prague's ``compute_requests``) each walked
all 1,000 transactions. The classes here build the new block from the
unchanged fields as they are (:mod:`vm.account_db` does the same for accounts).
The encoding, and so every hash and root, is the same by construction: the
new object has the same field values.
"""
from __future__ import annotations

from typing import Any

from eth.vm.forks.cancun.blocks import CancunBlock
from eth.vm.forks.prague.blocks import PragueBlock


class ShallowBlockCopy:
    """Mixin for a py-evm block class: ``copy(**changes)`` shares the unchanged fields instead of deep-copying them."""

    def copy(self, *args: Any, **changes: Any) -> Any:
        names = self._meta.field_names  # type: ignore[attr-defined]  # rlp Serializable's
        if args or not set(changes) <= set(names):
            return super().copy(*args, **changes)  # type: ignore[misc]  # the block class mixed into
        return type(self)(**{name: changes[name] if name in changes else getattr(self, name) for name in names})


class SettlePragueBlock(ShallowBlockCopy, PragueBlock):
    """Prague's block, copied cheaply."""


class SettleCancunBlock(ShallowBlockCopy, CancunBlock):
    """Cancun's block, copied cheaply (for the official state tests)."""

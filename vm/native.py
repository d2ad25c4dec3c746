"""Native backends for the hashing and encoding py-evm does on every node.

* **keccak-256**: eth-hash picks pycryptodome even when ``safe-pysha3`` is
  installed; pysha3's C keccak is about 4x faster per call. Both compute the
  same function; :func:`use_native_keccak` checks the known digests before
  switching the shared ``eth_hash.auto.keccak`` (the one py-evm, trie and rlp
  consumers import) to it.
* **Settle's own hashing** (trie nodes, storage keys, senders, SHA3) calls
  :data:`keccak_256` directly: ``keccak_256(data).digest()`` runs in C, where
  ``eth_hash.auto.keccak(data)`` adds two Python calls (the type check and the
  backend method) to every hash.
* **RLP**: ``rlp`` uses the Rust ``rusty-rlp`` codec by itself when it is
  installed (it is pinned in setup.cfg); :data:`NATIVE_RLP` says whether it is.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rlp.codec
from eth_hash.auto import keccak

#: Whether ``rlp`` runs on the Rust codec (rusty-rlp).
NATIVE_RLP: bool = hasattr(rlp.codec, "rusty_rlp")

_KNOWN_DIGESTS = {
    b"": bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
    b"abc": bytes.fromhex("4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
}


def use_native_keccak() -> bool:
    """Route ``eth_hash.auto.keccak`` to pysha3 when present; returns whether it did."""
    try:
        from eth_hash.backends import pysha3
    except ImportError:
        return False
    if any(pysha3.keccak256(data) != digest for data, digest in _KNOWN_DIGESTS.items()):
        return False
    # eth_hash's backend methods name their parameter otherwise; it is only ever passed positionally.
    keccak.hasher = pysha3.keccak256  # type: ignore[assignment]
    keccak.preimage = pysha3.preimage  # type: ignore[assignment]
    return True


NATIVE_KECCAK: bool = use_native_keccak()


class _EthHashKeccak:
    """``keccak_256(data).digest()`` through ``eth_hash``, where pysha3 is missing or wrong."""

    __slots__ = ("_digest",)

    def __init__(self, data: bytes) -> None:
        self._digest = keccak(data)

    def digest(self) -> bytes:
        return self._digest


def _keccak_constructor() -> Callable[[bytes], Any]:
    try:
        from sha3 import keccak_256
    except ImportError:
        return _EthHashKeccak
    if any(keccak_256(data).digest() != digest for data, digest in _KNOWN_DIGESTS.items()):
        return _EthHashKeccak
    return keccak_256


#: keccak-256 as a hash object: ``keccak_256(data).digest()`` (pysha3's C type when it is there).
keccak_256: Callable[[bytes], Any] = _keccak_constructor()

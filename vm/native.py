"""Native backends for the hashing and encoding py-evm does on every node.

* **keccak-256**: eth-hash picks pycryptodome even when ``safe-pysha3`` is
  installed; pysha3's C keccak is about 4x faster per call. Both compute the
  same function; :func:`use_native_keccak` checks the known digests before
  switching the shared ``eth_hash.auto.keccak`` (the one py-evm, trie and rlp
  consumers import) to it.
* **RLP**: ``rlp`` uses the Rust ``rusty-rlp`` codec by itself when it is
  installed (it is pinned in setup.cfg); :data:`NATIVE_RLP` says whether it is.
"""
from __future__ import annotations

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
    keccak.hasher = pysha3.keccak256
    keccak.preimage = pysha3.preimage
    return True


NATIVE_KECCAK: bool = use_native_keccak()

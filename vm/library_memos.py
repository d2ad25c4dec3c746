"""py-evm's and py-trie's process-wide memos, emptied after every block (issue 26).

Three libraries' caches are ``functools.lru_cache`` on *methods*, so every entry
holds its ``self``, and through it the database under that object:

* ``trie.HexaryTrie._cached_create_node_to_db_mapping`` (4096 entries): the
  pruning account and storage tries of each block's state. An entry keeps its
  trie, the trie its batch and journal layers, and those the block's
  :class:`vm.leveldb.WriteOverlay` with every write of the block (trie nodes,
  receipts, transaction-index keys) long after the block was committed and
  written to LevelDB. At 10 transactions a block that was the last 100 or so
  blocks' overlays; the entries of one trie are useless to the next, since the
  key includes the trie instance, and every block builds new ones.
* ``eth.db.chain.ChainDB._get_block_transactions`` and ``_get_block_withdrawals``
  (32 entries each): a ``ChainDB`` per overlay chain (eth_call, block building).
* ``eth.db.trie._make_trie_root_and_nodes`` (128 entries): whole blocks'
  encoded transactions or receipts with their trie nodes (py-evm's reference
  path and its block import).

Each is bounded by entry count but not by bytes, and what it holds across a
commit is dead weight: :func:`release_block_memos` empties them, so the node's
Python memory between two blocks is the head's state and the blocks in flight,
not a trail of past overlays. ``tests/node/test_memory.py`` counts live overlays.
"""
from __future__ import annotations

from typing import Any

from eth.db import trie as eth_trie
from eth.db.chain import ChainDB
from trie.hexary import HexaryTrie

_MEMOS: tuple[Any, ...] = (
    HexaryTrie._cached_create_node_to_db_mapping,
    ChainDB._get_block_transactions,
    ChainDB._get_block_withdrawals,
    eth_trie._make_trie_root_and_nodes,
)


def release_block_memos() -> None:
    """Empty the memos above: called once a block is committed (``node.store.ChainStore.commit``).

    ``cache_clear`` is atomic under the GIL, so RPC worker threads reading
    through the same memos at that moment see a miss at worst.
    """
    for memo in _MEMOS:
        memo.cache_clear()

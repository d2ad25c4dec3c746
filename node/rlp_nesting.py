"""How deep a peer's RLP would nest, found before it is decoded.

pyrlp decodes recursively, so the depth of a decoded structure is the sender's choice. Settle's
own structures are a few lists deep; what peers send (gossip messages and their payloads, sync
frames and their blocks) is walked here first, iteratively, and refused past a small bound.
"""

from __future__ import annotations

MAX_RLP_DEPTH = 16
"""Default bound on nested RLP lists from outside (``[p2p] max_rlp_depth`` for peers' messages).
Settle's deepest honest structure, a typed transaction's access list, is 3 lists deep."""


class RLPTooDeep(ValueError):
    """RLP lists nested deeper than the bound; raised before anything is decoded."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        super().__init__(f"RLP lists nested deeper than {max_depth}")


def check_rlp_nesting(data: bytes, max_depth: int) -> None:
    """Raise :class:`RLPTooDeep` if decoding ``data`` with pyrlp would nest lists deeper than ``max_depth``.

    pyrlp decodes recursively, two Python frames per level: a peer's 100,000-deep list raises
    ``RecursionError`` inside whatever task decodes it, and since py_ecc raises the interpreter's
    recursion limit to 100,000, shallower ones decode into structures that C-level recursion
    (repr, comparison) can overflow the C stack on. This walk is iterative and follows the
    decoder's own order and leniency (children are not bounded by their parent's length, only
    checked after), so the decoder never reaches a depth this walk did not; it stops, without
    error, wherever the decoder would fail anyway. Cost: one step per item header, no copying.
    """
    size = len(data)
    ends: list[int] = []  # payload end of each open list, as its header declared it
    position = 0
    while True:
        if position >= size:
            return  # pyrlp fails here ("RLP string too short") without going deeper
        first = data[position]
        if first < 0x80:
            position += 1
        elif first < 0xB8:
            position += 1 + first - 0x80
        elif first < 0xC0:
            length_bytes = first - 0xB7
            length = int.from_bytes(data[position + 1:position + 1 + length_bytes], "big")
            position += 1 + length_bytes + length
        else:
            if first < 0xF8:
                header, length = 1, first - 0xC0
            else:
                length_bytes = first - 0xF7
                header = 1 + length_bytes
                length = int.from_bytes(data[position + 1:position + header], "big")
            if len(ends) >= max_depth:
                raise RLPTooDeep(max_depth)
            ends.append(position + header + length)
            position += header
        while ends and position >= ends[-1]:
            if position > ends[-1]:
                return  # pyrlp refuses the list ("announced a too small length") and stops
            ends.pop()
        if not ends:
            return

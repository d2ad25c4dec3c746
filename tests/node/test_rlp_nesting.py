"""The RLP nesting bound: walked without recursion, and never less deep than pyrlp would go."""

from __future__ import annotations

import random

import pytest
import rlp

from node.rlp_nesting import MAX_RLP_DEPTH, RLPTooDeep, check_rlp_nesting


def nested(depth: int, leaf: bytes = b"") -> bytes:
    """The RLP of ``depth`` lists inside each other, built bottom-up (no recursion)."""
    data = rlp.encode(leaf) if leaf else b"\xc0"
    for _ in range(depth - 1):
        data = rlp.codec.length_prefix(len(data), 0xC0) + data
    return data


def depth_of(item: object) -> int:
    depth = 0
    level = [item]
    while level:
        level = [child for node in level if isinstance(node, list) for child in node]
        depth += 1
    return depth - 1


@pytest.mark.parametrize("depth", [1, 2, 15, 16])
def test_honest_depths_pass(depth: int) -> None:
    check_rlp_nesting(nested(depth, b"leaf"), MAX_RLP_DEPTH)
    check_rlp_nesting(rlp.encode([b"a", [b"b", [b"c"]], b"d" * 100, [[]] * 50]), 3)
    check_rlp_nesting(rlp.encode(b"just a string" * 10), 1)


@pytest.mark.parametrize("depth", [17, 1000, 100_000])
def test_deeper_is_refused_before_decoding(depth: int) -> None:
    with pytest.raises(RLPTooDeep, match="RLP lists nested deeper than 16"):
        check_rlp_nesting(nested(depth), MAX_RLP_DEPTH)


def test_a_deep_tail_after_honest_items_is_found() -> None:
    data = rlp.codec.length_prefix(len(b"\x83abc" + nested(40)), 0xC0) + b"\x83abc" + nested(40)
    with pytest.raises(RLPTooDeep):
        check_rlp_nesting(data, 16)


def test_a_list_that_understates_its_length_cannot_hide_depth() -> None:
    """pyrlp does not bound a child by its parent's declared length; neither does the walk."""
    deep = nested(50)
    data = b"\xc1" + deep  # says 1 byte, holds 50 levels: pyrlp would descend before noticing
    with pytest.raises(RLPTooDeep):
        check_rlp_nesting(data, 16)


def test_the_walk_bounds_what_pyrlp_decodes_on_mangled_input() -> None:
    """Random structures, randomly corrupted: whenever the walk passes, pyrlp decodes no deeper."""
    generator = random.Random(22)

    def structure(depth: int) -> object:
        if depth == 0 or generator.random() < 0.3:
            return bytes(generator.randrange(256) for _ in range(generator.choice([0, 1, 3, 60])))
        return [structure(depth - 1) for _ in range(generator.randrange(4))]

    checked = 0
    for _ in range(3000):
        data = bytearray(rlp.encode(structure(12)))
        for _ in range(generator.randrange(4)):
            corruption = generator.choice([0xC0, 0xC1, 0xC5, 0xF8, 0xB8, generator.randrange(256)])
            data[generator.randrange(len(data))] = corruption
        data = bytes(data)
        try:
            check_rlp_nesting(data, 6)
        except RLPTooDeep:
            continue
        try:
            decoded = rlp.decode(data, strict=False)
        except rlp.DecodingError:
            continue
        checked += 1
        assert depth_of(decoded) <= 6, data.hex()
    assert checked > 500

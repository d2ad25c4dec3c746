"""A block built by one node, re-executed and committed by another, as consensus does."""
import pytest
import rlp

from node.backend import Backend, InvalidBlock
from node.store import ChainStore
from tests.helpers import GENESIS, transfer


@pytest.fixture
def pair(tmp_path):
    stores = [ChainStore(tmp_path / name, GENESIS) for name in ("proposer", "validator")]
    backends = [Backend(store, coinbase=bytes([i + 1]) * 20) for i, store in enumerate(stores)]
    yield backends
    for store in stores:
        store.close()


def _proposal(proposer: Backend) -> bytes:
    for nonce in range(3):
        proposer.send_raw_transaction(transfer(0, nonce))
    pending = proposer.build_block()
    assert pending is not None and len(pending.block.transactions) == 3
    assert proposer.head.block_number == 0  # built, not committed
    return rlp.encode(pending.block)


def test_validator_re_executes_and_commits_with_certificate(pair, tmp_path):
    proposer, validator = pair
    raw = _proposal(proposer)
    pending = validator.execute_block(validator.decode_block(raw))
    assert validator.head.block_number == 0
    validator.commit_block(pending, certificate=b"cert-bytes")
    assert validator.head.hash == rlp.decode(raw, sedes=type(pending.block)).hash
    assert validator.store.certificate(validator.head.hash) == b"cert-bytes"
    assert validator.store.receipts(validator.head)[2].gas_used == 3 * 21000


def test_tampered_state_root_is_rejected_with_the_reason(pair):
    proposer, validator = pair
    block = validator.decode_block(_proposal(proposer))
    forged = block.copy(header=block.header.copy(state_root=b"\x11" * 32))
    with pytest.raises(InvalidBlock, match="state_root"):
        validator.execute_block(forged)
    assert validator.head.block_number == 0


def test_block_not_extending_the_head_is_rejected(pair):
    proposer, validator = pair
    block = validator.decode_block(_proposal(proposer))
    validator.produce_block(allow_empty=True)
    with pytest.raises(InvalidBlock, match="does not extend the head 1"):
        validator.execute_block(block)


def test_garbage_is_not_a_block(pair):
    with pytest.raises(InvalidBlock, match="could not be decoded"):
        pair[1].decode_block(b"\xc3\x01\x02\x03")

"""A block built by one node, re-executed and committed by another, as consensus does."""
import pytest
import rlp
from eth_account import Account
from eth_utils import keccak

from node.backend import Backend, InvalidBlock
from node.store import ChainStore
from tests.helpers import GENESIS, SIGNER, transfer


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


def _legacy(sender_index: int, nonce: int) -> bytes:
    fields = {"chainId": 1337, "nonce": nonce, "to": SIGNER.accounts[9].address, "value": 1, "gas": 21000,
              "gasPrice": 0}
    return bytes(Account.sign_transaction(fields, SIGNER.accounts[sender_index].key).raw_transaction)


def test_import_takes_the_mempools_transactions_with_their_senders(pair):
    """A proposal of gossiped transactions is neither decoded nor recovered again (issue 21)."""
    proposer, validator = pair
    raws = [transfer(0, 0), transfer(0, 1), _legacy(1, 0)]
    for raw in raws:
        proposer.send_raw_transaction(raw)
        validator.send_raw_transaction(raw, local=False)
    pending = proposer.build_block()
    assert pending is not None
    raw_block = rlp.encode(pending.block)
    block = validator.decode_block(raw_block)
    held = [validator.mempool.get(keccak(raw)) for raw in raws]
    assert all(transaction is not None for transaction in held)
    assert [id(transaction) for transaction in block.transactions] == [id(transaction) for transaction in held]
    assert rlp.encode(block) == raw_block and block.hash == pending.block.hash
    validator.commit_block(validator.execute_block(block))
    assert validator.head.hash == pending.block.hash


def test_import_of_transactions_not_in_the_mempool_decodes_and_recovers_them(pair):
    """Only the mempool's own (checked) transactions skip recovery; the others are decoded and recovered."""
    proposer, validator = pair
    validator.send_raw_transaction(transfer(0, 0), local=False)
    for raw in (transfer(0, 0), transfer(0, 1), _legacy(1, 0)):
        proposer.send_raw_transaction(raw)
    pending = proposer.build_block()
    assert pending is not None
    block = validator.decode_block(rlp.encode(pending.block))
    first, *others = block.transactions
    assert first is validator.mempool.get(first.hash)
    assert all(validator.mempool.get(t.hash) is None and "sender" not in vars(t) for t in others)
    validator.commit_block(validator.execute_block(block))
    assert [t.sender for t in others] == SIGNER.addresses[:2]
    assert validator.head.hash == pending.block.hash


def test_a_forged_signature_not_in_the_mempool_is_refused_at_import(pair):
    proposer, validator = pair
    raw = transfer(0, 0)
    validator.send_raw_transaction(raw, local=False)  # the honest twin is held; the forgery hashes otherwise
    proposer.send_raw_transaction(raw)
    pending = proposer.build_block()
    assert pending is not None
    honest = pending.block.transactions[0]
    forged = honest.copy(s=honest.s - 1)
    assert forged.hash != honest.hash
    block = pending.block.copy(transactions=(forged,))
    decoded = validator.decode_block(rlp.encode(block))
    assert decoded.transactions[0] is not validator.mempool.get(honest.hash)
    with pytest.raises(InvalidBlock):
        validator.execute_block(decoded)
    assert validator.head.block_number == 0

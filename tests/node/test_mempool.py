import re

import pytest
from eth.db.atomic import AtomicDB

from node.mempool import AccountView, Mempool, MempoolLimits, Rejected
from tests.helpers import GENESIS, SIGNER, transfer
from vm.chain import build_genesis
from vm.senders import SECP256K1_N

CHAIN = build_genesis(AtomicDB(), GENESIS)
BUILDER = CHAIN.get_vm().get_transaction_builder()


def tx(*args, **kwargs):
    raw = transfer(*args, **kwargs)
    return BUILDER.decode(raw), len(raw)


def accounts(nonce=0, balance=10**21):
    return lambda address: AccountView(nonce=nonce, balance=balance)


def pool(**limits):
    return Mempool(chain_id=1337, block_gas_limit=GENESIS.gas_limit, limits=MempoolLimits(**limits))


@pytest.mark.parametrize(
    "args, kwargs, view, message",
    [
        ((0, 0), {"chain_id": 5}, accounts(), "invalid chain id for signer: have 5 want 1337"),
        ((0, 0), {"gas": 100}, accounts(), "intrinsic gas too low: gas 100, minimum needed 21000"),
        ((0, 0), {"gas": 10**9}, accounts(), "exceeds block gas limit"),
        ((0, 0), {}, accounts(nonce=3), "nonce too low: next nonce 3, tx nonce 0"),
        ((0, 2), {}, accounts(), "nonce too high: next nonce 0, tx nonce 2"),
        ((0, 0), {"value": 10**22}, accounts(), "insufficient funds for gas * price + value"),
    ],
)
def test_rejections_name_the_problem(args, kwargs, view, message):
    transaction, size = tx(*args, **kwargs)
    with pytest.raises(Rejected, match=re.escape(message)):
        pool().add(transaction, size, view)


def test_size_and_pool_limits():
    transaction, size = tx(0, 0, data=b"\x01" * 500)
    with pytest.raises(Rejected, match="oversized data"):
        pool(max_transaction_bytes=100).add(transaction, size, accounts())
    small = pool(max_transactions=2, max_per_sender=2)
    for nonce in range(2):
        small.add(*tx(0, nonce), accounts())
    with pytest.raises(Rejected, match="txpool is full"):
        small.add(*tx(1, 0), accounts())
    per_sender = pool(max_transactions=10, max_per_sender=1)
    per_sender.add(*tx(0, 0), accounts())
    with pytest.raises(Rejected, match="too many pending transactions"):
        per_sender.add(*tx(0, 1), accounts())


def test_replacement_needs_a_price_bump_unless_both_are_free():
    mempool = pool()
    first, size = tx(0, 0, value=1)
    mempool.add(first, size, accounts())
    free_replacement, size = tx(0, 0, value=2)
    mempool.add(free_replacement, size, accounts())
    assert mempool.get(first.hash) is None and mempool.get(free_replacement.hash) is not None
    paid, size = tx(0, 0, max_fee=100, tip=100)
    mempool.add(paid, size, accounts())
    underpriced, size = tx(0, 0, max_fee=105, tip=105, value=3)
    with pytest.raises(Rejected, match="replacement transaction underpriced"):
        mempool.add(underpriced, size, accounts())
    assert len(mempool) == 1


def test_candidates_keep_nonce_order_and_arrival_order():
    mempool = pool()
    order = [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1)]
    for sender, nonce in order:
        mempool.add(*tx(sender, nonce), accounts())
    picked = [(SIGNER.addresses.index(t.sender), t.nonce) for t in mempool.candidates()]
    assert picked == order
    assert mempool.pending_nonce(SIGNER.addresses[0], 0) == 2
    stale = mempool.prune(lambda address: AccountView(nonce=1 if address == SIGNER.addresses[0] else 0, balance=0))
    assert [(SIGNER.addresses.index(t.sender), t.nonce) for t in stale] == [(0, 0)]
    assert len(mempool) == 4


def _high_s_twin(transaction):
    """The same key's other valid signature of the same transaction: (r, n - s), the other parity."""
    twin = type(transaction)(transaction.type_id, transaction._inner.copy(
        y_parity=1 - transaction.y_parity, s=SECP256K1_N - transaction.s))
    return BUILDER.decode(twin.encode())


def test_a_high_s_twin_is_refused_and_cannot_replace_the_original():
    mempool = pool()
    original, size = tx(0, 0)
    twin = _high_s_twin(original)
    assert twin.sender == original.sender and twin.hash != original.hash  # py-evm accepts its signature
    with pytest.raises(Rejected, match=re.escape("invalid transaction v, r, s values: s above secp256k1n/2")):
        pool().add(twin, size, accounts())
    mempool.add(original, size, accounts())
    with pytest.raises(Rejected, match="invalid transaction v, r, s values"):
        mempool.add(twin, size, accounts())  # at zero fees it would otherwise replace the original
    assert mempool.get(original.hash) is not None and len(mempool) == 1

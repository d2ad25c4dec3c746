import re

import pytest
from eth.db.atomic import AtomicDB
from eth_keys import keys
from eth_utils import keccak

from node.backend import Backend, InvalidTransaction
from node.mempool import AccountView, Mempool, MempoolLimits, Rejected
from node.store import ChainStore
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


# -- quotas and eviction (issue 22, medium 6) -------------------------------------------------------

def signed(key_number: int, nonce: int = 0, value: int = 0):
    """A zero-fee transfer from the key ``key_number`` (an empty account unless it is funded)."""
    key = keys.PrivateKey((10**6 + key_number).to_bytes(32, "big"))
    unsigned = BUILDER.new_unsigned_dynamic_fee_transaction(
        chain_id=1337, nonce=nonce, max_priority_fee_per_gas=0, max_fee_per_gas=0, gas=21000,
        to=b"\x11" * 20, value=value, data=b"", access_list=())
    transaction = unsigned.as_signed_transaction(key)
    return transaction, len(transaction.encode())


def balances(funded: set[bytes]):
    """Every account at nonce 0; those in ``funded`` hold 1 ether, the others nothing."""
    return lambda address: AccountView(nonce=0, balance=10**18 if address in funded else 0)


def test_an_empty_account_may_send_zero_value_but_not_value():
    mempool = pool()
    mempool.add(*signed(1), balances(set()))
    with pytest.raises(Rejected, match="insufficient funds for gas \\* price \\+ value"):
        mempool.add(*signed(2, value=1), balances(set()))


def test_a_full_pool_of_empty_accounts_gives_way_to_a_funded_sender():
    spam = [signed(number) for number in range(5)]
    funded_tx, size = signed(100)
    view = balances({funded_tx.sender})
    mempool = pool(max_transactions=5)
    for transaction, length in spam:
        mempool.add(transaction, length, view)
    with pytest.raises(Rejected) as refused:
        mempool.add(*signed(6), view)  # another empty account: it outranks none of them
    assert str(refused.value) == (
        "txpool is full: 5 transactions (limit [mempool] max_transactions), and this "
        "sender (empty account, 0 pending) outranks none of them ([mempool] account_slots = 16)")
    mempool.add(funded_tx, size, view)
    assert len(mempool) == 5 and mempool.get(funded_tx.hash) is not None and mempool.evicted == 1
    assert mempool.get(spam[4][0].hash) is None  # the last empty account to arrive made room


def test_a_sender_over_its_guaranteed_slots_gives_way_to_one_under_them():
    hog = [signed(1, nonce) for nonce in range(6)]
    mempool = pool(max_transactions=8, account_slots=2)
    view = balances({hog[0][0].sender, signed(2)[0].sender, signed(3)[0].sender})
    for transaction, length in hog:
        mempool.add(transaction, length, view)
    mempool.add(*signed(2, 0), view)
    mempool.add(*signed(2, 1), view)  # full now: 6 + 2
    mempool.add(*signed(3, 0), view)  # holds 0 < 2 slots; the hog holds 6 > 2: its newest goes
    assert mempool.get(hog[5][0].hash) is None and mempool.get(hog[4][0].hash) is not None
    assert mempool.pending_nonce(hog[0][0].sender, 0) == 5  # no gap: the highest nonce was evicted
    mempool.add(*signed(3, 1), view)
    with pytest.raises(Rejected, match="txpool is full"):
        mempool.add(*signed(3, 2), view)  # it holds its 2 guaranteed slots now
    with pytest.raises(Rejected, match="txpool is full"):
        mempool.add(*signed(4, 0), view)  # an empty account never evicts a funded one
    assert len(mempool) == 8 and mempool.evicted == 2


def test_the_per_sender_limit_names_its_config_key():
    mempool = pool(max_per_sender=2, account_slots=2)
    mempool.add(*signed(1, 0), balances(set()))
    mempool.add(*signed(1, 1), balances(set()))
    with pytest.raises(Rejected, match=re.escape("too many pending transactions from 0x")) as refused:
        mempool.add(*signed(1, 2), balances(set()))
    assert str(refused.value).endswith(": 2 (limit [mempool] max_per_sender)")


def test_eviction_bookkeeping_survives_blocks_and_pruning():
    mempool = pool(max_transactions=3, account_slots=1)
    view = balances({signed(1)[0].sender, signed(2)[0].sender})
    a0, a1, a2 = (signed(1, nonce) for nonce in range(3))
    for transaction, length in (a0, a1, a2):
        mempool.add(transaction, length, view)
    mempool.remove([a0[0]])  # mined
    mempool.add(*signed(2, 0), view)  # the room the block made; full again
    with pytest.raises(Rejected, match="txpool is full"):
        mempool.add(*signed(2, 1), view)  # sender 2 holds its 1 guaranteed slot already
    assert mempool.evicted == 0
    mempool.add(*signed(3, 0), balances({signed(3)[0].sender}))  # holds 0 < 1: evicts sender 1's newest (a2)
    assert mempool.get(a2[0].hash) is None and mempool.evicted == 1
    assert {t.sender for t in mempool.candidates()} == {a1[0].sender, signed(2)[0].sender, signed(3)[0].sender}


def test_issue_22_spam_from_10100_empty_accounts_does_not_lock_out_a_funded_dev_account(tmp_path):
    """10,100 zero-fee transactions from zero-balance keys, then a funded dev account sends one.

    Before: "txpool is full". Now the pool holds at most max_transactions, and the funded
    account's transaction evicts an empty account's.
    """
    store = ChainStore(tmp_path / "chain", GENESIS)
    try:
        backend = Backend(store, coinbase=b"\x01" * 20)
        refused = 0
        for number in range(10_100):
            transaction, _ = signed(number)
            try:
                backend.send_raw_transaction(transaction.encode())
            except InvalidTransaction as exc:
                assert str(exc).startswith("txpool is full: 10000 transactions (limit [mempool] max_transactions)")
                refused += 1
        assert refused == 100 and len(backend.mempool) == 10_000
        tx_hash = backend.send_raw_transaction(transfer(0, 0))  # dev account 0, funded in genesis
        assert backend.mempool.get(tx_hash) is not None and len(backend.mempool) == 10_000
        assert backend.mempool.evicted == 1
    finally:
        store.close()


def test_a_known_transaction_is_answered_before_it_is_decoded_again(tmp_path, monkeypatch):
    """Issue 21: the same bytes from another peer cost a hash, not a decode and a sender recovery."""
    store = ChainStore(tmp_path / "db", GENESIS)
    try:
        backend = Backend(store, coinbase=b"\x00" * 20)
        raw = transfer(0, 0)
        backend.send_raw_transaction(raw, local=False)

        def no_second_decode(raw: bytes):
            raise AssertionError("decoded again")

        monkeypatch.setattr(backend, "decode_transaction", no_second_decode)
        with pytest.raises(InvalidTransaction, match="already known"):
            backend.send_raw_transaction(raw, local=False)
        assert len(backend.mempool) == 1
    finally:
        store.close()


def test_a_gossiped_batch_is_admitted_in_one_call_with_a_result_per_transaction(tmp_path):
    store = ChainStore(tmp_path / "db", GENESIS)
    try:
        backend = Backend(store, coinbase=b"\x00" * 20)
        first, second = transfer(0, 0), transfer(0, 1)
        results = backend.send_raw_transactions([first, first, b"\xc3\x01\x02\x03", transfer(0, 5), second])
        admitted = [backend.mempool.get(keccak(first)), backend.mempool.get(keccak(second))]
        assert [results[0], results[4]] == [transaction.hash for transaction in admitted if transaction is not None]
        refusals = results[1:4]
        assert all(isinstance(refusal, InvalidTransaction) for refusal in refusals)
        assert str(refusals[0]) == "already known"
        assert "could not be decoded" in str(refusals[1])
        assert str(refusals[2]).startswith("nonce too high: next nonce 1, tx nonce 5")
        assert len(backend.mempool) == 2
    finally:
        store.close()

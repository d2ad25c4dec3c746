"""The audit of a chain database: a clean copy passes, and each tampering is named by height and field.

A real chain (dev genesis, its one validator sealing real BLS certificates) is written to LevelDB; each
test copies the data directory, alters one thing in the copy with plyvel, and runs the audit on it,
in process and through ``settle audit report``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import plyvel
import pytest
import rlp
from eth.rlp.receipts import Receipt
from eth.vm.forks.prague.receipts import PragueReceiptBuilder

from consensus.certificate import aggregate, sign_seal
from genesis.loader import write_genesis
from node.audit import audit_store
from node.backend import Backend
from node.dev import dev_genesis, dev_validator_keys
from node.dev_accounts import DevSigner
from node.service import validator_set
from node.store import ChainStore
from tests.helpers import transfer

GENESIS = dev_genesis(DevSigner.from_mnemonic())
KEYS = dev_validator_keys()
BLOCKS = 6


def _certified(backend: Backend) -> None:
    pending = backend.build_block(allow_empty=True)
    assert pending is not None
    block = pending.block
    seal = sign_seal(KEYS.bls_secret_key, GENESIS.chain_id, block.number, 0, block.hash)
    certificate = aggregate(validator_set(GENESIS), {0: seal}, block.number, 0, block.hash)
    backend.commit_block(pending, certificate.encode())


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("audited") / "data"
    store = ChainStore(directory, GENESIS)
    backend = Backend(store, coinbase=KEYS.address)
    for height in range(1, BLOCKS + 1):
        for nonce in range(2):
            # calldata of its own length per block: every block's receipts and balances are its own
            backend.send_raw_transaction(transfer(0, 2 * (height - 1) + nonce, value=height, gas=30_000,
                                                  data=bytes([height]) * height))
        _certified(backend)
    store.close()
    return directory


def _copy(chain_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(chain_dir, copy)
    return copy


def _audit(directory):
    store = ChainStore(directory, GENESIS)
    try:
        return audit_store(store)
    finally:
        store.close()


def _header_at(directory, height: int):
    store = ChainStore(directory, GENESIS)
    try:
        header = store.header_by_number(height)
        receipts = store.receipts(header)
        return header, receipts
    finally:
        store.close()


def test_an_untouched_copy_passes(chain_dir, tmp_path):
    report = _audit(_copy(chain_dir, tmp_path))
    assert report.ok, report.first_discrepancy
    assert report.to_height == BLOCKS and report.certificates_checked == BLOCKS
    assert report.state_roots_checked == BLOCKS and report.state_nodes_checked > 0
    assert report.validator_changes == [{"height": 1, "validators": ["0x" + KEYS.address.hex()]}]


def test_a_tampered_header_is_named(chain_dir, tmp_path):
    copy = _copy(chain_dir, tmp_path)
    header, _ = _header_at(copy, 3)
    tampered = header.copy(gas_used=header.gas_used + 1)
    db = plyvel.DB(str(copy / "chain"))
    db.put(header.hash, rlp.encode(tampered))  # py-evm keys a header by its hash
    db.close()
    report = _audit(copy)
    d = report.first_discrepancy
    assert d is not None and (d.height, d.field) == (3, "gas_used"), d
    assert (d.expected, d.found) == (str(header.gas_used), str(header.gas_used + 1))
    assert report.to_height == 2


def test_a_tampered_receipt_is_named(chain_dir, tmp_path):
    copy = _copy(chain_dir, tmp_path)
    header, receipts = _header_at(copy, 4)
    from trie import HexaryTrie

    db = plyvel.DB(str(copy / "chain"))

    class _Nodes(dict):
        def __missing__(self, key):
            value = db.get(key)
            if value is None:
                raise KeyError(key)
            return value

    nodes = _Nodes()
    trie = HexaryTrie(nodes, root_hash=header.receipt_root)
    original = receipts[1]
    forged = Receipt(state_root=original.state_root, gas_used=original.gas_used + 5, bloom=original.bloom,
                     logs=original.logs)
    key = rlp.encode(1)
    trie[key] = PragueReceiptBuilder.encode(forged) if hasattr(PragueReceiptBuilder, "encode") else rlp.encode(forged)
    # Put the new leaf's bytes under the original node's key: the stored root still "points" at it.
    old_trie = HexaryTrie(_Nodes(), root_hash=header.receipt_root)
    old_leaf_node = old_trie.get_proof(key)[-1]
    new_leaf_node = trie.get_proof(key)[-1]
    db.put(_node_key(old_leaf_node), rlp.encode(new_leaf_node))
    db.close()
    report = _audit(copy)
    d = report.first_discrepancy
    assert d is not None and (d.height, d.field) == (4, "receipts[1].gas_used"), d
    assert (d.expected, d.found) == (str(original.gas_used), str(original.gas_used + 5))
    assert report.to_height == 3


def _node_key(node) -> bytes:
    from eth_utils import keccak

    return keccak(rlp.encode(node))


def test_a_tampered_state_value_is_named(chain_dir, tmp_path):
    copy = _copy(chain_dir, tmp_path)
    header, _ = _header_at(copy, 5)
    from eth_utils import keccak
    from trie import HexaryTrie

    db = plyvel.DB(str(copy / "chain"))

    class _Nodes(dict):
        def __missing__(self, key):
            value = db.get(key)
            if value is None:
                raise KeyError(key)
            return value

    # The recipient's account leaf, written by block 5 (its balance changed there).
    recipient = bytes.fromhex(DevSigner.from_mnemonic().accounts[9].address[2:])
    trie = HexaryTrie(_Nodes(), root_hash=header.state_root)
    account_key = keccak(recipient)
    leaf = trie.get_proof(account_key)[-1]
    nonce, balance, storage_root, code_hash = rlp.decode(leaf[1])
    forged_leaf = [leaf[0], rlp.encode([nonce, int.from_bytes(balance, "big") + 10**18, storage_root, code_hash])]
    db.put(_node_key(leaf), rlp.encode(forged_leaf))
    db.close()
    report = _audit(copy)
    d = report.first_discrepancy
    assert d is not None and d.height == 5 and d.field == f"state node 0x{_node_key(leaf).hex()}", d
    assert d.expected == "0x" + _node_key(leaf).hex() and d.found == "0x" + keccak(rlp.encode(forged_leaf)).hex()


def test_cli_report_names_the_discrepancy_and_writes_json(chain_dir, tmp_path):
    copy = _copy(chain_dir, tmp_path)
    header, _ = _header_at(copy, 2)
    db = plyvel.DB(str(copy / "chain"))
    db.put(header.hash, rlp.encode(header.copy(state_root=b"\x22" * 32)))
    db.close()
    genesis_path = tmp_path / "genesis.json"
    write_genesis(GENESIS, genesis_path)
    out = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "node.cli", "audit", "report", "--datadir", str(copy), "--genesis", str(genesis_path),
         "--out", str(out)], capture_output=True, text=True, timeout=120, env={**os.environ})
    assert result.returncode == 1, result.stderr
    assert "FIRST DISCREPANCY at height 2, field state_root" in result.stdout
    assert "bitcoin anchors: not configured" in result.stdout
    document = json.loads(out.read_text())
    assert document["ok"] is False and document["first_discrepancy"]["height"] == 2
    assert document["first_discrepancy"]["found"] == "0x" + "22" * 32


def test_certificate_only_audit_batches_and_still_names_a_forged_certificate(chain_dir, tmp_path):
    from consensus.certificate import CommitCertificate
    from node.store import CERTIFICATE_PREFIX

    clean = _copy(chain_dir, tmp_path)
    store = ChainStore(clean, GENESIS)
    try:
        report = audit_store(store, reexecute=False)
    finally:
        store.close()
    assert report.ok and report.certificates_checked == BLOCKS and report.to_height == BLOCKS

    forged_dir = tmp_path / "forged"
    shutil.copytree(chain_dir, forged_dir)
    header, _ = _header_at(forged_dir, 4)
    db = plyvel.DB(str(forged_dir / "chain"))
    certificate = CommitCertificate.decode(db.get(CERTIFICATE_PREFIX + header.hash))
    other = CommitCertificate.decode(db.get(CERTIFICATE_PREFIX + _header_at_hash(db, 5)))
    # A valid signature, of block 5: a well-formed certificate that does not prove block 4.
    db.put(CERTIFICATE_PREFIX + header.hash, dataclasses.replace(certificate, signature=other.signature).encode())
    db.close()
    store = ChainStore(forged_dir, GENESIS)
    try:
        report = audit_store(store, reexecute=False)
    finally:
        store.close()
    d = report.first_discrepancy
    assert d is not None and (d.height, d.field) == (4, "certificate"), d
    assert report.certificates_checked == 0 and report.to_height == 0  # the batch holding it is not counted


def _header_at_hash(db, height: int) -> bytes:
    store_key = b"block-number-to-hash:%d" % height
    value = db.get(store_key)
    assert value is not None
    return rlp.decode(value)

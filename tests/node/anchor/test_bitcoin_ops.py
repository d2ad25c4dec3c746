"""Anchor transactions, merkle branches and OpenTimestamps proofs against a real litecoind regtest node."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from node.anchor.bitcoin import BitcoinAuthError, BitcoinCredentials, BitcoinRPC, BitcoinUnreachable
from node.anchor.bitcoin_ops import anchor_in, broadcast, create_anchor_transaction, inclusion
from node.anchor.bitcoin_tx import dsha256, fold_branch, internal, parse_transaction
from node.anchor.ots import build_ots
from node.anchor.payload import AnchorPayload

pytestmark = pytest.mark.slow  # a litecoind node and some fifty `ots` client runs: about 30 s

OTS = str(Path(sys.executable).with_name("ots"))


def _payload(height: int = 10) -> AnchorPayload:
    return AnchorPayload(chain_id=1337, genesis_prefix=b"\x01\x02\x03\x04", height=height,
                         block_hash=dsha256(height.to_bytes(8, "big")))


def _anchored(litecoin, payload: AnchorPayload):
    rpc = litecoin.rpc("anchor")
    raw = create_anchor_transaction(rpc, payload.encode(), fee_rate=20)
    assert broadcast(rpc, raw)
    assert broadcast(rpc, raw)  # a second send of the same transaction is harmless
    block_hash = internal(litecoin.mine(1)[0])
    found = anchor_in(raw)
    assert found is not None
    return found, inclusion(rpc, block_hash, found.txid)


def test_txid_is_the_hash_without_witness_and_the_branch_folds_to_the_header(litecoin):
    payload = _payload()
    # More transactions in the block, so the branch has several levels.
    for _ in range(5):
        litecoin.call("sendtoaddress", litecoin.miner_address, 0.1, wallet="miner")
    found, where = _anchored(litecoin, payload)
    assert found.payload == payload
    decoded = litecoin.call("getrawtransaction", found.txid[::-1].hex(), True, where.block_hash[::-1].hex())
    assert decoded["txid"] == found.txid[::-1].hex()
    assert decoded["hash"] != decoded["txid"], "the wallet signs segwit: wtxid and txid differ"
    assert dsha256(parse_transaction(bytes.fromhex(decoded["hex"])).stripped) == found.txid
    assert len(where.branch) >= 2
    header = litecoin.call("getblockheader", where.block_hash[::-1].hex())
    assert fold_branch(found.txid, where.tx_index, list(where.branch)) == internal(header["merkleroot"])
    assert found.stripped[found.hash_offset:found.hash_offset + 32] == payload.block_hash


def test_ots_proof_verifies_with_the_standard_client_and_a_flipped_byte_fails(litecoin, tmp_path):
    payload = _payload(20)
    found, where = _anchored(litecoin, payload)
    proof = build_ots(payload.block_hash, found.stripped[:found.hash_offset],
                      found.stripped[found.hash_offset + 32:], list(where.branch), where.tx_index, where.height)
    path = tmp_path / "proof.ots"
    path.write_bytes(proof)

    def verify(file: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([OTS, "--no-cache", "--btc-regtest", "--bitcoin-node", litecoin.url_with_credentials,
                               "verify", "-d", payload.block_hash.hex(), str(file)],
                              capture_output=True, text=True, timeout=60)

    result = verify(path)
    assert result.returncode == 0, result.stderr
    assert f"Bitcoin block {where.height} attests" in result.stderr
    failures = 0
    for position in range(len(proof)):
        flipped = bytearray(proof)
        flipped[position] ^= 0x01
        path.write_bytes(bytes(flipped))
        failures += verify(path).returncode != 0
        if position > 40:  # every byte after the header costs a client start: sample the rest below
            break
    assert failures == 42
    for position in range(60, len(proof), 23):
        flipped = bytearray(proof)
        flipped[position] ^= 0x80
        path.write_bytes(bytes(flipped))
        assert verify(path).returncode != 0, f"a flip at byte {position} still verified"


def test_wrong_password_and_unreachable_node_are_named(litecoin):
    with pytest.raises(BitcoinAuthError, match="refused the credentials"):
        BitcoinRPC(litecoin.url, credentials=BitcoinCredentials("settle", "wrong")).call("getblockcount")
    with pytest.raises(BitcoinUnreachable, match="unreachable"):
        BitcoinRPC("http://127.0.0.1:9/", credentials=BitcoinCredentials("a", "b"), timeout=5).call("getblockcount")
    assert "wrong" not in repr(BitcoinRPC("http://u:wrong@127.0.0.1:9/"))

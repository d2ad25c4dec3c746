"""Validator key generation, derived identities and key files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from blspy import PopSchemeMPL
from eth_account import Account
from eth_typing import BLSPubkey, BLSSignature
from libp2p.crypto.serialization import deserialize_public_key
from libp2p.peer.id import ID
from py_ecc.bls import G2ProofOfPossession

from genesis.errors import InvalidKeyError, KeyFileError
from genesis.keys import (
    KeyFilePaths,
    ValidatorKeys,
    check_peer_id,
    generate_validator_keys,
    read_key_file,
    read_validator_keys,
    write_key_file,
    write_validator_keys,
)

SEED = b"settle test seed".ljust(32, b"\0")


def test_seeded_generation_is_deterministic_and_keys_are_independent() -> None:
    first, second = generate_validator_keys(SEED), generate_validator_keys(SEED)
    assert first == second
    assert len({first.account_key, first.bls_secret_key, first.node_key}) == 3
    assert generate_validator_keys(b"other".ljust(32, b"\0")) != first


def test_unseeded_generation_is_random() -> None:
    assert generate_validator_keys() != generate_validator_keys()


def test_address_matches_eth_account() -> None:
    keys = generate_validator_keys(SEED)
    assert len(keys.address) == 20
    assert "0x" + keys.address.hex() == Account.from_key(keys.account_key).address.lower()


def test_peer_id_embeds_the_node_public_key() -> None:
    keys = generate_validator_keys(SEED)
    peer_id = ID.from_base58(keys.peer_id)
    assert keys.peer_id.startswith("12D3KooW")  # identity multihash of an ed25519 key
    assert peer_id.extract_public_key() == keys.libp2p_key_pair().public_key
    check_peer_id(keys.peer_id)


def test_bls_public_key_matches_py_ecc_and_signatures_cross_verify() -> None:
    keys = generate_validator_keys(SEED)
    secret = int.from_bytes(keys.bls_secret_key, "big")
    assert len(keys.bls_public_key) == 48
    assert G2ProofOfPossession.SkToPk(secret) == keys.bls_public_key
    message = b"block hash"
    signature = bytes(PopSchemeMPL.sign(keys.bls_private_key(), message))
    assert G2ProofOfPossession.Verify(BLSPubkey(keys.bls_public_key), message, BLSSignature(signature))


def test_proof_of_possession_verifies_with_py_ecc_and_is_in_the_genesis_entry() -> None:
    keys = generate_validator_keys(b"\x08" * 32)
    assert G2ProofOfPossession.PopVerify(BLSPubkey(keys.bls_public_key), BLSSignature(keys.bls_proof_of_possession))
    other = generate_validator_keys(b"\x09" * 32)
    assert not G2ProofOfPossession.PopVerify(
        BLSPubkey(other.bls_public_key), BLSSignature(keys.bls_proof_of_possession))
    assert keys.genesis_validator().bls_proof_of_possession == keys.bls_proof_of_possession


def test_repr_does_not_leak_secrets() -> None:
    keys = generate_validator_keys(SEED)
    assert keys.account_key.hex() not in repr(keys)
    assert repr(keys) == "ValidatorKeys()"


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("account_key", b"\0" * 32, "secp256k1"),
        ("account_key", b"\xff" * 32, "secp256k1"),
        ("bls_secret_key", b"\xff" * 32, "BLS12-381"),
        ("bls_secret_key", b"\0" * 32, "BLS12-381"),
        ("node_key", b"\1" * 31, "32 bytes"),
    ],
)
def test_out_of_range_keys_are_refused(field: str, value: bytes, fragment: str) -> None:
    good = generate_validator_keys(SEED)
    fields = {"account_key": good.account_key, "bls_secret_key": good.bls_secret_key, "node_key": good.node_key}
    fields[field] = value
    with pytest.raises(InvalidKeyError, match=fragment):
        ValidatorKeys(**fields)


def test_key_file_round_trip_and_mode(tmp_path: Path) -> None:
    key = bytes(range(32))
    path = tmp_path / "account.key"
    write_key_file(path, key)
    assert path.read_text() == key.hex() + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path, "account") == key


def test_key_file_is_not_overwritten_by_default(tmp_path: Path) -> None:
    path = tmp_path / "bls.key"
    write_key_file(path, b"\1" * 32)
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        write_key_file(path, b"\2" * 32)
    assert read_key_file(path, "bls") == b"\1" * 32
    path.chmod(0o644)
    write_key_file(path, b"\2" * 32, overwrite=True)
    assert read_key_file(path, "bls") == b"\2" * 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_key_file_accepts_0x_prefix_and_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    path.write_text("  0x" + "ab" * 32 + "\n\n")
    assert read_key_file(path, "node") == b"\xab" * 32


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("zz" * 32, "not valid hex"),
        ("ab" * 31, "expected 32 bytes (64 hex digits), got 31 bytes"),
        ("ab" * 33, "got 33 bytes"),
        ("", "got 0 bytes"),
    ],
)
def test_bad_key_file_contents(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bls.key"
    path.write_text(content)
    with pytest.raises(KeyFileError) as info:
        read_key_file(path, "bls")
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"bls key file {path}: ")


def test_non_ascii_key_file(tmp_path: Path) -> None:
    path = tmp_path / "bls.key"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(KeyFileError, match="non-ASCII"):
        read_key_file(path, "bls")


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="not found") as info:
        read_key_file(tmp_path / "account.key", "account")
    assert info.value.name == "account"


def test_validator_keys_round_trip_through_files(tmp_path: Path) -> None:
    keys = generate_validator_keys(SEED)
    paths = KeyFilePaths(tmp_path / "k" / "account.key", tmp_path / "k" / "bls.key", tmp_path / "k" / "node.key")
    write_validator_keys(paths, keys)
    assert read_validator_keys(paths) == keys
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o700


def test_out_of_range_key_file_names_the_file(tmp_path: Path) -> None:
    keys = generate_validator_keys(SEED)
    paths = KeyFilePaths(tmp_path / "account.key", tmp_path / "bls.key", tmp_path / "node.key")
    write_validator_keys(paths, keys)
    paths.bls_key.write_text("ff" * 32)
    with pytest.raises(KeyFileError) as info:
        read_validator_keys(paths)
    assert info.value.path == paths.bls_key


def test_check_peer_id_accepts_sha256_peer_ids_from_rsa_keys() -> None:
    # A well-known go-libp2p bootstrap peer id (SHA-256 multihash of an RSA key).
    check_peer_id("QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN")
    with pytest.raises(ValueError):
        check_peer_id("QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJ")  # truncated digest


def test_libp2p_key_pair_round_trips_public_key() -> None:
    keys = generate_validator_keys(SEED)
    public = keys.libp2p_key_pair().public_key
    assert deserialize_public_key(public.serialize()) == public

"""genesis.json parsing, validation and round-trip."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_utils import to_checksum_address

from genesis.errors import (
    GenesisError,
    GenesisFieldError,
    GenesisFileError,
    GenesisJSONError,
    UnknownGenesisFieldError,
)
from genesis.keys import generate_validator_keys
from genesis.loader import MAX_CHAIN_ID, genesis_to_json, load_genesis, parse_genesis, write_genesis
from genesis.model import DEFAULT_REGISTRY_ADDRESS, Genesis, GenesisAccount

KEYS = [generate_validator_keys(bytes([i]) * 32) for i in range(3)]
FUNDED = bytes.fromhex("00000000000000000000000000000000000000aa")
FUNDED_KEY = "0x" + FUNDED.hex()


def valid_document() -> dict[str, Any]:
    """A genesis document exercising every field."""
    return {
        "chainId": 1337,
        "gasLimit": "0x1c9c380",
        "timestamp": 1_700_000_000,
        "extraData": "0x5e77",
        "alloc": {
            FUNDED_KEY: {
                "balance": "1000000000000000000000000",
                "nonce": 3,
                "code": "0x6001600055",
                "storage": {"0x01": "0x02", "0x00": "0x2a"},
            },
            to_checksum_address(KEYS[0].address): {"balance": "0xde0b6b3a7640000"},
        },
        "validators": [
            {"address": "0x" + k.address.hex(), "blsPublicKey": "0x" + k.bls_public_key.hex(),
             "blsProofOfPossession": "0x" + k.bls_proof_of_possession.hex(), "peerId": k.peer_id}
            for k in KEYS
        ],
        "consensus": {"blockPeriodMs": 500, "roundTimeoutMs": 1500, "maxRoundTimeoutMs": 30000},
        "permissions": {
            "registryAddress": "0x0000000000000000000000000000000000005e77",
            "admins": [to_checksum_address(KEYS[0].address)],
            "members": ["0x" + k.address.hex() for k in KEYS],
            "deployers": [],
            "auditors": [FUNDED_KEY],
        },
    }


def test_parses_every_field() -> None:
    genesis = parse_genesis(valid_document())
    assert genesis.chain_id == 1337
    assert genesis.gas_limit == 30_000_000
    assert genesis.timestamp == 1_700_000_000
    assert genesis.extra_data == b"\x5e\x77"
    assert genesis.alloc[FUNDED] == GenesisAccount(
        balance=10**24, nonce=3, code=bytes.fromhex("6001600055"), storage={1: 2, 0: 42}
    )
    assert genesis.alloc[KEYS[0].address].balance == 10**18
    assert [v.address for v in genesis.validators] == [k.address for k in KEYS]
    assert genesis.validators[1].bls_public_key == KEYS[1].bls_public_key
    assert genesis.validators[1].bls_proof_of_possession == KEYS[1].bls_proof_of_possession
    assert genesis.validators[2].peer_id == KEYS[2].peer_id
    assert (genesis.consensus.block_period_ms, genesis.consensus.round_timeout_ms) == (500, 1500)
    assert genesis.consensus.max_round_timeout_ms == 30000
    assert genesis.permissions.admins == (KEYS[0].address,)
    assert genesis.permissions.members == tuple(k.address for k in KEYS)
    assert genesis.permissions.auditors == (FUNDED,)


def test_optional_sections_take_their_defaults() -> None:
    document = valid_document()
    for key in ("timestamp", "extraData", "alloc", "consensus", "permissions"):
        del document[key]
    genesis = parse_genesis(document)
    assert genesis.timestamp == 0
    assert genesis.extra_data == b""
    assert dict(genesis.alloc) == {}
    assert genesis.consensus.block_period_ms == 1000
    assert genesis.consensus.round_timeout_ms == 2000
    assert genesis.consensus.max_round_timeout_ms == 60000
    assert genesis.permissions.registry_address == DEFAULT_REGISTRY_ADDRESS
    assert genesis.permissions.members == ()


def test_json_round_trip_is_exact() -> None:
    genesis = parse_genesis(valid_document())
    again = parse_genesis(json.loads(json.dumps(genesis_to_json(genesis))))
    assert again == genesis
    # Canonical output: a second round gives byte-identical JSON.
    assert genesis_to_json(again) == genesis_to_json(genesis)


def test_write_then_load(tmp_path: Path) -> None:
    genesis = parse_genesis(valid_document())
    path = tmp_path / "sub" / "genesis.json"
    write_genesis(genesis, path)
    assert load_genesis(path) == genesis
    assert [p.name for p in path.parent.iterdir()] == ["genesis.json"]  # no temp file left


def test_write_refuses_an_invalid_genesis(tmp_path: Path) -> None:
    genesis = parse_genesis(valid_document())
    bad = Genesis(
        chain_id=0,
        gas_limit=genesis.gas_limit,
        timestamp=0,
        extra_data=b"",
        alloc={},
        validators=genesis.validators,
    )
    with pytest.raises(GenesisFieldError, match="chainId"):
        write_genesis(bad, tmp_path / "genesis.json")
    assert not (tmp_path / "genesis.json").exists()


def test_model_is_read_only() -> None:
    genesis = parse_genesis(valid_document())
    with pytest.raises(TypeError):
        genesis.alloc[FUNDED] = GenesisAccount(balance=1)  # type: ignore[index]
    with pytest.raises(TypeError):
        genesis.alloc[FUNDED].storage[1] = 3  # type: ignore[index]


def test_lowercase_and_uppercase_addresses_are_accepted() -> None:
    document = valid_document()
    document["permissions"]["deployers"] = ["0x" + KEYS[1].address.hex().upper()]
    assert parse_genesis(document).permissions.deployers == (KEYS[1].address,)


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        target = document
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


def _bad_checksum(address: bytes) -> str:
    good = to_checksum_address(address)
    # Flip the case of the first letter: still mixed case, no longer the checksum.
    index = next(i for i, c in enumerate(good) if i > 1 and c.isalpha())
    return good[:index] + good[index].swapcase() + good[index + 1 :]


def _duplicate_validator(document: dict[str, Any]) -> None:
    document["validators"][2]["address"] = document["validators"][0]["address"]


def _rename(path: list[Any], old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        target = document
        for step in path:
            target = target[step]
        target[new] = target.pop(old)

    return mutate


BAD_FIELDS = [
    # (case id, mutation, field path the message must name, another fragment it must contain)
    ("chain id zero", _set(["chainId"], 0), "chainId", "got 0"),
    ("chain id too big", _set(["chainId"], MAX_CHAIN_ID + 1), "chainId", "1.."),
    ("chain id float", _set(["chainId"], 1.5), "chainId", "got 1.5"),
    ("chain id bool", _set(["chainId"], True), "chainId", "got true"),
    ("gas limit too small", _set(["gasLimit"], 4999), "gasLimit", "at least 5000"),
    ("gas limit too big", _set(["gasLimit"], hex(2**63)), "gasLimit", "below 2**63"),
    (
        "negative balance",
        _set(["alloc", FUNDED_KEY, "balance"], -5),
        f"alloc.{FUNDED_KEY}.balance",
        "expected a non-negative integer below 2**256 (decimal or 0x-hex), got -5",
    ),
    ("balance overflow", _set(["alloc", FUNDED_KEY, "balance"], hex(2**256)), f"alloc.{FUNDED_KEY}.balance", "2**256"),
    ("nonce overflow", _set(["alloc", FUNDED_KEY, "nonce"], 2**64), f"alloc.{FUNDED_KEY}.nonce", "2**64"),
    ("bad hex integer", _set(["alloc", FUNDED_KEY, "balance"], "0xzz"), f"alloc.{FUNDED_KEY}.balance", '"0xzz"'),
    ("hex with underscore", _set(["gasLimit"], "0x1_0000"), "gasLimit", '"0x1_0000"'),
    ("bad hex code", _set(["alloc", FUNDED_KEY, "code"], "0x60g1"), f"alloc.{FUNDED_KEY}.code", "hex"),
    ("odd hex code", _set(["alloc", FUNDED_KEY, "code"], "0x600"), f"alloc.{FUNDED_KEY}.code", "even number"),
    ("code without 0x", _set(["alloc", FUNDED_KEY, "code"], "6001"), f"alloc.{FUNDED_KEY}.code", "0x-prefixed"),
    (
        "storage value overflow",
        _set(["alloc", FUNDED_KEY, "storage", "0x01"], hex(2**256)),
        f"alloc.{FUNDED_KEY}.storage.0x01",
        "storage value",
    ),
    (
        "bad checksum alloc address",
        _rename(["alloc"], to_checksum_address(KEYS[0].address), _bad_checksum(KEYS[0].address)),
        f"alloc.{_bad_checksum(KEYS[0].address)}",
        "checksum",
    ),
    (
        "bad checksum validator address",
        _set(["validators", 1, "address"], _bad_checksum(KEYS[1].address)),
        "validators[1].address",
        to_checksum_address(KEYS[1].address),
    ),
    ("short address", _set(["permissions", "members", 0], "0x1234"), "permissions.members[0]", "20-byte"),
    ("33-byte extraData", _set(["extraData"], "0x" + "ab" * 33), "extraData", "got 33"),
    (
        "BLS key 47 bytes",
        _set(["validators", 0, "blsPublicKey"], "0x" + "aa" * 47),
        "validators[0].blsPublicKey",
        "48 bytes",
    ),
    (
        "BLS key not on curve",
        _set(["validators", 1, "blsPublicKey"], "0x" + "aa" * 48),
        "validators[1].blsPublicKey",
        "G1",
    ),
    (
        "BLS key is identity",
        _set(["validators", 2, "blsPublicKey"], "0xc0" + "00" * 47),
        "validators[2].blsPublicKey",
        "identity",
    ),
    (
        "BLS proof of another key",
        _set(["validators", 1, "blsProofOfPossession"], "0x" + KEYS[0].bls_proof_of_possession.hex()),
        "validators[1].blsProofOfPossession",
        f"wrong BLS proof of possession for validator {to_checksum_address(KEYS[1].address)}: does not verify",
    ),
    (
        "BLS proof 95 bytes",
        _set(["validators", 2, "blsProofOfPossession"], "0x" + KEYS[2].bls_proof_of_possession.hex()[:-2]),
        "validators[2].blsProofOfPossession",
        f"wrong BLS proof of possession for validator {to_checksum_address(KEYS[2].address)}: expected 96 bytes",
    ),
    (
        "BLS proof missing",
        lambda d: d["validators"][0].pop("blsProofOfPossession"),
        "validators[0].blsProofOfPossession",
        f"validator {to_checksum_address(KEYS[0].address)} has no BLS proof of possession",
    ),
    ("peer id not base58", _set(["validators", 0, "peerId"], "0OIl"), "validators[0].peerId", "peer id"),
    ("peer id not a multihash", _set(["validators", 0, "peerId"], "abc"), "validators[0].peerId", "peer id"),
    ("peer id not a key", _set(["validators", 0, "peerId"], "16Uiu2"), "validators[0].peerId", "peer id"),
    ("duplicate validator", _duplicate_validator, "validators[2].address", "also validators[0]"),
    ("no validators", _set(["validators"], []), "validators", "at least one"),
    ("validator missing peer id", lambda d: d["validators"][1].pop("peerId"), "validators[1].peerId", "missing"),
    ("missing chain id", lambda d: d.pop("chainId"), "chainId", "missing required field"),
    ("block period too short", _set(["consensus", "blockPeriodMs"], 49), "consensus.blockPeriodMs", "at least 50"),
    ("round timeout below period", _set(["consensus", "roundTimeoutMs"], 499), "consensus.roundTimeoutMs", "500"),
    (
        "max timeout below timeout",
        _set(["consensus", "maxRoundTimeoutMs"], 1000),
        "consensus.maxRoundTimeoutMs",
        "1500",
    ),
    (
        "duplicate permission entry",
        _set(["permissions", "auditors"], [FUNDED_KEY, FUNDED_KEY.upper().replace("0X", "0x")]),
        "permissions.auditors[1]",
        "duplicate",
    ),
    ("alloc not an object", _set(["alloc"], []), "alloc", "JSON object"),
    ("unknown top-level key", _rename([], "gasLimit", "gaslimit"), "gaslimit", "did you mean 'gasLimit'?"),
    (
        "unknown nested key",
        _rename(["consensus"], "blockPeriodMs", "blockPeriod"),
        "consensus.blockPeriod",
        "'blockPeriodMs'",
    ),
    (
        "unknown account key",
        _rename(["alloc", FUNDED_KEY], "balance", "balanse"),
        f"alloc.{FUNDED_KEY}.balanse",
        "'balance'",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "field_path", "fragment"), [c[1:] for c in BAD_FIELDS], ids=[c[0] for c in BAD_FIELDS]
)
def test_bad_field_is_named(mutate: Callable[[dict[str, Any]], None], field_path: str, fragment: str) -> None:
    document = copy.deepcopy(valid_document())
    mutate(document)
    with pytest.raises(GenesisFieldError) as info:
        parse_genesis(document, "genesis.json")
    assert info.value.field_path == field_path
    message = str(info.value)
    assert message.startswith(f"genesis.json: field '{field_path}': ")
    assert fragment in message


def test_negative_balance_message_is_exact() -> None:
    document = valid_document()
    document["alloc"][FUNDED_KEY]["balance"] = -5
    with pytest.raises(GenesisFieldError) as info:
        parse_genesis(document, "genesis.json")
    assert str(info.value) == (
        f"genesis.json: field 'alloc.{FUNDED_KEY}.balance': "
        "expected a non-negative integer below 2**256 (decimal or 0x-hex), got -5"
    )


def test_unknown_key_carries_suggestion() -> None:
    document = valid_document()
    document["chainID"] = document.pop("chainId")
    with pytest.raises(UnknownGenesisFieldError) as info:
        parse_genesis(document)
    assert (info.value.key, info.value.suggestion) == ("chainID", "chainId")


def test_unknown_key_without_close_match_has_no_suggestion() -> None:
    document = valid_document()
    document["zzzzzz"] = 1
    with pytest.raises(UnknownGenesisFieldError) as info:
        parse_genesis(document)
    assert info.value.suggestion is None
    assert "did you mean" not in str(info.value)


def test_same_address_spelt_twice_in_alloc() -> None:
    document = valid_document()
    document["alloc"][FUNDED_KEY.upper().replace("0X", "0x")] = {"balance": 1}
    with pytest.raises(GenesisFieldError, match="duplicate account"):
        parse_genesis(document)


def test_invalid_json_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    path.write_text('{\n  "chainId": 1337,\n  "gasLimit": 0x10\n}\n')
    with pytest.raises(GenesisJSONError) as info:
        load_genesis(path)
    assert (info.value.line, info.value.column) == (3, 16)  # the "x" after a JSON number 0
    assert "line 3, column 16" in str(info.value)
    assert str(path) in str(info.value)


def test_duplicate_json_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    document = json.dumps(valid_document())
    path.write_text(document.replace('"chainId": 1337', '"chainId": 1337, "chainId": 1338'))
    with pytest.raises(GenesisFieldError, match="appears twice") as info:
        load_genesis(path)
    assert info.value.field_path == "chainId"


def test_nan_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(valid_document()).replace('"timestamp": 1700000000', '"timestamp": NaN'))
    with pytest.raises(GenesisError, match="NaN"):
        load_genesis(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GenesisFileError, match="not found") as info:
        load_genesis(tmp_path / "nope.json")
    assert info.value.path == tmp_path / "nope.json"


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    path.write_text("[]")
    with pytest.raises(GenesisFieldError, match="expected a JSON object"):
        load_genesis(path)


def test_a_rogue_bls_key_is_refused_at_load_naming_the_validator(tmp_path: Path) -> None:
    """Issue 22, critical 2: a fourth validator registers pk_attacker - sum(honest keys).

    With it in the set, one signature by the attacker would pass as a certificate of all four
    (tests/consensus/test_certificate.py shows the forgery); it cannot prove possession of that
    key, so the genesis that lists it does not load.
    """
    from blspy import G1Element, PopSchemeMPL

    attacker = generate_validator_keys(b"\x66" * 32)
    rogue = attacker.bls_private_key().get_g1()
    for keys in KEYS:
        rogue = rogue + G1Element.from_bytes(keys.bls_public_key).negate()
    document = valid_document()
    document["validators"].append({
        "address": to_checksum_address(attacker.address), "blsPublicKey": "0x" + bytes(rogue).hex(),
        "blsProofOfPossession": "0x" + bytes(PopSchemeMPL.pop_prove(attacker.bls_private_key())).hex(),
        "peerId": attacker.peer_id,
    })
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(document))
    with pytest.raises(GenesisFieldError) as info:
        load_genesis(path)
    assert info.value.field_path == "validators[3].blsProofOfPossession"
    assert f"wrong BLS proof of possession for validator {to_checksum_address(attacker.address)}" in str(info.value)

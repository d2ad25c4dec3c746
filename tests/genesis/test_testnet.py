"""init_testnet: the files it writes load back and agree with each other."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from blspy import G1Element, G2Element, PopSchemeMPL
from multiaddr import Multiaddr

from genesis.errors import GenesisError, GenesisFieldError, OutputDirNotEmptyError, TestnetError
from genesis.keys import KeyFilePaths, read_validator_keys
from genesis.loader import load_genesis
from genesis.testnet import TESTNET_BALANCE, TestnetLayout, init_testnet
from node.config import load_config

FUNDED = bytes.fromhex("00000000000000000000000000000000000000f1")
TESTNET_ARGS: dict[str, Any] = dict(
    chain_id=4242,
    base_p2p_port=31000,
    base_rpc_port=18545,
    block_period_ms=500,
    funded_accounts=[FUNDED],
    seed=b"fixed",
)


@pytest.fixture(scope="module")
def testnet(tmp_path_factory: pytest.TempPathFactory) -> TestnetLayout:
    out_dir = tmp_path_factory.mktemp("testnet") / "net"
    return init_testnet(out_dir, validators=4, **TESTNET_ARGS)


def test_layout_files_exist(testnet: TestnetLayout) -> None:
    out = testnet.out_dir
    assert testnet.genesis_path == out / "genesis.json"
    for i in range(4):
        for name in ("config.toml", "keys/account.key", "keys/bls.key", "keys/node.key"):
            assert (out / f"node{i}" / name).is_file(), name
    assert len(testnet.nodes) == 4


def test_genesis_loads_back_and_is_what_was_returned(testnet: TestnetLayout) -> None:
    genesis = load_genesis(testnet.genesis_path)
    assert genesis == testnet.genesis
    assert genesis.chain_id == 4242
    assert genesis.consensus.block_period_ms == 500
    assert genesis.consensus.round_timeout_ms >= genesis.consensus.block_period_ms
    assert list(genesis.validators) == [node.validator for node in testnet.nodes]


def test_permissions_and_balances(testnet: TestnetLayout) -> None:
    genesis = testnet.genesis
    validator_addresses = tuple(v.address for v in genesis.validators)
    assert genesis.permissions.admins == validator_addresses
    assert genesis.permissions.deployers == validator_addresses
    assert set(genesis.permissions.members) == set(validator_addresses) | {FUNDED}
    assert genesis.permissions.auditors == ()
    assert set(genesis.alloc) == set(validator_addresses) | {FUNDED}
    assert all(account.balance == TESTNET_BALANCE == 10**24 for account in genesis.alloc.values())


def test_keys_are_readable_and_match_genesis(testnet: TestnetLayout) -> None:
    for node, validator in zip(testnet.nodes, testnet.genesis.validators, strict=True):
        config = load_config(node.config_path)
        keys = read_validator_keys(KeyFilePaths(config.keys.account_key, config.keys.bls_key, config.keys.node_key))
        assert keys.address == validator.address
        assert keys.bls_public_key == validator.bls_public_key
        assert PopSchemeMPL.pop_verify(G1Element.from_bytes(validator.bls_public_key),
                                       G2Element.from_bytes(validator.bls_proof_of_possession))
        assert keys.peer_id == validator.peer_id
        assert stat.S_IMODE(config.keys.bls_key.stat().st_mode) == 0o600


def test_configs_load_with_unique_ports_and_full_mesh_bootstrap(testnet: TestnetLayout) -> None:
    configs = [load_config(node.config_path) for node in testnet.nodes]
    rpc_ports = [c.rpc.port for c in configs]
    p2p_ports = [int(Multiaddr(c.p2p.listen).value_for_protocol("tcp")) for c in configs]
    metrics_ports = [c.metrics.port for c in configs]
    assert rpc_ports == [18545, 18546, 18547, 18548]
    assert p2p_ports == [31000, 31001, 31002, 31003]
    assert metrics_ports == [9100, 9101, 9102, 9103]
    all_ports = rpc_ports + p2p_ports + metrics_ports
    assert len(set(all_ports)) == len(all_ports)

    peer_ids = [v.peer_id for v in testnet.genesis.validators]
    for i, config in enumerate(configs):
        assert config.node.role == "validator"
        assert config.node.genesis == testnet.genesis_path
        assert config.node.data_dir == testnet.out_dir / f"node{i}" / "data"
        dialled = {
            Multiaddr(a).get_peer_id(): int(Multiaddr(a).value_for_protocol("tcp")) for a in config.p2p.bootstrap
        }
        assert dialled == {peer_ids[j]: p2p_ports[j] for j in range(4) if j != i}


def test_config_paths_are_relative_on_disk(testnet: TestnetLayout) -> None:
    text = testnet.nodes[0].config_path.read_text()
    assert 'data_dir = "data"' in text
    assert 'genesis = "../genesis.json"' in text
    assert str(testnet.out_dir) not in text


def test_seeded_testnets_are_reproducible(tmp_path: Path, testnet: TestnetLayout) -> None:
    again = init_testnet(tmp_path / "again", validators=4, **TESTNET_ARGS)
    assert again.genesis == testnet.genesis
    assert init_testnet(tmp_path / "unseeded", validators=4).genesis.validators != testnet.genesis.validators


def test_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(OutputDirNotEmptyError) as info:
        init_testnet(tmp_path, validators=1)
    assert isinstance(info.value, GenesisError)
    assert info.value.path == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_accepts_an_existing_empty_directory(tmp_path: Path) -> None:
    layout = init_testnet(tmp_path, validators=1)
    assert load_config(layout.nodes[0].config_path).p2p.bootstrap == ()


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"validators": 0}, "validators"),
        ({"validators": 2, "base_rpc_port": 65535}, "base_rpc_port"),
        ({"validators": 4, "base_rpc_port": 30298}, "base_p2p_port"),  # 30298..30301 overlaps 30300..
        ({"validators": 1, "funded_accounts": [b"\x01" * 19]}, "funded_accounts"),
    ],
)
def test_bad_parameters_write_nothing(tmp_path: Path, kwargs: dict[str, Any], parameter: str) -> None:
    out_dir = tmp_path / "net"
    with pytest.raises(TestnetError) as info:
        init_testnet(out_dir, **kwargs)
    assert info.value.parameter == parameter
    assert not out_dir.exists()


def test_bad_genesis_parameter_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(GenesisFieldError) as info:
        init_testnet(tmp_path / "net", validators=1, block_period_ms=10)
    assert info.value.field_path == "consensus.blockPeriodMs"
    assert not (tmp_path / "net").exists()

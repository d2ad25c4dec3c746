"""Laying out a local test network: keys, a shared genesis, and one config per node.

``init_testnet`` produces a directory that ``settle node run --config
nodeN/config.toml`` can start from directly::

    out_dir/
      genesis.json
      node0/config.toml
      node0/keys/{account,bls,node}.key
      node1/...

Every node listens on 127.0.0.1 with its own P2P, RPC and metrics port, and
bootstraps from all the others. Config paths are relative, so the directory
can be moved as a whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from genesis.errors import GenesisError, OutputDirNotEmptyError, TestnetError
from genesis.keys import KeyFilePaths, ValidatorKeys, generate_validator_keys, write_validator_keys
from genesis.loader import genesis_to_json, parse_genesis, write_genesis
from genesis.model import ConsensusParams, Genesis, GenesisAccount, GenesisValidator, PermissionsConfig
from node.config import config_to_toml, parse_config

TESTNET_BALANCE = 10**24
"""Wei given to each validator and funded account (one million ether)."""

TESTNET_GAS_LIMIT = 30_000_000
"""Block gas limit of a testnet, as on Ethereum mainnet."""

BASE_METRICS_PORT = 9100
"""Node ``i`` serves metrics on ``BASE_METRICS_PORT + i`` (disabled by default)."""


@dataclass(frozen=True, slots=True)
class TestnetNode:
    """Where one testnet node's files are, and who it is."""

    __test__ = False  # not a pytest test class, despite the name

    index: int
    """Position in the validator set, from 0."""

    directory: Path
    """The node's directory, ``out_dir/node<index>``."""

    config_path: Path
    """The node's ``config.toml``."""

    key_paths: KeyFilePaths
    """The node's three key files."""

    validator: GenesisValidator
    """The node's public identities, as written in genesis."""

    p2p_address: str
    """Multiaddr other nodes dial, ending in ``/p2p/<peer id>``."""

    rpc_port: int
    """JSON-RPC port on 127.0.0.1."""

    metrics_port: int
    """Prometheus port on 127.0.0.1 (metrics are off unless enabled in the config)."""


@dataclass(frozen=True, slots=True)
class TestnetLayout:
    """What ``init_testnet`` wrote."""

    __test__ = False

    out_dir: Path
    """The testnet directory."""

    genesis_path: Path
    """The shared ``genesis.json``."""

    genesis: Genesis
    """The genesis that was written."""

    nodes: tuple[TestnetNode, ...]
    """One entry per validator node, in validator order."""


def _check_parameters(
    validators: int, chain_id: int, base_p2p_port: int, base_rpc_port: int, funded_accounts: Sequence[bytes]
) -> None:
    if validators < 1:
        raise TestnetError("validators", validators, "at least one validator is required")
    ranges = {
        "base_p2p_port": range(base_p2p_port, base_p2p_port + validators),
        "base_rpc_port": range(base_rpc_port, base_rpc_port + validators),
        "metrics ports": range(BASE_METRICS_PORT, BASE_METRICS_PORT + validators),
    }
    for name, ports in ranges.items():
        if ports.start < 1 or ports.stop - 1 > 65535:
            raise TestnetError(name, ports.start, f"ports {ports.start}..{ports.stop - 1} are not all in 1..65535")
    names = list(ranges)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if set(ranges[first]) & set(ranges[second]):
                raise TestnetError(first, ranges[first].start, f"its {validators} ports overlap the {second}")
    for account in funded_accounts:
        if not isinstance(account, bytes) or len(account) != 20:
            raise TestnetError("funded_accounts", account, "each account must be a 20-byte address")


def _node_seed(seed: bytes, index: int) -> bytes:
    return hashlib.sha256(b"settle/testnet/" + seed + index.to_bytes(4, "big")).digest()


def _node_config_toml(
    node_dir: Path, p2p_port: int, rpc_port: int, metrics_port: int, bootstrap: list[str]
) -> str:
    config = parse_config(
        {
            "node": {"data_dir": "data", "genesis": "../genesis.json", "role": "validator"},
            "rpc": {"port": rpc_port},
            "p2p": {"listen": f"/ip4/127.0.0.1/tcp/{p2p_port}", "bootstrap": bootstrap},
            "metrics": {"port": metrics_port},
        },
        node_dir,
        str(node_dir / "config.toml"),
    )
    return config_to_toml(config, base_dir=node_dir)


def init_testnet(
    out_dir: Path,
    validators: int,
    chain_id: int = 1337,
    base_p2p_port: int = 30300,
    base_rpc_port: int = 8545,
    block_period_ms: int = 1000,
    funded_accounts: Sequence[bytes] = (),
    seed: bytes | None = None,
) -> TestnetLayout:
    """Generate keys, a genesis and node configs for ``validators`` local nodes.

    Every validator is admin, member and deployer; funded accounts are members
    (so they can send transactions); each gets ``TESTNET_BALANCE`` wei. With
    ``seed`` the whole layout is reproducible. Refuses a non-empty ``out_dir``
    so that existing keys are never overwritten.
    """
    out_dir = Path(out_dir).absolute()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputDirNotEmptyError(out_dir)
    _check_parameters(validators, chain_id, base_p2p_port, base_rpc_port, funded_accounts)

    # Generous: a validator executing a large block on a loaded machine must not trigger round
    # changes (each one costs a re-proposal); a crashed proposer costs this long once per height.
    round_timeout_ms = max(5 * block_period_ms, 5000)
    keys: list[ValidatorKeys] = [
        generate_validator_keys(None if seed is None else _node_seed(seed, i)) for i in range(validators)
    ]
    genesis_validators = tuple(k.genesis_validator() for k in keys)
    addresses = tuple(v.address for v in genesis_validators)
    members = addresses + tuple(a for a in dict.fromkeys(funded_accounts) if a not in addresses)
    genesis = Genesis(
        chain_id=chain_id,
        gas_limit=TESTNET_GAS_LIMIT,
        timestamp=0,
        extra_data=b"",
        alloc={address: GenesisAccount(balance=TESTNET_BALANCE) for address in members},
        validators=genesis_validators,
        consensus=ConsensusParams(
            block_period_ms=block_period_ms,
            round_timeout_ms=round_timeout_ms,
            max_round_timeout_ms=max(ConsensusParams().max_round_timeout_ms, round_timeout_ms),
        ),
        permissions=PermissionsConfig(admins=addresses, members=members, deployers=addresses),
    )

    nodes: list[TestnetNode] = []
    for i, validator in enumerate(genesis_validators):
        node_dir = out_dir / f"node{i}"
        keys_dir = node_dir / "keys"
        nodes.append(
            TestnetNode(
                index=i,
                directory=node_dir,
                config_path=node_dir / "config.toml",
                key_paths=KeyFilePaths(keys_dir / "account.key", keys_dir / "bls.key", keys_dir / "node.key"),
                validator=validator,
                p2p_address=f"/ip4/127.0.0.1/tcp/{base_p2p_port + i}/p2p/{validator.peer_id}",
                rpc_port=base_rpc_port + i,
                metrics_port=BASE_METRICS_PORT + i,
            )
        )

    # Validate everything before the first write, so a bad parameter leaves no files.
    parse_genesis(genesis_to_json(genesis), "testnet genesis")
    configs = [
        _node_config_toml(
            node.directory,
            base_p2p_port + node.index,
            node.rpc_port,
            node.metrics_port,
            [other.p2p_address for other in nodes if other is not node],
        )
        for node in nodes
    ]
    genesis_path = out_dir / "genesis.json"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_genesis(genesis, genesis_path)
        for node, config_text, node_keys in zip(nodes, configs, keys, strict=True):
            write_validator_keys(node.key_paths, node_keys)
            node.config_path.write_text(config_text, encoding="utf-8")
    except OSError as exc:
        raise GenesisError(f"{out_dir}: cannot write testnet: {exc}") from None
    return TestnetLayout(out_dir=out_dir, genesis_path=genesis_path, genesis=genesis, nodes=tuple(nodes))


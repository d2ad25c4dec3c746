"""Node configuration: defaults, path resolution, errors and round-trip."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from genesis.keys import generate_validator_keys
from node.config import (
    ConfigError,
    ConfigFieldError,
    ConfigFileError,
    ConfigSyntaxError,
    NodeConfig,
    UnknownConfigKeyError,
    config_to_toml,
    default_config,
    load_config,
    parse_config,
)

PEER_ID = generate_validator_keys(b"\7" * 32).peer_id


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_empty_file_gives_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.node.data_dir == tmp_path / ".settle" / "node"
    assert config.node.genesis == tmp_path / "genesis.json"
    assert config.node.role == "validator"
    assert config.keys.account_key == tmp_path / "keys" / "account.key"
    assert config.keys.bls_key == tmp_path / "keys" / "bls.key"
    assert config.keys.node_key == tmp_path / "keys" / "node.key"
    rpc = config.rpc
    assert (rpc.enabled, rpc.host, rpc.port, rpc.cors_origins) == (True, "127.0.0.1", 8545, ())
    assert (rpc.gas_cap, rpc.batch_limit, rpc.max_request_bytes, rpc.admin_token) == (50_000_000, 100, 5_242_880, "")
    assert config.p2p.listen == "/ip4/127.0.0.1/tcp/30300"
    assert config.p2p.bootstrap == ()
    mempool = config.mempool
    assert (mempool.max_transactions, mempool.max_per_sender, mempool.max_transaction_bytes) == (10_000, 1_000, 131_072)
    assert (config.metrics.enabled, config.metrics.host, config.metrics.port) == (False, "127.0.0.1", 9100)
    assert (config.log.level, config.log.format) == ("info", "console")
    assert config.source_path == tmp_path / "config.toml"


def test_defaults_match_the_dataclass_defaults(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, ""))
    built = NodeConfig()
    for section in ("rpc", "p2p", "mempool", "metrics", "log"):
        assert getattr(loaded, section) == getattr(built, section)
    assert loaded.node.role == built.node.role


def test_every_field_can_be_set(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[node]
data_dir = "/var/lib/settle"
genesis = "../chain/genesis.json"
role = "auditor"
[keys]
account_key = "secrets/a.key"
bls_key = "secrets/b.key"
node_key = "secrets/n.key"
[rpc]
enabled = false
host = "0.0.0.0"
port = 8600
cors_origins = ["*"]
gas_cap = 1000
batch_limit = 5
max_request_bytes = 1024
admin_token = "s3cret-token"
[p2p]
listen = "/ip4/0.0.0.0/tcp/31000"
bootstrap = ["/ip4/10.0.0.2/tcp/30300/p2p/{PEER_ID}"]
[mempool]
max_transactions = 50
max_per_sender = 50
max_transaction_bytes = 2048
[metrics]
enabled = true
host = "0.0.0.0"
port = 9200
[log]
level = "debug"
format = "json"
""",
    )
    config = load_config(path)
    assert config.node.data_dir == Path("/var/lib/settle")
    assert config.node.genesis == tmp_path.parent / "chain" / "genesis.json"  # ".." normalised away
    assert config.node.role == "auditor"
    assert config.keys.bls_key == tmp_path / "secrets" / "b.key"
    assert config.rpc.enabled is False
    assert (config.rpc.host, config.rpc.port, config.rpc.cors_origins) == ("0.0.0.0", 8600, ("*",))
    assert (config.rpc.gas_cap, config.rpc.batch_limit, config.rpc.max_request_bytes) == (1000, 5, 1024)
    assert config.rpc.admin_token == "s3cret-token"
    assert config.p2p.bootstrap == (f"/ip4/10.0.0.2/tcp/30300/p2p/{PEER_ID}",)
    assert config.mempool.max_per_sender == 50
    assert (config.metrics.enabled, config.metrics.port) == (True, 9200)
    assert (config.log.level, config.log.format) == ("debug", "json")


def test_relative_paths_resolve_against_the_config_directory_not_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = tmp_path / "etc" / "node1"
    config_dir.mkdir(parents=True)
    write(config_dir, '[node]\ndata_dir = "data"\n')
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("etc/node1/config.toml"))
    assert config.node.data_dir == config_dir / "data"
    assert config.node.data_dir.is_absolute()
    assert config.keys.node_key == config_dir / "keys" / "node.key"


def test_home_directory_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(write(tmp_path, '[node]\ndata_dir = "~/settle"\n'))
    assert config.node.data_dir == tmp_path / "home" / "settle"


def test_admin_token_is_not_in_repr() -> None:
    config = default_config(rpc={"admin_token": "hunter2-hunter2"})
    assert config.rpc.admin_token == "hunter2-hunter2"
    assert "hunter2" not in repr(config)


def test_default_config_overrides_are_validated(tmp_path: Path) -> None:
    config = default_config(tmp_path, rpc={"port": 8546}, node={"data_dir": "d"})
    assert config.rpc.port == 8546
    assert config.node.data_dir == tmp_path / "d"
    with pytest.raises(ConfigFieldError, match=r"\[rpc\] port"):
        default_config(rpc={"port": 0})
    with pytest.raises(UnknownConfigKeyError, match=r"did you mean \[rpc\]"):
        default_config(rcp={"port": 1})


def test_toml_round_trip_absolute_and_relative(tmp_path: Path) -> None:
    config = default_config(
        tmp_path,
        rpc={"cors_origins": ["https://a.example"], "admin_token": "t" * 20},
        p2p={"bootstrap": [f"/ip4/127.0.0.1/tcp/1/p2p/{PEER_ID}"]},
        log={"format": "json"},
    )
    absolute = config_to_toml(config)
    assert str(tmp_path) in absolute
    assert load_config(write(tmp_path, absolute)) == config

    moved = tmp_path / "moved"
    moved.mkdir()
    relative = config_to_toml(config, base_dir=tmp_path)
    assert str(tmp_path) not in relative
    assert tomllib.loads(relative)["node"]["data_dir"] == ".settle/node"
    reloaded = load_config(write(moved, relative))
    assert reloaded.node.data_dir == moved / ".settle" / "node"
    assert reloaded.rpc == config.rpc


def _field_error(tmp_path: Path, text: str) -> ConfigFieldError:
    with pytest.raises(ConfigFieldError) as info:
        load_config(write(tmp_path, text))
    return info.value


BAD_VALUES = [
    # (TOML text, section, key, fragment of the message after "<path>: [section] key: ")
    ('[rpc]\nport = "abc"', "rpc", "port", '[rpc] port: expected an integer 1..65535, got "abc"'),
    ("[rpc]\nport = 70000", "rpc", "port", "[rpc] port: expected an integer 1..65535, got 70000"),
    ("[rpc]\nport = true", "rpc", "port", "[rpc] port: expected an integer 1..65535, got true"),
    ("[rpc]\nport = 8545.0", "rpc", "port", "[rpc] port: expected an integer 1..65535, got 8545.0"),
    ('[rpc]\nenabled = "yes"', "rpc", "enabled", '[rpc] enabled: expected true or false, got "yes"'),
    ('[rpc]\nhost = ""', "rpc", "host", '[rpc] host: expected a host name or IP address, got ""'),
    ("[rpc]\ngas_cap = 0", "rpc", "gas_cap", "[rpc] gas_cap: expected an integer >= 1, got 0"),
    ('[rpc]\ncors_origins = "*"', "rpc", "cors_origins", "[rpc] cors_origins: expected a list of origins"),
    ("[rpc]\nadmin_token = 5", "rpc", "admin_token", "[rpc] admin_token: expected a string, got 5"),
    (
        '[node]\nrole = "miner"',
        "node",
        "role",
        '[node] role: expected one of "validator", "auditor", "dev", got "miner"',
    ),
    ('[node]\ndata_dir = ""', "node", "data_dir", '[node] data_dir: expected a non-empty path string, got ""'),
    ("[keys]\nbls_key = 3", "keys", "bls_key", "[keys] bls_key: expected a non-empty path string, got 3"),
    ('[p2p]\nlisten = "tcp:30300"', "p2p", "listen", "[p2p] listen: expected a multiaddr"),
    ('[p2p]\nlisten = "/ip4/127.0.0.1/udp/1"', "p2p", "listen", "with /tcp and without /p2p"),
    ('[p2p]\nbootstrap = "/ip4/10.0.0.2/tcp/1"', "p2p", "bootstrap", "[p2p] bootstrap: expected a list of multiaddrs"),
    (
        "[mempool]\nmax_transactions = -1",
        "mempool",
        "max_transactions",
        "[mempool] max_transactions: expected an integer >= 1",
    ),
    (
        "[mempool]\nmax_transactions = 10\nmax_per_sender = 11",
        "mempool",
        "max_per_sender",
        "[mempool] max_per_sender: must not exceed max_transactions (10), got 11",
    ),
    ("[p2p]\npeer_message_rate = 0", "p2p", "peer_message_rate", "[p2p] peer_message_rate: expected a number > 0"),
    ("[p2p]\npeer_ban_seconds = true", "p2p", "peer_ban_seconds", "[p2p] peer_ban_seconds: expected a number > 0"),
    ("[p2p]\npeer_score_decay = -1.5", "p2p", "peer_score_decay", "[p2p] peer_score_decay: expected a number >= 0"),
    ("[p2p]\nmax_rlp_depth = 0", "p2p", "max_rlp_depth", "[p2p] max_rlp_depth: expected an integer 1..1000, got 0"),
    (
        "[p2p]\nmax_frame_bytes = 2097152\nsend_queue_bytes = 1048576",
        "p2p",
        "send_queue_bytes",
        "[p2p] send_queue_bytes: must be at least max_frame_bytes (2097152), got 1048576",
    ),
    ("[p2p]\nwrite_timeout = 0", "p2p", "write_timeout", "[p2p] write_timeout: expected a number > 0"),
    ("[p2p]\nmax_frame_bytes = 10", "p2p", "max_frame_bytes", "[p2p] max_frame_bytes: expected an integer"),
    (
        "[mempool]\nmax_per_sender = 10\naccount_slots = 11",
        "mempool",
        "account_slots",
        "[mempool] account_slots: must not exceed max_per_sender (10), got 11",
    ),
    ('[log]\nlevel = "trace"', "log", "level", '[log] level: expected one of "debug", "info", "warning", "error"'),
    ('[log]\nformat = "xml"', "log", "format", '[log] format: expected one of "console", "json", got "xml"'),
    (
        "[metrics]\nenabled = true\nport = 8545",
        "metrics",
        "port",
        "[metrics] port: 8545 is already the [rpc] port on 127.0.0.1",
    ),
    ('rpc = "on"', "rpc", None, '[rpc]: expected a table, got "on"'),
]


@pytest.mark.parametrize(("text", "section", "key", "message"), BAD_VALUES, ids=[b[3][:40] for b in BAD_VALUES])
def test_bad_value_names_file_section_and_key(
    tmp_path: Path, text: str, section: str, key: str | None, message: str
) -> None:
    error = _field_error(tmp_path, text)
    assert (error.section, error.key) == (section, key)
    where = f"[{section}] {key}" if key is not None else f"[{section}]"
    assert str(error).startswith(f"{tmp_path / 'config.toml'}: {where}: ")
    assert message in str(error)


@pytest.mark.parametrize(
    ("entries", "index", "fragment"),
    [
        ([f"/ip4/10.0.0.1/tcp/1/p2p/{PEER_ID}", "/ip4/10.0.0.2/tcp/30300"], 1, "(no /p2p/ component)"),
        (["/ip4/10.0.0.2/tcp/30300/p2p/xyz"], 0, 'got "/ip4/10.0.0.2/tcp/30300/p2p/xyz"'),
        ([7], 0, "got 7"),
    ],
)
def test_bad_bootstrap_entry_is_named_by_index(tmp_path: Path, entries: list[Any], index: int, fragment: str) -> None:
    with pytest.raises(ConfigFieldError) as info:
        parse_config({"p2p": {"bootstrap": entries}}, tmp_path, "config.toml")
    assert (info.value.key, info.value.index) == ("bootstrap", index)
    assert str(info.value).startswith(
        f"config.toml: [p2p] bootstrap[{index}]: expected a multiaddr ending in /p2p/<peer id>, "
    )
    assert fragment in str(info.value)


def test_port_message_is_exact_with_a_relative_source() -> None:
    with pytest.raises(ConfigFieldError) as info:
        parse_config({"rpc": {"port": "abc"}}, Path("/"), "config.toml")
    assert str(info.value) == 'config.toml: [rpc] port: expected an integer 1..65535, got "abc"'


def test_metrics_port_may_equal_rpc_port_when_rpc_is_disabled(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[rpc]\nenabled = false\n[metrics]\nenabled = true\nport = 8545\n"))
    assert config.metrics.port == config.rpc.port == 8545


@pytest.mark.parametrize(
    ("text", "section", "key", "suggestion"),
    [
        ("[rpc]\nprot = 1", "rpc", "prot", "port"),
        ("[mempool]\nmax_transaction = 1", "mempool", "max_transaction", "max_transactions"),
        ("[rcp]\nport = 1", "rcp", None, "rpc"),
        ("[Metrics]\n", "Metrics", None, "metrics"),
        ("[rpc]\nzzzz = 1", "rpc", "zzzz", None),
    ],
)
def test_unknown_names_are_rejected_with_a_suggestion(
    tmp_path: Path, text: str, section: str, key: str | None, suggestion: str | None
) -> None:
    with pytest.raises(UnknownConfigKeyError) as info:
        load_config(write(tmp_path, text))
    error = info.value
    assert (error.section, error.key, error.suggestion) == (section, key, suggestion)
    assert ("did you mean" in str(error)) == (suggestion is not None)
    assert f"[{section}]" in str(error)


def test_unknown_key_message(tmp_path: Path) -> None:
    with pytest.raises(UnknownConfigKeyError) as info:
        parse_config({"rpc": {"prot": 1}}, tmp_path, "config.toml")
    assert str(info.value) == 'config.toml: [rpc] prot: unknown key; did you mean "port"?'


def test_invalid_toml_reports_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "[rpc]\nport = 8545\nhost = \n")
    with pytest.raises(ConfigSyntaxError) as info:
        load_config(path)
    assert (info.value.line, info.value.column) == (3, 8)
    assert str(info.value).startswith(f"{path}: invalid TOML: ")
    assert "line 3, column 8" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="not found") as info:
        load_config(tmp_path / "absent.toml")
    assert info.value.path == tmp_path / "absent.toml"


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[rpc]\nhost = "\xff"\n')
    with pytest.raises(ConfigFileError, match="UTF-8"):
        load_config(path)


def test_every_error_is_a_config_error() -> None:
    for cls in (ConfigFileError, ConfigSyntaxError, ConfigFieldError, UnknownConfigKeyError):
        assert issubclass(cls, ConfigError)
    bad: dict[str, Any] = {"log": {"level": 1}}
    with pytest.raises(ConfigError):
        parse_config(bad, Path("/"), "x")


def test_liveness_and_storage_keys_are_read_and_checked(tmp_path: Path) -> None:
    config = parse_config({"p2p": {"ping_interval": 0.5, "ping_timeout": 1.5, "ping_failures_before_disconnect": 3,
                                   "dial_timeout": 2.0, "request_timeout": 4.0, "unreachable_proposer_grace": 0.1},
                           "storage": {"leveldb_cache_mb": 16, "leveldb_write_buffer_mb": 8}},
                          tmp_path, "config.toml")
    assert (config.p2p.ping_interval, config.p2p.ping_timeout, config.p2p.ping_failures_before_disconnect) == (
        0.5, 1.5, 3)
    assert (config.p2p.dial_timeout, config.p2p.request_timeout, config.p2p.unreachable_proposer_grace) == (
        2.0, 4.0, 0.1)
    assert (config.storage.leveldb_cache_mb, config.storage.leveldb_write_buffer_mb) == (16, 8)
    with pytest.raises(ConfigFieldError, match="ping_timeout"):
        parse_config({"p2p": {"ping_timeout": 0}}, tmp_path, "config.toml")
    with pytest.raises(ConfigFieldError, match="leveldb_cache_mb"):
        parse_config({"storage": {"leveldb_cache_mb": 0}}, tmp_path, "config.toml")


def test_direct_stream_keys_are_read_and_reach_the_network_settings(tmp_path: Path) -> None:
    config = parse_config({"p2p": {"max_frame_bytes": 1 << 20, "send_queue_bytes": 4 << 20, "write_timeout": 2.5}},
                          tmp_path, "config.toml")
    assert (config.p2p.max_frame_bytes, config.p2p.send_queue_bytes, config.p2p.write_timeout) == (
        1 << 20, 4 << 20, 2.5)
    defaults = parse_config({}, tmp_path, "config.toml").p2p
    assert (defaults.max_frame_bytes, defaults.send_queue_bytes, defaults.write_timeout) == (
        8 * 1024 * 1024, 16 * 1024 * 1024, 5.0)

"""Node configuration: a TOML file in, a frozen :class:`NodeConfig` out.

Every setting is declared once, below, as a dataclass field with its default,
its docstring and its validation rule; the parser, the defaults and
:func:`config_to_toml` all read those declarations, so they cannot drift apart.

A complete file with every default::

    [node]
    data_dir = ".settle/node"   # relative paths are relative to this file's directory
    genesis = "genesis.json"
    role = "validator"          # "validator" | "auditor" | "dev"

    [keys]
    account_key = "keys/account.key"
    bls_key = "keys/bls.key"
    node_key = "keys/node.key"

    [rpc]
    enabled = true
    host = "127.0.0.1"
    port = 8545
    cors_origins = []           # ["*"] allows any origin
    gas_cap = 50000000
    evm_timeout_ms = 5000       # wall-clock limit of one eth_call / eth_estimateGas / log query
    execution_workers = 2       # threads running those, at once
    batch_limit = 100
    max_request_bytes = 5242880
    admin_token = ""            # empty: admin_ methods disabled
    apis = []                   # namespaces served, e.g. ["eth", "net", "web3"]; empty: all
    # DoS limits (docs/limits.md)
    max_json_depth = 64
    batch_cost_budget = 1000
    batch_response_max_bytes = 25000000
    fee_history_max_blocks = 1024
    fee_history_max_percentiles = 100
    logs_max_block_range = 10000
    logs_max_results = 10000
    logs_max_response_bytes = 10485760
    max_filters = 1000
    filters_per_client = 100
    filter_timeout_seconds = 300
    filter_max_changes = 10000
    max_subscriptions = 10000
    subscriptions_per_connection = 128
    ws_send_queue = 4096
    override_max_accounts = 1000
    simulate_max_blocks = 256
    simulate_max_calls = 1000
    dev_mine_max_blocks = 256
    dev_max_snapshots = 1000

    [p2p]
    listen = "/ip4/127.0.0.1/tcp/30300"
    bootstrap = []              # multiaddrs ending in /p2p/<peer id>
    max_rlp_depth = 16          # nested RLP lists in a peer's message
    peer_message_rate = 500.0   # messages/s per peer, then dropped and penalised
    peer_message_burst = 5000
    peer_ban_score = 100.0      # malformed message 25, message over the rate 1
    peer_score_decay = 1.0      # points forgiven per second
    peer_ban_seconds = 60.0
    # liveness (issue 26)
    ping_interval = 1.0         # seconds between pings of each peer, one task per peer
    ping_timeout = 2.0          # a peer missing a ping is left out of bft_status peers
    ping_failures_before_disconnect = 2
    dial_timeout = 3.0
    unreachable_proposer_grace = 0.25  # round-0 wait for a proposer not answering pings
    request_timeout = 10.0      # status/blocks requests, hard deadline
    # compact proposals (issue 21)
    compact_proposals = true    # proposals carry transaction hashes, not the transactions
    proposal_fetch_timeout = 1.0  # fetching a compact proposal's missing transactions
    max_fetch_transactions = 1024  # per compact proposal; lacking more, it is dropped
    # direct streams (issue 21)
    max_frame_bytes = 8388608   # largest frame sent or accepted (8 MiB)
    send_queue_bytes = 16777216 # frames queued per peer, then dropped for that peer (16 MiB)
    write_timeout = 5.0         # a write stuck this long aborts the peer's connection

    [storage]
    leveldb_cache_mb = 8        # native memory, outside Python's heap
    leveldb_write_buffer_mb = 4
    recent_blocks = 64          # decoded blocks kept for receipt and log queries
    trie_node_cache = 4096      # storage-trie inner nodes kept decoded (about 1 KB each)

    [mempool]
    max_transactions = 10000
    max_per_sender = 1000
    max_transaction_bytes = 131072
    account_slots = 16          # guaranteed per sender when full (eviction, see node/mempool.py)

    [metrics]
    enabled = false
    host = "127.0.0.1"
    port = 9100

    [log]
    level = "info"              # debug | info | warning | error
    format = "console"          # console | json

    [anchor]                    # Bitcoin anchoring (docs/anchoring.md); validators only
    enabled = false
    rpc_url = "http://127.0.0.1:8332/"
    rpc_user = ""
    rpc_password = ""           # or rpc_cookie_file
    rpc_cookie_file = ""
    wallet = ""
    network = "mainnet"         # mainnet | testnet | signet | regtest
    fee_rate = 10.0             # sat/vB
    interval_blocks = 100
    confirmations = 6
    duty_timeout_seconds = 600
    poll_seconds = 5.0
    rpc_timeout_seconds = 30.0
    scan_depth_blocks = 144
    max_in_flight = 20
    rpc_max_records = 1000

Every section and key may be left out. Unknown sections and keys are errors,
because a misspelt key silently falling back to its default is how a node ends
up serving admin RPC on the wrong interface.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomli_w
from multiaddr import Multiaddr

from genesis.keys import check_peer_id

Role = Literal["validator", "auditor", "dev"]
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["console", "json"]


# --- errors ---


class ConfigError(Exception):
    """Root of every error raised while loading a node configuration."""


class ConfigFileError(ConfigError):
    """The configuration file could not be read."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ConfigSyntaxError(ConfigError):
    """The file is not valid TOML. ``line``/``column`` are 1-based, when tomllib gives them."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        position = re.search(r"at line (\d+), column (\d+)", problem)
        self.line = int(position.group(1)) if position else None
        self.column = int(position.group(2)) if position else None
        super().__init__(f"{source}: invalid TOML: {problem}")


class ConfigFieldError(ConfigError):
    """A section or key has a bad value.

    ``key`` is None when the whole section is at fault; ``index`` names the bad
    element of a list value.
    """

    def __init__(self, source: str, section: str, key: str | None, problem: str, index: int | None = None) -> None:
        self.source = source
        self.section = section
        self.key = key
        self.index = index
        """Position of the bad element when the value is a list."""
        self.problem = problem
        where = f"[{section}]" if key is None else f"[{section}] {key}" + (f"[{index}]" if index is not None else "")
        super().__init__(f"{source}: {where}: {problem}")


class UnknownConfigKeyError(ConfigFieldError):
    """A section or key the format does not define; ``suggestion`` is the closest known name."""

    def __init__(self, source: str, section: str, key: str | None, suggestion: str | None) -> None:
        self.suggestion = suggestion
        if key is None:
            problem = "unknown section" + (f"; did you mean [{suggestion}]?" if suggestion else "")
        else:
            problem = "unknown key" + (f'; did you mean "{suggestion}"?' if suggestion else "")
        super().__init__(source, section, key, problem)


# --- value checks: each returns the parsed value or raises _Invalid(expected) ---


class _Invalid(Exception):
    """``expected`` completes "expected ..."; for a bad list element, ``index`` and
    ``element`` name it and ``detail`` says what is wrong with it."""

    def __init__(self, expected: str, *, index: int | None = None, element: Any = None, detail: str = "") -> None:
        self.expected = expected
        self.index = index
        self.element = element
        self.detail = detail


_Check = Callable[[Any], Any]


def _integer(low: int, high: int | None = None) -> _Check:
    expected = f"an integer {low}..{high}" if high is not None else f"an integer >= {low}"

    def check(value: Any) -> int:
        # bool is an int subclass in Python; `port = true` is a mistake, not 1.
        if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
            raise _Invalid(expected)
        return value

    return check


def _number(low: float, high: float = math.inf, *, inclusive: bool = True) -> _Check:
    """A finite number from ``low`` (itself allowed when ``inclusive``) up to ``high``."""
    if high != math.inf:
        expected = f"a number {low:g}..{high:g}"
    else:
        expected = f"a number {'>=' if inclusive else '>'} {low:g}"

    def check(value: Any) -> float:
        if (not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value)
                or value < low or (value == low and not inclusive) or value > high):
            raise _Invalid(expected)
        return float(value)

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("true or false")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("a string")
    return value


def _host(value: Any) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise _Invalid("a host name or IP address")
    return value


def _choice(*options: str) -> _Check:
    expected = "one of " + ", ".join(f'"{o}"' for o in options)

    def check(value: Any) -> str:
        if value not in options:
            raise _Invalid(expected)
        return str(value)

    return check


def _path(value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise _Invalid("a non-empty path string")
    return Path(value).expanduser()


def _origins(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _Invalid('a list of origins such as ["https://app.example"], or ["*"]')
    return tuple(value)


#: JSON-RPC namespaces an operator may list in ``[rpc] apis``.
RPC_NAMESPACES = ("eth", "net", "web3", "bft", "anchor", "txpool", "rpc", "evm", "hardhat", "audit", "admin")


def _namespaces(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v in RPC_NAMESPACES for v in value):
        raise _Invalid(f"a list of JSON-RPC namespaces among {', '.join(RPC_NAMESPACES)} (empty: all)")
    return tuple(value)


def _listen_address(value: Any) -> str:
    expected = 'a multiaddr such as "/ip4/0.0.0.0/tcp/30300"'
    if not isinstance(value, str):
        raise _Invalid(expected)
    try:
        address = Multiaddr(value)
    except Exception:  # multiaddr raises several ValueError and TypeError subclasses
        raise _Invalid(expected) from None
    if "tcp" not in [p.name for p in address.protocols()] or address.get_peer_id() is not None:
        raise _Invalid(expected + " (with /tcp and without /p2p)")
    return value


def _bootstrap(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Invalid('a list of multiaddrs such as ["/ip4/10.0.0.2/tcp/30300/p2p/12D3KooW…"]')
    expected = "a multiaddr ending in /p2p/<peer id>"
    for index, entry in enumerate(value):
        if not isinstance(entry, str):
            raise _Invalid(expected, index=index, element=entry)
        try:
            peer_id = Multiaddr(entry).get_peer_id()
            if peer_id is None:
                raise ValueError("no /p2p/ component")
            check_peer_id(peer_id)
        except Exception as exc:  # multiaddr raises several ValueError and TypeError subclasses
            raise _Invalid(expected, index=index, element=entry, detail=str(exc)) from None
    return tuple(value)


def _optional_path(value: Any) -> Path | None:
    if not isinstance(value, str):
        raise _Invalid('a path string, or "" for none')
    return Path(value).expanduser() if value else None


def _setting(default: Any, check: _Check, *, path: bool = False, repr: bool = True) -> Any:
    return field(default=default, metadata={"check": check, "path": path}, repr=repr)


# --- sections ---


@dataclass(frozen=True, slots=True)
class NodeSection:
    """``[node]``: what this node is and where it keeps its data."""

    data_dir: Path = _setting(Path(".settle/node"), _path, path=True)
    """Directory for the chain database and consensus state. Default ".settle/node"."""

    genesis: Path = _setting(Path("genesis.json"), _path, path=True)
    """Genesis file of the chain to join. Default "genesis.json"."""

    role: Role = _setting("validator", _choice("validator", "auditor", "dev"))
    """"validator" takes part in consensus; "auditor" syncs and verifies read-only;
    "dev" runs a single-node chain. Default "validator"."""


@dataclass(frozen=True, slots=True)
class KeysSection:
    """``[keys]``: files holding this node's secret keys (hex, mode 0600)."""

    account_key: Path = _setting(Path("keys/account.key"), _path, path=True)
    """secp256k1 account key; signs consensus messages. Default "keys/account.key"."""

    bls_key: Path = _setting(Path("keys/bls.key"), _path, path=True)
    """BLS12-381 secret key; signs commit seals. Default "keys/bls.key"."""

    node_key: Path = _setting(Path("keys/node.key"), _path, path=True)
    """ed25519 libp2p identity seed. Default "keys/node.key"."""


@dataclass(frozen=True, slots=True)
class RpcSection:
    """``[rpc]``: the Ethereum JSON-RPC server (HTTP and WebSocket on one port)."""

    enabled: bool = _setting(True, _boolean)
    """Serve JSON-RPC at all. Default true."""

    host: str = _setting("127.0.0.1", _host)
    """Interface to bind. Default "127.0.0.1" (local only)."""

    port: int = _setting(8545, _integer(1, 65535))
    """TCP port. Default 8545."""

    cors_origins: tuple[str, ...] = _setting((), _origins)
    """Origins allowed by CORS; ["*"] allows any. Default [] (none)."""

    gas_cap: int = _setting(50_000_000, _integer(1))
    """Gas limit applied to eth_call and eth_estimateGas. Default 50000000."""

    evm_timeout_ms: int = _setting(5000, _integer(1))
    """Wall-clock limit, in milliseconds, of one eth_call, one eth_estimateGas (its whole
    search) and one log query, counted from the request's arrival (geth's RPCEVMTimeout).
    Default 5000."""

    execution_workers: int = _setting(2, _integer(1, 64))
    """Worker threads running eth_call, eth_estimateGas and log queries off the consensus
    thread; further requests wait for one. Default 2."""

    batch_limit: int = _setting(100, _integer(1))
    """Most requests accepted in one JSON-RPC batch. Default 100."""

    max_request_bytes: int = _setting(5_242_880, _integer(1))
    """Largest request body accepted, in bytes. Default 5242880 (5 MiB)."""

    admin_token: str = _setting("", _text, repr=False)
    """Bearer token required by admin_ methods; empty disables them. Default ""."""

    apis: tuple[str, ...] = _setting((), _namespaces)
    """Namespaces served, as Besu's ``--rpc-http-api`` (e.g. ``["eth", "net", "web3"]`` for a read-only
    public endpoint together with an audit node); methods of any other namespace answer "method not
    found". Default ``[]``: every namespace the node offers (docs/permissioning.md)."""

    # DoS limits of the JSON-RPC server (node/rpc/limits.py, docs/limits.md). Each answers
    # -32005 naming its key, except max_json_depth (-32700, as for any unparsable body).
    max_json_depth: int = _setting(64, _integer(2))
    """Deepest nesting of arrays and objects in a request, checked before parsing. Default 64."""

    batch_cost_budget: int = _setting(1_000, _integer(1))
    """Cost units one batch may spend (eth_call 10, eth_estimateGas 40, eth_getLogs 20, a plain read 1-2);
    the requests after the budget is spent are answered -32005. Default 1000."""

    batch_response_max_bytes: int = _setting(25_000_000, _integer(1))
    """Largest reply to one batch, as geth's --rpc.batch-response-max-size; the requests after it are
    answered -32005. Default 25000000."""

    fee_history_max_blocks: int = _setting(1_024, _integer(1))
    """Most blocks one eth_feeHistory may ask for (geth: 1024). Default 1024."""

    fee_history_max_percentiles: int = _setting(100, _integer(1))
    """Most reward percentiles one eth_feeHistory may ask for (geth: 100). Default 100."""

    logs_max_block_range: int = _setting(10_000, _integer(1))
    """Most blocks one eth_getLogs or eth_getFilterLogs may span. Default 10000."""

    logs_max_results: int = _setting(10_000, _integer(1))
    """Most logs one eth_getLogs or eth_getFilterLogs may return. Default 10000."""

    logs_max_response_bytes: int = _setting(10_485_760, _integer(1))
    """Largest eth_getLogs or eth_getFilterLogs reply, in bytes of JSON. Default 10485760 (10 MiB)."""

    max_filters: int = _setting(1_000, _integer(1))
    """Most polling filters (eth_newFilter and friends) on the node in all. Default 1000."""

    filters_per_client: int = _setting(100, _integer(1))
    """Most polling filters one client holds: a WebSocket connection, or an IP address over HTTP. Default 100."""

    filter_timeout_seconds: int = _setting(300, _integer(1))
    """A polling filter not polled for this long is removed (geth: 5 minutes). Default 300."""

    filter_max_changes: int = _setting(10_000, _integer(1))
    """Most changes a polling filter keeps between polls; later ones are dropped. Default 10000."""

    max_subscriptions: int = _setting(10_000, _integer(1))
    """Most eth_subscribe subscriptions on the node in all. Default 10000."""

    subscriptions_per_connection: int = _setting(128, _integer(1))
    """Most eth_subscribe subscriptions one WebSocket connection holds. Default 128."""

    ws_send_queue: int = _setting(4_096, _integer(1))
    """Messages queued for one WebSocket; a subscriber that lets it fill is dropped. Default 4096."""

    # -- simulated execution (issue 23): overrides and eth_simulateV1 --------------
    override_max_accounts: int = _setting(1_000, _integer(1))
    """Most accounts one state override set may name (eth_call, eth_estimateGas, eth_createAccessList,
    one block of eth_simulateV1). Default 1000."""

    simulate_max_blocks: int = _setting(256, _integer(1))
    """Most blocks in one eth_simulateV1 (geth: 256). Default 256."""

    simulate_max_calls: int = _setting(1_000, _integer(1))
    """Most calls in one eth_simulateV1, over all its blocks. Default 1000."""

    dev_mine_max_blocks: int = _setting(256, _integer(1))
    """Most blocks one hardhat_mine makes (each is a synced commit on the node's one thread). Default 256."""

    dev_max_snapshots: int = _setting(1_000, _integer(1))
    """Most evm_snapshot snapshots a dev node keeps at once (each holds the pool's transactions). Default 1000."""


@dataclass(frozen=True, slots=True)
class P2PSection:
    """``[p2p]``: the libp2p network."""

    listen: str = _setting("/ip4/127.0.0.1/tcp/30300", _listen_address)
    """Multiaddr to listen on. Default "/ip4/127.0.0.1/tcp/30300"."""

    bootstrap: tuple[str, ...] = _setting((), _bootstrap)
    """Peers to dial at start, as multiaddrs with /p2p/<peer id>. Default []."""

    max_rlp_depth: int = _setting(16, _integer(1, 1000))
    """Deepest nesting of RLP lists accepted in a peer's message, checked before decoding. Default 16."""

    peer_message_rate: float = _setting(500.0, _number(0, inclusive=False))
    """Messages per second each peer may send (direct frames, sync requests); excess is
    dropped and penalised. Default 500."""

    peer_message_burst: int = _setting(5_000, _integer(1))
    """Messages a peer may send at once above its rate (token bucket size). Default 5000."""

    peer_ban_score: float = _setting(100.0, _number(0, inclusive=False))
    """Penalty score at which a peer is disconnected and banned (malformed message 25, message over
    the rate 1). Default 100."""

    peer_score_decay: float = _setting(1.0, _number(0, inclusive=True))
    """Penalty points a peer's score loses per second. Default 1."""

    peer_ban_seconds: float = _setting(60.0, _number(0, inclusive=False))
    """Seconds a banned peer's connections are refused. Default 60."""

    # -- liveness (issue 26) --

    ping_interval: float = _setting(1.0, _number(0, inclusive=False))
    """Seconds between liveness pings of each connected peer, each peer on its own task. Default 1."""

    ping_timeout: float = _setting(2.0, _number(0, inclusive=False))
    """Seconds a peer has to answer a ping (a hard deadline); a peer that missed its last ping is
    left out of the peers count (bft_status). Default 2."""

    ping_failures_before_disconnect: int = _setting(2, _integer(1))
    """Consecutive missed pings after which a peer's connection is aborted and re-dialled. Default 2."""

    unreachable_proposer_grace: float = _setting(0.25, _number(0, inclusive=False))
    """Seconds after the block period that a round-0 proposer not answering our pings gets before
    this node moves to round 1, instead of the full round timeout. Default 0.25."""

    dial_timeout: float = _setting(3.0, _number(0, inclusive=False))
    """Seconds one dial of a bootstrap peer may take (a hard deadline). Default 3."""

    request_timeout: float = _setting(10.0, _number(0, inclusive=False))
    """Seconds a status or blocks request to a peer may take (a hard deadline). Default 10."""

    # -- compact proposals (issue 21) --

    compact_proposals: bool = _setting(True, _boolean)
    """Send own proposals as header and transaction hashes; receivers fill the transactions in from their
    mempool. Every validator must run a version that reads them. Default true."""

    proposal_fetch_timeout: float = _setting(1.0, _number(0, inclusive=False))
    """Seconds a compact proposal's missing transactions may take to fetch from the peer that sent it;
    past it the proposal is dropped and the round times out as for a missing proposal. Default 1."""

    max_fetch_transactions: int = _setting(1024, _integer(1, 1024))
    """Most transactions fetched for one compact proposal, in one request; a proposal lacking more is
    dropped. Default 1024."""

    # -- direct streams (issue 21) --

    max_frame_bytes: int = _setting(8 * 1024 * 1024, _integer(1024, 64 * 1024 * 1024))
    """Largest direct frame (a batch of transactions or consensus messages) sent or accepted; a peer's
    larger frame is refused before its body is read, the peer penalised and its stream closed. Default
    8388608 (8 MiB)."""

    send_queue_bytes: int = _setting(16 * 1024 * 1024, _integer(1024))
    """Bytes of frames queued for one peer before further frames to it are dropped with a warning (other
    peers are unaffected); at least max_frame_bytes. Default 16777216 (16 MiB)."""

    write_timeout: float = _setting(5.0, _number(0, inclusive=False))
    """Seconds one write to a peer's direct stream may take before the peer's connection is aborted and
    re-dialled (a peer that stopped reading). Default 5."""


@dataclass(frozen=True, slots=True)
class StorageSection:
    """``[storage]``: LevelDB's native memory, the largest bounded part of a node's RSS (issue 26)."""

    leveldb_cache_mb: int = _setting(8, _integer(1, 65_536))
    """MiB of LevelDB's block cache (blocks of the chain database's table files). Default 8 (LevelDB's own).

    Tables are read with pread, not mapped (``vm/leveldb_mmap.py``), so every table read goes through
    this cache; below it is the file system's page cache, which is the kernel's, not the node's RSS."""

    leveldb_write_buffer_mb: int = _setting(4, _integer(1, 4_096))
    """MiB LevelDB's memtable may hold before it is flushed to a table file. Default 4.

    It fills with every write (a few KB per transaction) and stays full, up to twice over while the
    previous one is written out: at 32 MiB a node at 10 tx/s grew for the first hour (issue 26)."""

    recent_blocks: int = _setting(64, _integer(1, 1_000_000))
    """Committed blocks kept decoded, with their receipts and logs, for receipt and log queries. Default 64."""

    trie_node_cache: int = _setting(4096, _integer(2, 10_000_000))
    """Storage-trie inner nodes kept decoded for slot reads (``vm.trie_read``), about 1 KB each. Default 4096.

    Each block that writes storage supersedes a few; they leave the cache within two generations
    of half this many (issue 26)."""


@dataclass(frozen=True, slots=True)
class MempoolSection:
    """``[mempool]``: bounds on pending transactions, against memory exhaustion."""

    max_transactions: int = _setting(10_000, _integer(1))
    """Most transactions held in total. Default 10000."""

    max_per_sender: int = _setting(1_000, _integer(1))
    """Most transactions held per sender; at most max_transactions. Default 1000."""

    max_transaction_bytes: int = _setting(131_072, _integer(1))
    """Largest encoded transaction accepted, in bytes. Default 131072 (128 KiB)."""

    account_slots: int = _setting(16, _integer(1))
    """Transactions each sender is guaranteed when the pool is full: a sender holding fewer may evict
    the newest transaction of a sender of its kind (funded or empty account) holding more; a funded
    sender may always evict an empty account's. At most max_per_sender. Default 16."""


@dataclass(frozen=True, slots=True)
class MetricsSection:
    """``[metrics]``: the Prometheus endpoint."""

    enabled: bool = _setting(False, _boolean)
    """Serve metrics. Default false."""

    host: str = _setting("127.0.0.1", _host)
    """Interface to bind. Default "127.0.0.1"."""

    port: int = _setting(9100, _integer(1, 65535))
    """TCP port. Default 9100."""


@dataclass(frozen=True, slots=True)
class LogSection:
    """``[log]``: structured logging."""

    level: LogLevel = _setting("info", _choice("debug", "info", "warning", "error"))
    """Lowest level written: "debug", "info", "warning" or "error". Default "info"."""

    format: LogFormat = _setting("console", _choice("console", "json"))
    """"console" for people, "json" for log collectors. Default "console"."""


@dataclass(frozen=True, slots=True)
class AnchorSection:
    """``[anchor]``: timestamping block hashes into Bitcoin (docs/anchoring.md). Read by validators only."""

    enabled: bool = _setting(False, _boolean)
    """Take part in the anchoring duty. Default false."""

    rpc_url: str = _setting("http://127.0.0.1:8332/", _text, repr=False)
    """JSON-RPC URL of the operator's own Bitcoin Core node. Default "http://127.0.0.1:8332/"."""

    rpc_user: str = _setting("", _text, repr=False)
    """RPC user name; empty with ``rpc_cookie_file`` or credentials in the URL. Default ""."""

    rpc_password: str = _setting("", _text, repr=False)
    """RPC password; never logged. Default ""."""

    rpc_cookie_file: Path | None = _setting(None, _optional_path, path=True)
    """bitcoind's ``.cookie`` file, read instead of user and password. Default "" (none)."""

    wallet: str = _setting("", _text)
    """Wallet that pays for anchor transactions; "" for the node's default wallet. Default ""."""

    network: str = _setting("mainnet", _choice("mainnet", "testnet", "signet", "regtest"))
    """The Bitcoin network the node must be on (checked against ``getblockchaininfo``). Default "mainnet"."""

    fee_rate: float = _setting(10.0, _number(1.0, 10_000.0))
    """Fee rate of anchor transactions in sat/vB. Default 10."""

    interval_blocks: int = _setting(100, _integer(1))
    """Anchor every block whose height is a multiple of this (a checkpoint). Default 100."""

    confirmations: int = _setting(6, _integer(1, 1000))
    """Bitcoin confirmations before the record is written on Settle. Default 6."""

    duty_timeout_seconds: float = _setting(600.0, _number(1.0, 86_400.0))
    """After this long without an anchor for a checkpoint (counted from its block's timestamp), the duty
    passes to the next validator, and so on round the set. Default 600."""

    poll_seconds: float = _setting(5.0, _number(0.05, 3600.0))
    """How often the Bitcoin node is polled. Default 5."""

    rpc_timeout_seconds: float = _setting(30.0, _number(0.1, 3600.0))
    """Timeout of one Bitcoin RPC call. Default 30."""

    scan_depth_blocks: int = _setting(144, _integer(1, 100_000))
    """Bitcoin blocks searched back from the tip for anchors at start-up. Default 144 (a day)."""

    max_in_flight: int = _setting(20, _integer(1, 1000))
    """Most checkpoints this validator anchors at once (catch-up after an outage goes in steps of this;
    Bitcoin Core's mempool allows 25 unconfirmed ancestors). Default 20."""

    rpc_max_records: int = _setting(1000, _integer(1, 100_000))
    """Most records one ``anchor_getAnchors`` answer carries (any node, anchoring or not). Default 1000."""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """A node's whole configuration. Paths in a loaded config are absolute."""

    node: NodeSection = NodeSection()
    """``[node]`` section."""

    keys: KeysSection = KeysSection()
    """``[keys]`` section."""

    rpc: RpcSection = RpcSection()
    """``[rpc]`` section."""

    p2p: P2PSection = P2PSection()
    """``[p2p]`` section."""

    mempool: MempoolSection = MempoolSection()
    """``[mempool]`` section."""

    storage: StorageSection = StorageSection()
    """``[storage]`` section."""

    metrics: MetricsSection = MetricsSection()
    """``[metrics]`` section."""

    log: LogSection = LogSection()
    """``[log]`` section."""

    anchor: AnchorSection = AnchorSection()
    """``[anchor]`` section (Bitcoin anchoring)."""

    source_path: Path | None = field(default=None, compare=False)
    """File the config was loaded from; None when built in code. Not compared:
    it records provenance, not configuration."""


_SECTIONS: dict[str, type] = {
    "node": NodeSection,
    "keys": KeysSection,
    "rpc": RpcSection,
    "p2p": P2PSection,
    "mempool": MempoolSection,
    "storage": StorageSection,
    "metrics": MetricsSection,
    "log": LogSection,
    "anchor": AnchorSection,
}


# --- parsing ---


def _suggest(name: str, known: list[str]) -> str | None:
    matches = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _show(value: Any) -> str:
    """Render a bad value roughly as it looked in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _absolute(path: Path, base_dir: Path) -> Path:
    # normpath, not resolve(): keep symlinks as the operator wrote them.
    return Path(os.path.normpath(base_dir / path))


def _parse_section(name: str, cls: type, table: Any, base_dir: Path, source: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigFieldError(source, name, None, f"expected a table, got {_show(table)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in fields:
            raise UnknownConfigKeyError(source, name, key, _suggest(key, list(fields)))
    values: dict[str, Any] = {}
    for key, spec in fields.items():
        if key in table:
            try:
                value = spec.metadata["check"](table[key])
            except _Invalid as exc:
                if exc.index is None:
                    problem = f"expected {exc.expected}, got {_show(table[key])}"
                else:
                    problem = f"expected {exc.expected}, got {_show(exc.element)}" + (
                        f" ({exc.detail})" if exc.detail else ""
                    )
                raise ConfigFieldError(source, name, key, problem, exc.index) from None
        else:
            value = spec.default
        if spec.metadata["path"] and value is not None:  # None: an optional path left empty
            value = _absolute(value, base_dir)
        values[key] = value
    return cls(**values)


def _check_consistency(config: NodeConfig, source: str) -> None:
    """Rules that involve more than one setting."""
    if config.mempool.max_per_sender > config.mempool.max_transactions:
        raise ConfigFieldError(
            source,
            "mempool",
            "max_per_sender",
            f"must not exceed max_transactions ({config.mempool.max_transactions}), "
            f"got {config.mempool.max_per_sender}",
        )
    if config.mempool.account_slots > config.mempool.max_per_sender:
        raise ConfigFieldError(
            source, "mempool", "account_slots",
            f"must not exceed max_per_sender ({config.mempool.max_per_sender}), got {config.mempool.account_slots}",
        )
    if config.p2p.send_queue_bytes < config.p2p.max_frame_bytes:
        raise ConfigFieldError(
            source, "p2p", "send_queue_bytes",
            f"must be at least max_frame_bytes ({config.p2p.max_frame_bytes}), got {config.p2p.send_queue_bytes}",
        )
    rpc, metrics = config.rpc, config.metrics
    if rpc.enabled and metrics.enabled and rpc.host == metrics.host and rpc.port == metrics.port:
        raise ConfigFieldError(source, "metrics", "port", f"{metrics.port} is already the [rpc] port on {rpc.host}")


def parse_config(
    obj: Mapping[str, Any], base_dir: Path, source: str = "config", *, source_path: Path | None = None
) -> NodeConfig:
    """Validate a decoded TOML document and build a :class:`NodeConfig`.

    Relative paths are resolved against ``base_dir`` (the config file's directory).
    ``source`` prefixes error messages. Raises :class:`ConfigFieldError` naming
    the first bad section and key.
    """
    base_dir = Path(os.path.abspath(base_dir))
    known = list(_SECTIONS)
    for name in obj:
        if name not in _SECTIONS:
            raise UnknownConfigKeyError(source, name, None, _suggest(name, known))
    sections = {name: _parse_section(name, cls, obj.get(name, {}), base_dir, source) for name, cls in _SECTIONS.items()}
    config = NodeConfig(**sections, source_path=source_path)
    _check_consistency(config, source)
    return config


def load_config(path: Path | str) -> NodeConfig:
    """Read and validate a TOML config file. Every failure is a :class:`ConfigError`."""
    path = Path(path)
    source = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigFileError(path, "config file not found") from None
    except OSError as exc:
        raise ConfigFileError(path, f"cannot read config file: {exc.strerror}") from None
    try:
        obj = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigSyntaxError(source, str(exc)) from None
    return parse_config(obj, path.parent, source, source_path=Path(os.path.abspath(path)))


def default_config(base_dir: Path | None = None, **overrides: Mapping[str, Any]) -> NodeConfig:
    """The default configuration, with some settings changed.

    Each override names a section and maps TOML keys to values, and is validated
    exactly as a file would be: ``default_config(rpc={"port": 8546})``. Relative
    paths resolve against ``base_dir`` (default: the current directory).
    """
    return parse_config(overrides, base_dir if base_dir is not None else Path.cwd(), "default_config")


def config_to_dict(config: NodeConfig, base_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """The TOML document of ``config``, every key present.

    With ``base_dir``, paths are written relative to it, so that a directory of
    node files (a testnet, say) can be moved as a whole.
    """
    document: dict[str, dict[str, Any]] = {}
    for name in _SECTIONS:
        section = getattr(config, name)
        table: dict[str, Any] = {}
        for spec in dataclasses.fields(section):
            value = getattr(section, spec.name)
            if spec.metadata["path"] and value is None:
                value = ""
            elif spec.metadata["path"]:
                value = os.path.relpath(value, base_dir) if base_dir is not None else os.fspath(value)
                value = Path(value).as_posix()
            elif isinstance(value, tuple):
                value = list(value)
            table[spec.name] = value
        document[name] = table
    return document


def config_to_toml(config: NodeConfig, base_dir: Path | None = None) -> str:
    """``config`` as TOML text that :func:`load_config` reads back to an equal config.

    Paths are absolute unless ``base_dir`` is given, in which case they are
    written relative to it (pass the directory the file will be written to).
    """
    header = "# Settle node configuration. Each key and its default is documented in node/config.py.\n\n"
    return header + tomli_w.dumps(config_to_dict(config, base_dir))

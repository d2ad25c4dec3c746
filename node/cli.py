"""The `settle` command line."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import trio

from node.logs import configure_logging

if TYPE_CHECKING:
    from node.anchor.service import AnchorSettings
    from node.config import NodeConfig
    from node.service import NodeSettings


class SettleError(click.ClickException):
    """A user-facing failure: printed as one clear line, exit status 1."""


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option("0.1.0", prog_name="settle")
def main() -> None:
    """Settle: a permissioned consortium blockchain node for securities.

    Validators agree on blocks with BFT consensus; blocks run on an embedded EVM;
    developers use the standard Ethereum JSON-RPC (web3.py, ethers.js, Foundry, Hardhat).
    """


# -- node ---------------------------------------------------------------------
MIN_INTERVAL_SECONDS = 0.1
"""Shortest --block-period with --interval-mining: empty blocks that often still leave the node time for RPC."""

@main.group()
def node() -> None:
    """Run a node."""


@node.command()
@click.option("--datadir", type=click.Path(path_type=Path), default=Path(".settle/dev"), show_default=True,
              help="Data directory (LevelDB). Restarting with the same directory resumes the chain.")
@click.option("--rpc-host", default="127.0.0.1", show_default=True, help="JSON-RPC listen address.")
@click.option("--rpc-port", type=click.IntRange(0, 65535), default=8545, show_default=True,
              help="JSON-RPC port (HTTP and WebSocket).")
@click.option("--block-period", type=click.FloatRange(0, 3600), default=1.0, show_default=True,
              help="Seconds between blocks. By default (automine) it is the minimum: a block follows as soon as "
                   "transactions wait, and no empty blocks are made. With --interval-mining it is the period.")
@click.option("--interval-mining", is_flag=True, default=False,
              help="Make a block every --block-period seconds, empty or not, and let transactions wait pending for "
                   "it (Hardhat's mining.interval, geth's --dev.period). Default: off (automine).")
@click.option("--cors", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Allow browser requests from ORIGIN ('*' for any). Repeatable.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve Prometheus metrics on this port.")
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
@click.option("--log-format", type=click.Choice(["console", "json"]), default="console", show_default=True)
def dev(
    datadir: Path,
    rpc_host: str,
    rpc_port: int,
    block_period: float,
    interval_mining: bool,
    cors_origins: tuple[str, ...],
    metrics_port: int | None,
    log_level: str,
    log_format: str,
) -> None:
    """Run a single-validator development chain with 10 funded, unlocked accounts."""
    from node.dev import dev_genesis, dev_validator_keys
    from node.dev_accounts import DEV_BALANCE, DEV_MNEMONIC, DevSigner
    from node.service import NodeSettings

    if interval_mining and block_period < MIN_INTERVAL_SECONDS:
        raise click.UsageError(f"--interval-mining needs a --block-period of at least {MIN_INTERVAL_SECONDS} s "
                               "(an empty block every period)")
    configure_logging(log_level, log_format)
    signer = DevSigner.from_mnemonic()
    click.echo(f"Settle dev chain (chain id 1337), data dir {datadir}")
    click.echo(f"Mnemonic: {DEV_MNEMONIC}")
    click.echo(f"Accounts (each funded with {DEV_BALANCE // 10**18} ETH; these keys are public, use them only here):")
    for index, account in enumerate(signer.accounts):
        click.echo(f"  ({index}) {account.address}  0x{bytes(account.key).hex()}")
    settings = NodeSettings(
        data_dir=datadir,
        genesis=dev_genesis(signer),
        keys=dev_validator_keys(),
        block_period=block_period,
        # One validator has nobody to hand a round over to: never give up on a round.
        round_timeout=24 * 3600,
        empty_blocks=interval_mining,
        rpc_host=rpc_host,
        rpc_port=rpc_port,
        cors_origins=cors_origins,
        signer=signer,
        dev_methods=True,
        metrics_port=metrics_port,
    )
    _run(settings)


@node.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    required=True,
    help="The node's config.toml (see `settle testnet init`).",
)
@click.option(
    "--joining",
    is_flag=True,
    help="This validator is not in the genesis: it was (or will be) voted in through the permission registry; "
    "follow the chain and start validating at the height from which the registry lists it.",
)
def run(config_path: Path, joining: bool) -> None:
    """Run a node from its config file."""
    from genesis.errors import GenesisError
    from genesis.keys import KeyFilePaths, read_validator_keys
    from genesis.loader import load_genesis
    from node.config import ConfigError, load_config
    from node.mempool import MempoolLimits
    from node.p2p.settings import P2PSettings
    from node.rpc.limits import limits_from_config
    from node.service import NodeSettings

    try:
        config = load_config(config_path)
        genesis = load_genesis(config.node.genesis)
    except (ConfigError, GenesisError) as exc:
        raise SettleError(str(exc)) from None
    configure_logging(config.log.level, config.log.format)
    keys = None
    if config.node.role in ("validator", "dev"):
        try:
            keys = read_validator_keys(KeyFilePaths(config.keys.account_key, config.keys.bls_key, config.keys.node_key))
        except GenesisError as exc:
            raise SettleError(str(exc)) from None
        entry = next((v for v in genesis.validators if v.address == keys.address), None)
        if entry is None and not joining:
            raise SettleError(
                f"{config_path}: key {config.keys.account_key} (address 0x{keys.address.hex()}) "
                "is not a validator in the genesis; refusing to take part in consensus "
                "(pass --joining for a validator voted in through the permission registry)"
            )
        if entry is not None and (entry.bls_public_key, entry.peer_id) != (keys.bls_public_key, keys.peer_id):
            raise SettleError(
                f"{config_path}: the BLS or node key in {config.keys.bls_key.parent} does not match the "
                f"genesis entry of validator 0x{keys.address.hex()}"
            )
    node_key = None
    if config.node.role == "auditor":
        from genesis.keys import read_key_file

        try:
            node_key = read_key_file(config.keys.node_key, "node")
        except GenesisError as exc:
            raise SettleError(str(exc)) from None
    settings = NodeSettings(
        data_dir=config.node.data_dir,
        leveldb_cache_bytes=config.storage.leveldb_cache_mb * 1024 * 1024,
        leveldb_write_buffer_bytes=config.storage.leveldb_write_buffer_mb * 1024 * 1024,
        recent_blocks=config.storage.recent_blocks,
        trie_node_cache=config.storage.trie_node_cache,
        genesis=genesis,
        keys=keys,
        role=config.node.role,
        node_key=node_key,
        rpc_apis=config.rpc.apis,
        admin_token=config.rpc.admin_token,
        block_period=genesis.consensus.block_period_ms / 1000,
        p2p_listen=config.p2p.listen,
        bootstrap=tuple(config.p2p.bootstrap),
        p2p=P2PSettings(
            max_rlp_depth=config.p2p.max_rlp_depth,
            peer_message_rate=config.p2p.peer_message_rate,
            peer_message_burst=config.p2p.peer_message_burst,
            peer_ban_score=config.p2p.peer_ban_score,
            peer_score_decay=config.p2p.peer_score_decay,
            peer_ban_seconds=config.p2p.peer_ban_seconds,
            ping_interval=config.p2p.ping_interval,
            ping_timeout=config.p2p.ping_timeout,
            ping_failures_before_disconnect=config.p2p.ping_failures_before_disconnect,
            dial_timeout=config.p2p.dial_timeout,
            unreachable_proposer_grace=config.p2p.unreachable_proposer_grace,
            request_timeout=config.p2p.request_timeout,
            compact_proposals=config.p2p.compact_proposals,
            proposal_fetch_timeout=config.p2p.proposal_fetch_timeout,
            max_fetch_transactions=config.p2p.max_fetch_transactions,
            max_frame_bytes=config.p2p.max_frame_bytes,
            send_queue_bytes=config.p2p.send_queue_bytes,
            write_timeout=config.p2p.write_timeout,
        ),
        rpc_enabled=config.rpc.enabled,
        rpc_host=config.rpc.host,
        rpc_port=config.rpc.port,
        cors_origins=tuple(config.rpc.cors_origins),
        gas_cap=config.rpc.gas_cap,
        evm_timeout=config.rpc.evm_timeout_ms / 1000,
        execution_workers=config.rpc.execution_workers,
        max_request_bytes=config.rpc.max_request_bytes,
        rpc_limits=limits_from_config(config.rpc),
        mempool=MempoolLimits(
            max_transactions=config.mempool.max_transactions,
            max_per_sender=config.mempool.max_per_sender,
            max_transaction_bytes=config.mempool.max_transaction_bytes,
            account_slots=config.mempool.account_slots,
        ),
        metrics_host=config.metrics.host,
        metrics_port=config.metrics.port if config.metrics.enabled else None,
        anchor=_anchor_settings(config) if keys is not None else None,
        anchor_rpc_max_records=config.anchor.rpc_max_records,
    )
    _run(settings)


def _anchor_settings(config: NodeConfig) -> AnchorSettings | None:
    """The ``[anchor]`` section for the anchoring duty; None when disabled."""
    from node.anchor.bitcoin import BitcoinCredentials
    from node.anchor.service import AnchorSettings

    section = config.anchor
    if not section.enabled:
        return None
    return AnchorSettings(
        rpc_url=section.rpc_url,
        credentials=BitcoinCredentials(section.rpc_user, section.rpc_password) if section.rpc_user else None,
        cookie_file=section.rpc_cookie_file, wallet=section.wallet, network=section.network,
        fee_rate=section.fee_rate, interval_blocks=section.interval_blocks, confirmations=section.confirmations,
        duty_timeout=section.duty_timeout_seconds, poll_seconds=section.poll_seconds,
        rpc_timeout=section.rpc_timeout_seconds, scan_depth=section.scan_depth_blocks,
        max_in_flight=section.max_in_flight,
    )


def _run(settings: NodeSettings) -> None:
    from node.anchor.pending import PendingFileError
    from node.engine import ConsensusHalted
    from node.metrics import MetricsListenFailed
    from node.p2p import ListenFailed
    from node.rpc.server import RpcListenFailed
    from node.service import run_node
    from node.store import StoreError
    from node.sync import GenesisConflict
    from vm.leveldb import StorageError

    fatal = (
        StoreError,
        StorageError,
        GenesisConflict,
        ConsensusHalted,
        ListenFailed,
        RpcListenFailed,
        MetricsListenFailed,
        PendingFileError,
    )
    try:
        trio.run(run_node, settings)
    except BaseExceptionGroup as group:
        # Services run in one nursery: a fatal error of one arrives wrapped in a group.
        known = group.subgroup(lambda exc: isinstance(exc, fatal))
        if known is None:
            raise
        raise SettleError(str(_first_leaf(known))) from None
    except fatal as exc:
        raise SettleError(str(exc)) from None
    except KeyboardInterrupt:
        pass


def _first_leaf(group: BaseException) -> BaseException:
    while isinstance(group, BaseExceptionGroup):
        group = group.exceptions[0]
    return group


# -- testnet ------------------------------------------------------------------
@main.group()
def testnet() -> None:
    """Create and run local validator networks."""


@testnet.command("init")
@click.option("--validators", type=click.IntRange(1, 100), required=True, help="Number of validators.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Directory to create.")
@click.option("--chain-id", type=click.IntRange(1, 2**63), default=1337, show_default=True)
@click.option("--block-period-ms", type=click.IntRange(50, 3_600_000), default=1000, show_default=True)
@click.option("--base-rpc-port", type=click.IntRange(1, 65535), default=8545, show_default=True)
@click.option("--base-p2p-port", type=click.IntRange(1, 65535), default=30300, show_default=True)
def testnet_init(
    validators: int, out_dir: Path, chain_id: int, block_period_ms: int, base_rpc_port: int, base_p2p_port: int
) -> None:
    """Write DIR/genesis.json and DIR/node<i>/{config.toml,keys/} for N validators."""
    from genesis.errors import GenesisError
    from genesis.testnet import init_testnet

    try:
        layout = init_testnet(
            out_dir,
            validators,
            chain_id=chain_id,
            block_period_ms=block_period_ms,
            base_rpc_port=base_rpc_port,
            base_p2p_port=base_p2p_port,
        )
    except GenesisError as exc:
        raise SettleError(str(exc)) from None
    click.echo(f"Wrote {layout.genesis_path}")
    for item in layout.nodes:
        click.echo(f"  {item.config_path}  validator 0x{item.validator.address.hex()}  rpc :{item.rpc_port}")


@testnet.command("up")
@click.argument("directory", type=click.Path(path_type=Path, exists=True, file_okay=False))
def testnet_up(directory: Path) -> None:
    """Start every validator of DIRECTORY as its own process; Ctrl-C stops them all."""
    from node.config import ConfigError
    from node.testnet_runner import TestnetError, run_testnet

    try:
        code = run_testnet(directory, click.echo)
    except (TestnetError, ConfigError) as exc:
        raise SettleError(str(exc)) from None
    sys.exit(code)


# -- keys ---------------------------------------------------------------------
@main.group()
def keys() -> None:
    """Create and inspect validator keys."""


@keys.command("generate")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Directory for account.key, bls.key, node.key and validator.json.",
)
def keys_generate(out_dir: Path) -> None:
    """Generate a validator's secp256k1, BLS12-381 and libp2p keys.

    Also writes validator.json, the validator's genesis entry (public: address, BLS key and its
    proof of possession, peer id), to paste into the genesis "validators" list.
    """
    import json

    from genesis.errors import GenesisError
    from genesis.keys import KeyFilePaths, generate_validator_keys, write_validator_keys
    from genesis.loader import validator_to_json

    generated = generate_validator_keys()
    paths = KeyFilePaths(out_dir / "account.key", out_dir / "bls.key", out_dir / "node.key")
    entry_path = out_dir / "validator.json"
    if entry_path.exists():
        raise SettleError(f"{entry_path} already exists; refusing to overwrite")
    try:
        write_validator_keys(paths, generated)
        entry_path.write_text(json.dumps(validator_to_json(generated.genesis_validator()), indent=2) + "\n",
                              encoding="utf-8")
    except GenesisError as exc:
        raise SettleError(str(exc)) from None
    except OSError as exc:
        raise SettleError(f"{entry_path}: cannot write: {exc.strerror}") from None
    _show_keys(generated)


@keys.command("show")
@click.option("--dir", "key_dir", type=click.Path(path_type=Path), required=True)
def keys_show(key_dir: Path) -> None:
    """Print the address, BLS public key and peer id of a key directory."""
    from genesis.errors import GenesisError
    from genesis.keys import KeyFilePaths, read_validator_keys

    try:
        loaded = read_validator_keys(KeyFilePaths(key_dir / "account.key", key_dir / "bls.key", key_dir / "node.key"))
    except GenesisError as exc:
        raise SettleError(str(exc)) from None
    _show_keys(loaded)


def _show_keys(validator_keys) -> None:
    from eth_utils import to_checksum_address

    click.echo(f"address        {to_checksum_address(validator_keys.address)}")
    click.echo(f"bls public key 0x{validator_keys.bls_public_key.hex()}")
    click.echo(f"bls proof of possession 0x{validator_keys.bls_proof_of_possession.hex()}")
    click.echo(f"peer id        {validator_keys.peer_id}")


# -- contracts ----------------------------------------------------------------
@main.group()
def contracts() -> None:
    """Compile and deploy Solidity contracts."""


@contracts.command("compile")
def contracts_compile() -> None:
    """Compile contracts/src with the pinned solcjs into contracts/build/*.json."""
    from contracts.compiler import ContractsError, compile_all

    try:
        artifacts = compile_all()
    except ContractsError as exc:
        raise SettleError(str(exc)) from None
    for name in sorted(artifacts):
        click.echo(f"  {name}: {len(artifacts[name].bytecode)} bytes")


@contracts.command("deploy", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--rpc", "rpc_url", default="http://127.0.0.1:8545", show_default=True, help="JSON-RPC URL of a node.")
@click.option(
    "--key",
    "key_hex",
    envvar="SETTLE_DEPLOY_KEY",
    metavar="HEX",
    help="Deployer's secp256k1 private key (or env SETTLE_DEPLOY_KEY).",
)
@click.option("--key-file", type=click.Path(path_type=Path), help="File holding the deployer's key as hex.")
@click.option("--from", "sender", metavar="ADDRESS", help="Use an account the node holds unlocked (dev chain).")
@click.option(
    "--record",
    type=click.Path(path_type=Path),
    default=Path("deployments.json"),
    show_default=True,
    help="JSON deployment record to append to.",
)
def contracts_deploy(
    name: str,
    args: tuple[str, ...],
    rpc_url: str,
    key_hex: str | None,
    key_file: Path | None,
    sender: str | None,
    record: Path,
) -> None:
    """Deploy contract NAME from contracts/build with constructor ARGS (arrays and structs as JSON)."""
    from contracts.compiler import ContractsError
    from contracts.deploy import connect, deploy, parse_constructor_args
    from genesis.errors import KeyFileError
    from genesis.keys import read_key_file

    if sum(x is not None for x in (key_hex, key_file, sender)) != 1:
        raise SettleError("give exactly one of --key, --key-file or --from")
    try:
        private_key = read_key_file(key_file, "account") if key_file is not None else key_hex
        values = parse_constructor_args(name, args)
        deployment = deploy(connect(rpc_url), name, *values, sender=sender, private_key=private_key, record=record)
    except (ContractsError, KeyFileError) as exc:
        raise SettleError(str(exc)) from None
    except ValueError as exc:  # a malformed --key
        raise SettleError(f"invalid key: {exc}") from None
    click.echo(
        f"{deployment.name} deployed at {deployment.address} "
        f"(block {deployment.block_number}, gas {deployment.gas_used}); recorded in {record}"
    )


# -- duo ------------------------------------------------------------------------
@main.group()
def duo() -> None:
    """DUO custodian daemons: price feed and reset trigger (docs/duo.md)."""


def _read_key(path: Path) -> str:
    """A secp256k1 private key file (hex), as web3.py takes it."""
    from genesis.errors import KeyFileError
    from genesis.keys import read_key_file

    try:
        return "0x" + read_key_file(path, "account").hex()
    except KeyFileError as exc:
        raise SettleError(str(exc)) from None


@duo.command("feed")
@click.option("--rpc", "rpc_url", default="http://127.0.0.1:8545", show_default=True, help="JSON-RPC HTTP URL.")
@click.option("--beethoven", required=True, help="Beethoven contract address.")
@click.option(
    "--key-file",
    type=click.Path(path_type=Path),
    required=True,
    help="File holding this feed's (pf1/pf2/pf3) private key in hex.",
)
@click.option(
    "--trades",
    "trade_files",
    type=click.Path(path_type=Path),
    multiple=True,
    required=True,
    help="Recorded trade file (.csv or .jsonl: exchange, trade_id, price, volume, timestamp). Repeatable.",
)
@click.option("--db", "db_path", type=click.Path(path_type=Path), required=True, help="This feed's SQLite file.")
@click.option(
    "--replay-offset",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds added to chain time to get the recorded trades' time.",
)
@click.option("--poll", "poll_seconds", type=click.FloatRange(0.05, 3600), default=1.0, show_default=True)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
def duo_feed(
    rpc_url: str,
    beethoven: str,
    key_file: Path,
    trade_files: tuple[Path, ...],
    db_path: Path,
    replay_offset: float,
    poll_seconds: float,
    log_level: str,
) -> None:
    """Price feed (§2.3): store trades, fix the price hourly, commit it with this feed's key."""
    from eth_utils import is_address

    from node.duo.feed import FeedSettings, PriceFeed
    from node.duo.trades import RecordedTrades, TradeFileError

    configure_logging(log_level, "console")
    if not is_address(beethoven):
        raise SettleError(f"--beethoven {beethoven!r} is not an address")
    try:
        source = RecordedTrades(list(trade_files))
    except TradeFileError as exc:
        raise SettleError(str(exc)) from None
    settings = FeedSettings(rpc_url, beethoven, _read_key(key_file), db_path, replay_offset, poll_seconds)
    try:
        PriceFeed(settings, source).run()
    except KeyboardInterrupt:
        pass


@duo.command("trigger")
@click.option("--ws", "ws_url", default="ws://127.0.0.1:8545", show_default=True, help="JSON-RPC WebSocket URL.")
@click.option("--beethoven", required=True, help="Beethoven contract address.")
@click.option("--key-file", type=click.Path(path_type=Path), required=True, help="File holding a private key in hex.")
@click.option(
    "--gas",
    type=click.IntRange(100_000, 30_000_000),
    default=3_000_000,
    show_default=True,
    help="Gas per startReset transaction (bounds the holders processed per transaction).",
)
@click.option(
    "--poll",
    "poll_seconds",
    type=click.FloatRange(0.1, 3600),
    default=5.0,
    show_default=True,
    help="Seconds between state checks that back up the event subscription.",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
def duo_trigger(ws_url: str, beethoven: str, key_file: Path, gas: int, poll_seconds: float, log_level: str) -> None:
    """Reset trigger (§2.1): answer StartPreReset/StartReset events until the reset completes."""
    import asyncio

    from eth_utils import is_address

    from node.duo.trigger import Trigger, TriggerSettings

    configure_logging(log_level, "console")
    if not is_address(beethoven):
        raise SettleError(f"--beethoven {beethoven!r} is not an address")
    settings = TriggerSettings(ws_url, beethoven, _read_key(key_file), gas, poll_seconds)
    try:
        asyncio.run(Trigger(settings).run())
    except KeyboardInterrupt:
        pass


# -- bench ----------------------------------------------------------------------
@main.group()
def bench() -> None:
    """Benchmarks (print figures and write bench-results/*.json)."""


def _load_script(name: str):
    from node.bench_scripts import ScriptMissing, load_bench_script

    try:
        return load_bench_script(name)
    except ScriptMissing as exc:
        raise SettleError(str(exc)) from None


@bench.command("audit")
@click.option("--blocks", type=click.IntRange(10, 1_000_000), default=10_000, show_default=True)
@click.option("--tx-every", type=click.IntRange(0, 1_000), default=10, show_default=True,
              help="One transfer every N blocks (0: empty blocks only).")
@click.option("--repeats", type=click.IntRange(1, 20), default=3, show_default=True)
def bench_audit(blocks: int, tx_every: int, repeats: int) -> None:
    """Audit catch-up: certificate-only and full re-execution blocks/s (bench-results/audit.json)."""
    _load_script("bench_audit").main(blocks=blocks, tx_every=tx_every, repeats=repeats, quiet=True)


@bench.command("rpc")
@click.option("--transfers", type=click.IntRange(10, 1_000_000), default=2000, show_default=True)
@click.option("--baseline/--no-baseline", default=True, show_default=True, help="Also measure Hardhat's node.")
@click.option("--repeats", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--batch", "batches", type=click.IntRange(1, 100), multiple=True, default=(1, 100), show_default=True,
              help="Transfers per HTTP request (1: one request each; more: JSON-RPC batches); repeatable.")
def bench_rpc(transfers: int, baseline: bool, repeats: int, batches: tuple[int, ...]) -> None:
    """ERC-20 transfers/s and node CPU ms per transfer through JSON-RPC: Settle dev node vs Hardhat node
    (bench-results/rpc.json)."""
    sys.exit(_load_script("bench_rpc").main(transfers=transfers, baseline=baseline, repeats=repeats,
                                            batches=batches))


@bench.command("exec")
@click.option("--blocks", type=click.IntRange(1, 100), default=3, show_default=True)
@click.option("--txs-per-block", type=click.IntRange(10, 10_000), default=1000, show_default=True)
@click.option(
    "--gc-freeze/--no-gc-freeze",
    default=True,
    show_default=True,
    help="Freeze the harness's own objects out of the garbage collector before the timed runs.",
)
def bench_exec(blocks: int, txs_per_block: int, gc_freeze: bool) -> None:
    """In-process ERC-20 block execution: Settle's builder vs stock py-evm (bench-results/exec.json)."""
    _load_script("bench_exec").main(blocks=blocks, txs_per_block=txs_per_block, gc_freeze=gc_freeze)


@bench.command("admission")
@click.option(
    "--count",
    type=click.IntRange(10, 100_000),
    default=2000,
    show_default=True,
    help="Signed ERC-20 transfers to admit.",
)
@click.option("--repeats", type=click.IntRange(1, 50), default=5, show_default=True)
def bench_admission(count: int, repeats: int) -> None:
    """Transaction decoding and signature checks: Settle vs stock py-evm (bench-results/admission.json)."""
    _load_script("bench_admission").main(count=count, repeats=repeats)


@bench.command("network")
@click.option(
    "--seconds",
    type=click.FloatRange(1, 600),
    default=15.0,
    show_default=True,
    help="Seconds of offered load per level (the rate rises x1.5 per level until saturation).",
)
@click.option("--periods", default="1000,200", show_default=True, help="Block periods to run, in ms.")
@click.option("--validators", type=click.IntRange(1, 16), default=4, show_default=True)
@click.option("--profile/--no-profile", default=True, show_default=True,
              help="Sample each node with py-spy for the per-component CPU breakdown (needs ptrace rights).")
@click.option("--dev/--no-dev", default=True, show_default=True, help="Also measure settle node dev as the baseline.")
@click.option("--p2p", "p2p", multiple=True, metavar="KEY=VALUE",
              help="A [p2p] setting for every validator, e.g. compact_proposals=false (repeatable).")
@click.option("--tick-ms", type=click.FloatRange(1, 1000), default=25.0, show_default=True,
              help="The load generator sends one JSON-RPC batch per endpoint every this many ms.")
def bench_network(seconds: float, periods: str, validators: int, profile: bool, dev: bool, p2p: tuple[str, ...],
                  tick_ms: float) -> None:
    """Validator network TPS, latency and CPU ms per tx vs settle node dev (bench-results/network.json)."""
    try:
        parsed = tuple(int(period) for period in periods.split(","))
    except ValueError:
        raise SettleError(f"--periods: expected comma-separated milliseconds, got {periods!r}") from None
    script = _load_script("bench_network")
    try:
        overrides = script.parse_p2p_overrides(p2p)
    except ValueError as error:
        raise SettleError(f"--p2p: {error}") from None
    sys.exit(script.main(seconds=seconds, periods=parsed, validators=validators, profile=profile, dev=dev,
                         p2p=overrides, tick_ms=tick_ms))


@bench.command("soak")
@click.option("--minutes", type=click.FloatRange(0.5, 10_080), default=60.0, show_default=True,
              help="Minutes of steady load.")
@click.option("--rate", type=click.FloatRange(0.1, 1000), default=10.0, show_default=True,
              help="ERC-20 transfers offered per second.")
def bench_soak(minutes: float, rate: float) -> None:
    """4-validator soak: RSS growth, CPU per tx, latency per window, stalls, lost txs (bench-results/soak.json)."""
    sys.exit(_load_script("bench_soak").main(minutes=minutes, rate=rate))


@bench.command("matching")
@click.option("--commands", type=click.IntRange(1_000, 50_000_000), default=500_000, show_default=True,
              help="Commands of the mixed stream for the native engine.")
@click.option("--python-commands", type=click.IntRange(256, 5_000_000), default=50_000, show_default=True,
              help="Commands of the same stream for the Python reference.")
@click.option("--repeats", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--evm-blocks", type=click.IntRange(1, 50), default=2, show_default=True)
def bench_matching(commands: int, python_commands: int, repeats: int, evm_blocks: int) -> None:
    """Matching engine: native vs Python, through the EVM, state costs (bench-results/matching.json)."""
    _load_script("bench_matching").main(commands=commands, python_commands=python_commands, repeats=repeats,
                                        evm_blocks=evm_blocks)


# -- anchor (Bitcoin anchoring: node/anchor/cli.py) ----------------------------
def _register_anchor_commands() -> None:
    from node.anchor.cli import anchor

    main.add_command(anchor)


_register_anchor_commands()


# -- audit (node/audit_cli.py) ---------------------------------------------------
def _register_audit_commands() -> None:
    from node.audit_cli import audit

    main.add_command(audit)


_register_audit_commands()


# -- validators, members (permission registry: node/governance_cli.py) -----------
def _register_governance_commands() -> None:
    from node.governance_cli import members, validators

    main.add_command(validators)
    main.add_command(members)


_register_governance_commands()

if __name__ == "__main__":
    main()

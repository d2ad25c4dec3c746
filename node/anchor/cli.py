"""``settle anchor verify`` and ``settle anchor export-ots``.

Both read the chain and its anchor records from a Settle node's JSON-RPC
(``--rpc``; the node being audited), or the records from a file saved earlier
(``--records``, the JSON list ``anchor_getAnchors`` returns), so that a chain
that lost or rewrote its records can still be checked against what was once
published. ``verify`` also needs a Bitcoin node: ``--bitcoin-rpc URL`` (userinfo
allowed) or the ``[anchor]`` section of a node config (``--config``).
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from node.anchor.bitcoin import BitcoinCredentials, BitcoinError, BitcoinRPC, redact_url
from node.anchor.bitcoin_ops import find_payload
from node.anchor.bitcoin_tx import BitcoinParseError, parse_transaction
from node.anchor.ots import build_ots
from node.anchor.registry import AnchorRecord, checkpoint_covering, read_record, recorded_heights
from node.anchor.verify import Mismatch, Verified, hash_chain_mismatches, verify_record

if TYPE_CHECKING:
    from node.store import ChainStore


class AnchorCliError(click.ClickException):
    """A failure printed as one line, exit status 1."""


def settle_rpc(url: str, method: str, params: list[Any]) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise AnchorCliError(f"Settle node at {redact_url(url)}: {getattr(exc, 'reason', exc)}") from None
    if "error" in answer:
        raise AnchorCliError(f"Settle node at {redact_url(url)}: {method}: {answer['error'].get('message')}")
    return answer["result"]


def load_records(rpc_url: str, records_file: Path | None) -> list[AnchorRecord]:
    try:
        if records_file is not None:
            items = json.loads(records_file.read_text(encoding="utf-8"))
        else:
            items, start = [], 0
            while True:
                page = settle_rpc(rpc_url, "anchor_getAnchors", [hex(start), hex(500)])
                items.extend(page)
                if len(page) < 500:
                    break
                start = page[-1]["height"] + 1
        return [AnchorRecord.from_json(item) for item in items]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        source = records_file if records_file is not None else "anchor_getAnchors"
        raise AnchorCliError(f"{source}: malformed anchor records: {exc}") from None


class LocalChain:
    """Block hashes of the chain under audit, through its node's JSON-RPC (cached)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._blocks: dict[int, dict[str, Any] | None] = {}
        self.chain_id = int(settle_rpc(url, "eth_chainId", []), 16)

    def _block(self, number: int) -> dict[str, Any] | None:
        if number not in self._blocks:
            self._blocks[number] = settle_rpc(self.url, "eth_getBlockByNumber", [hex(number), False])
        return self._blocks[number]

    def block_hash(self, number: int) -> bytes | None:
        block = self._block(number)
        return bytes.fromhex(block["hash"][2:]) if block else None

    def parent_hash(self, number: int) -> bytes | None:
        block = self._block(number)
        return bytes.fromhex(block["parentHash"][2:]) if block else None


class DatabaseChain:
    """A stopped node's LevelDB (or a copy of one handed to an auditor), read directly.

    Each block hash is recomputed as the keccak of the header stored in the
    database, so nothing the database's owner says about hashes is taken on trust;
    records, unless given with ``--records``, are read from the registry in its state.
    """

    def __init__(self, store: ChainStore) -> None:
        from node.backend import Backend

        self.store = store
        self.chain_id = store.genesis.chain_id
        self.backend = Backend(store, coinbase=b"\x00" * 20)

    @classmethod
    def open(cls, data_dir: Path, genesis_path: Path) -> DatabaseChain:
        """Open ``data_dir``'s database (closed again by :meth:`close`)."""
        from genesis.errors import GenesisError
        from genesis.loader import load_genesis
        from node.store import ChainStore, StoreError
        from vm.leveldb import StorageError

        if not (data_dir / "chain").is_dir():
            raise AnchorCliError(f"{data_dir}: no chain database here (expected {data_dir / 'chain'})")
        try:
            return cls(ChainStore(data_dir, load_genesis(genesis_path)))
        except (GenesisError, StoreError, StorageError) as exc:
            raise AnchorCliError(str(exc)) from None

    def block_hash(self, number: int) -> bytes | None:
        header = self.store.header_by_number(number)
        return bytes(header.hash) if header is not None else None

    def parent_hash(self, number: int) -> bytes | None:
        header = self.store.header_by_number(number)
        return bytes(header.parent_hash) if header is not None else None

    def records(self) -> list[AnchorRecord]:
        from node.backend import CallRequest

        registry = self.store.genesis.anchor.registry_address

        def call(data: bytes) -> bytes:
            return self.backend.call(CallRequest(b"\x00" * 20, registry, None, 0, data), self.backend.head)

        found = [read_record(call, height) for height in recorded_heights(call)]
        return [record for record in found if record is not None]

    def close(self) -> None:
        self.store.close()


def check_database_anchors(database: DatabaseChain, rpc: BitcoinRPC, confirmations: int) -> tuple[int, list[Mismatch]]:
    """Every anchor record in the database's registry, checked against Bitcoin and the database's own block
    hashes (recomputed from its headers): how many verified, and every mismatch. For ``settle audit report``."""
    verified, problems = 0, []
    for record in database.records():
        result = verify_record(record, database.block_hash(record.height), rpc, confirmations=confirmations,
                               chain_id=database.chain_id)
        if isinstance(result, Verified):
            verified += 1
        else:
            problems += result
    return verified, problems


def bitcoin_from_options(config: Path | None, url: str | None, user: str | None, password: str | None,
             cookie: Path | None) -> tuple[BitcoinRPC, int]:
    confirmations = 6
    credentials = None
    if config is not None:
        from node.config import ConfigError, load_config

        try:
            section = load_config(config).anchor
        except ConfigError as exc:
            raise AnchorCliError(str(exc)) from None
        url = url or section.rpc_url
        if section.rpc_user:
            credentials = BitcoinCredentials(section.rpc_user, section.rpc_password)
        cookie = cookie or section.rpc_cookie_file
        confirmations = section.confirmations
    if url is None:
        raise AnchorCliError("no Bitcoin node: pass --bitcoin-rpc URL or --config with an [anchor] section")
    if user is not None:
        credentials = BitcoinCredentials(user, password or "")
    try:
        return BitcoinRPC(url, credentials=credentials, cookie_file=cookie), confirmations
    except BitcoinError as exc:
        raise AnchorCliError(str(exc)) from None


@click.group("anchor")
def anchor() -> None:
    """Check Settle's Bitcoin anchors and export OpenTimestamps proofs."""


@anchor.command("verify")
@click.option("--rpc", "rpc_url", default="http://127.0.0.1:8545", show_default=True,
              help="JSON-RPC URL of the Settle node whose chain is checked.")
@click.option("--records", "records_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Check these records (JSON from anchor_getAnchors) instead of the node's own.")
@click.option("--datadir", "data_dir", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Read the chain from this stopped node's data directory (or a copy) instead of --rpc: "
              "block hashes are recomputed from the stored headers. Needs --genesis.")
@click.option("--genesis", "genesis_path", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="The chain's genesis.json, with --datadir.")
@click.option("--config", "config_path", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Take the Bitcoin node and confirmations from this node config's [anchor] section.")
@click.option("--bitcoin-rpc", "bitcoin_url", help="Bitcoin Core JSON-RPC URL (http://user:pass@host:port/).")
@click.option("--bitcoin-user", help="Bitcoin RPC user.")
@click.option("--bitcoin-password", envvar="SETTLE_BITCOIN_RPC_PASSWORD", help="Bitcoin RPC password "
              "(or the SETTLE_BITCOIN_RPC_PASSWORD environment variable).")
@click.option("--bitcoin-cookie", type=click.Path(path_type=Path), help="bitcoind's .cookie file.")
@click.option("--confirmations", type=click.IntRange(1, 1000), help="Confirmations required (default: config, or 6).")
@click.option("--height", type=click.IntRange(0), help="Check only block H: the hash chain up to the checkpoint "
              "anchor that covers it, and that anchor.")
def verify(rpc_url: str, records_file: Path | None, data_dir: Path | None, genesis_path: Path | None,
           config_path: Path | None, bitcoin_url: str | None, bitcoin_user: str | None,
           bitcoin_password: str | None, bitcoin_cookie: Path | None, confirmations: int | None,
           height: int | None) -> None:
    """Check every anchor record against a Bitcoin node and the local chain; exit 1 on any mismatch."""
    rpc, configured = bitcoin_from_options(config_path, bitcoin_url, bitcoin_user, bitcoin_password, bitcoin_cookie)
    required = confirmations or configured
    if (data_dir is None) != (genesis_path is None):
        raise AnchorCliError("--datadir and --genesis go together")
    if data_dir is not None and genesis_path is not None:
        database = DatabaseChain.open(data_dir, genesis_path)
        try:
            records = load_records(rpc_url, records_file) if records_file is not None else database.records()
            _verify(database, records, rpc, required, height)
        finally:
            database.close()
        return
    chain = LocalChain(rpc_url)
    _verify(chain, load_records(rpc_url, records_file), rpc, required, height)


def _verify(chain: LocalChain | DatabaseChain, records: list[AnchorRecord], rpc: BitcoinRPC, required: int,
            height: int | None) -> None:
    problems: list[Mismatch] = []
    if height is not None:
        covering = checkpoint_covering([r.height for r in records], height)
        if covering is None:
            raise AnchorCliError(f"block {height} is not covered by any anchor record yet")
        problems += hash_chain_mismatches(height, covering, chain.block_hash, chain.parent_hash)
        records = [r for r in records if r.height == covering]
    if not records:
        raise AnchorCliError("no anchor records to verify")
    checked = 0
    for record in records:
        try:
            result = verify_record(record, chain.block_hash(record.height), rpc, confirmations=required,
                                   chain_id=chain.chain_id)
        except BitcoinError as exc:
            raise AnchorCliError(str(exc)) from None
        if isinstance(result, Verified):
            checked += 1
            click.echo(f"ok height {result.height}: bitcoin tx {result.btc_txid} in block {result.btc_block_height} "
                       f"({result.confirmations} confirmations)")
        else:
            problems += result
    for problem in problems:
        click.echo(f"MISMATCH {problem}")
    if problems:
        raise AnchorCliError(f"{len(problems)} mismatch(es); first: {problems[0]}")
    if height is not None:
        click.echo(f"block {height} is covered by the anchor of checkpoint {records[0].height} through its hash chain")
    click.echo(f"{checked} anchor record(s) verified")


@anchor.command("export-ots")
@click.option("--height", type=click.IntRange(0), required=True, help="Settle block to prove.")
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write the .ots proof.")
@click.option("--rpc", "rpc_url", default="http://127.0.0.1:8545", show_default=True,
              help="JSON-RPC URL of a Settle node.")
@click.option("--records", "records_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Take the record from this file (JSON from anchor_getAnchors) instead of the node.")
def export_ots(height: int, out_path: Path, rpc_url: str, records_file: Path | None) -> None:
    """Write an OpenTimestamps proof for the checkpoint hash that covers block HEIGHT.

    For a checkpoint block, the proof timestamps that block's own hash. For a block
    between checkpoints, it timestamps the next anchored checkpoint's hash, which
    commits to the block through the parent-hash chain (check that part with
    `settle anchor verify --height HEIGHT`).
    """
    records = load_records(rpc_url, records_file)
    covering = checkpoint_covering([r.height for r in records], height)
    if covering is None:
        raise AnchorCliError(f"block {height} is not covered by any anchor record yet")
    record = next(r for r in records if r.height == covering)
    try:
        found = find_payload(parse_transaction(record.raw_tx))
    except BitcoinParseError as exc:
        raise AnchorCliError(f"record of checkpoint {covering}: bad transaction: {exc}") from None
    if found is None:
        raise AnchorCliError(f"record of checkpoint {covering}: the transaction carries no Settle payload")
    payload, offset = found
    proof = build_ots(payload.block_hash, record.raw_tx[:offset], record.raw_tx[offset + 32:], list(record.branch),
                      record.tx_index, record.btc_block_height)
    try:
        out_path.write_bytes(proof)
    except OSError as exc:
        raise AnchorCliError(f"{out_path}: cannot write: {exc.strerror or exc}") from None
    click.echo(f"wrote {out_path} ({len(proof)} bytes): block hash 0x{payload.block_hash.hex()} of checkpoint "
               f"{covering}, attested by Bitcoin block {record.btc_block_height}")
    if covering != height:
        click.echo(f"block {height} is covered through the hash chain up to checkpoint {covering}: "
                   f"check it with `settle anchor verify --height {height}`")
    click.echo(f"verify: ots --no-cache --bitcoin-node URL verify -d {payload.block_hash.hex()} {out_path}")

"""``settle audit report``: audit a node's database (a copy, or a stopped node's) against its genesis."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from node.audit import AuditReport
    from node.store import ChainStore


@click.group()
def audit() -> None:
    """Independent verification of a chain database (docs/audit.md)."""


@audit.command("report")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="The audit node's config.toml: its data_dir and genesis are audited.")
@click.option("--datadir", type=click.Path(path_type=Path), default=None,
              help="A node data directory (or a copy handed to an auditor), instead of --config.")
@click.option("--genesis", "genesis_path", type=click.Path(path_type=Path), default=None,
              help="The network's genesis.json, with --datadir.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("audit-report.json"), show_default=True,
              help="Where the JSON report is written.")
@click.option("--certificates-only", is_flag=True, help="Check certificates only, no re-execution.")
@click.option("--bitcoin-rpc", "bitcoin_url", help="Check the chain's Bitcoin anchors against this Bitcoin Core "
              "JSON-RPC URL (http://user:pass@host:port/); the config's [anchor] section does when enabled.")
@click.option("--bitcoin-password", envvar="SETTLE_BITCOIN_RPC_PASSWORD",
              help="Bitcoin RPC password (or the SETTLE_BITCOIN_RPC_PASSWORD environment variable).")
@click.option("--confirmations", type=click.IntRange(1, 1000),
              help="Confirmations an anchor needs (default: the config's [anchor] confirmations, or 6).")
def audit_report(config_path: Path | None, datadir: Path | None, genesis_path: Path | None, out: Path,
                 certificates_only: bool, bitcoin_url: str | None, bitcoin_password: str | None,
                 confirmations: int | None) -> None:
    """Verify every certificate, re-execute every block, compare every root, receipt and stored state node,
    and check every Bitcoin anchor record when a Bitcoin node is configured.

    Prints a summary, writes the JSON report, and exits 1 if a discrepancy was found (named exactly:
    height, field, expected, found).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from genesis.errors import GenesisError
    from genesis.loader import load_genesis
    from node.audit import audit_store, summary_lines, write_report
    from node.cli import SettleError
    from node.config import ConfigError, load_config
    from node.store import ChainStore, StoreError

    anchors_from_config = False
    try:
        if config_path is not None:
            config = load_config(config_path)
            datadir, genesis_file = config.node.data_dir, config.node.genesis
            anchors_from_config = config.anchor.enabled
        elif datadir is not None and genesis_path is not None:
            genesis_file = genesis_path
        else:
            raise SettleError("give --config, or --datadir with --genesis")
        genesis = load_genesis(genesis_file)
    except (ConfigError, GenesisError) as exc:
        raise SettleError(str(exc)) from None
    if not (datadir / "chain").is_dir():
        raise SettleError(f"{datadir}: no chain database (expected {datadir / 'chain'})")
    try:
        store = ChainStore(datadir, genesis)
    except StoreError as exc:
        raise SettleError(str(exc)) from None
    console = Console(stderr=True)
    try:
        columns = (TextColumn("auditing"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]:.0f} blocks/s"), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("audit", total=store.head.block_number, rate=0.0)

            def advance(height: int, head: int) -> None:
                elapsed = progress.tasks[0].elapsed or 0.0
                progress.update(task, completed=height, rate=height / elapsed if elapsed else 0.0)

            report = audit_store(store, progress=advance, reexecute=not certificates_only)
        if bitcoin_url is not None or anchors_from_config:
            _check_anchors(report, store, config_path if anchors_from_config else None, bitcoin_url,
                           bitcoin_password, confirmations)
    finally:
        store.close()
    for line in summary_lines(report):
        click.echo(line)
    write_report(report, out)
    click.echo(f"report written to {out}")
    sys.exit(0 if report.ok else 1)


def _check_anchors(report: AuditReport, store: ChainStore, config_path: Path | None, bitcoin_url: str | None,
                   bitcoin_password: str | None, confirmations: int | None) -> None:
    """``settle anchor verify``'s checks over the audited database: every record in its anchor registry against
    Bitcoin (merkle branch, best chain, confirmations) and against the block hashes recomputed from the
    database's headers. A mismatch becomes the report's first discrepancy unless an earlier one was found."""
    from node.anchor.bitcoin import BitcoinError
    from node.anchor.cli import AnchorCliError, DatabaseChain, bitcoin_from_options, check_database_anchors
    from node.audit import Discrepancy

    try:
        rpc, configured = bitcoin_from_options(config_path, bitcoin_url, None, bitcoin_password, None)
        verified, problems = check_database_anchors(DatabaseChain(store), rpc, confirmations or configured)
    except (AnchorCliError, BitcoinError) as exc:
        report.anchors = f"not checked: {getattr(exc, 'message', None) or exc}"
        if report.first_discrepancy is None:
            report.first_discrepancy = Discrepancy(report.to_height, "bitcoin anchors", "checked", str(exc))
        return
    report.anchors = f"{verified} verified, {len(problems)} mismatch(es)"
    if problems and report.first_discrepancy is None:
        first = min(problems, key=lambda problem: problem.height)
        report.first_discrepancy = Discrepancy(first.height, f"bitcoin anchor: {first.what}", first.expected,
                                               first.found)

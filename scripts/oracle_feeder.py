#!/usr/bin/env python
"""Oracle feeder: validators sign prices from a source file; a quorum of signatures is submitted.

    python scripts/oracle_feeder.py --rpc http://127.0.0.1:8545 --oracle 0x… \\
        --prices prices.json --validator-key-file node0/account.key --validator-key-file node1/account.key … \\
        --from 0x…  (or --submitter-key HEX)  [--interval 60]

``prices.json`` maps asset symbols to prices in cash units, e.g. ``{"SILVER": 50000}``; it is re-read
every round, so an adapter only has to rewrite the file. For each asset the feeder builds the next
round's report, observed at the latest block's timestamp (the chain's clock, which the oracle
checks against), lets each validator key sign it, and submits once the signatures of current
validators reach the oracle's quorum. Keys that are not current validators are reported and
skipped. In production each validator would run the signing step on its own machine; the
collection and submission are the same.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from web3.exceptions import Web3Exception

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts.compiler import ContractsError
from contracts.deploy import connect, contract_at, send
from contracts.oracle_reports import PriceReport, asset_id, order_signatures, sign_report
from genesis.errors import KeyFileError
from genesis.keys import read_key_file


class FeederError(click.ClickException):
    """Bad input or a failed submission, reported as one line."""


def read_prices(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FeederError(f"cannot read prices from {path}: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0 for k, v in data.items()
    ):
        raise FeederError(f"{path} must be a JSON object of symbol -> non-negative integer price")
    return data


def feed_once(w3, oracle, prices: dict[str, int], keys: list[bytes], sender: str | None,
              submitter_key: str | None) -> list[tuple[str, int, int]]:
    """Sign and submit one round per asset; return (symbol, round, signatures) for each submitted."""
    validators = {v.lower() for v in oracle.functions.validators().call()}
    needed = oracle.functions.quorum().call()
    chain_id = w3.eth.chain_id
    submitted = []
    for symbol, price in sorted(prices.items()):
        asset = asset_id(symbol)
        report = PriceReport(asset, price, oracle.functions.latestRound(asset).call() + 1,
                             w3.eth.get_block("latest")["timestamp"])
        collected = []
        for key in keys:
            signed = sign_report(report, key, chain_id, oracle.address)
            if signed.signer.lower() not in validators:
                click.echo(f"skipping {signed.signer}: not a current validator", err=True)
                continue
            collected.append(signed)
            if len(collected) >= needed:
                break
        if len(collected) < needed:
            raise FeederError(f"{symbol}: only {len(collected)} validator signatures, quorum is {needed}")
        call = oracle.functions.submitReport(asset, price, report.round, report.observed_at,
                                             order_signatures(collected))
        send(w3, call, sender=sender, private_key=submitter_key)
        submitted.append((symbol, report.round, len(collected)))
    return submitted


@click.command()
@click.option("--rpc", "rpc_url", default="http://127.0.0.1:8545", show_default=True)
@click.option("--oracle", "oracle_address", required=True, help="ConsortiumOracle address.")
@click.option("--prices", "prices_path", type=click.Path(path_type=Path), required=True,
              help="JSON file: symbol -> price in cash units.")
@click.option("--validator-key-file", "key_files", type=click.Path(path_type=Path), multiple=True, required=True,
              help="A validator's account key file (hex); repeat once per validator.")
@click.option("--from", "sender", help="Submit from an account the node holds unlocked (dev chain).")
@click.option("--submitter-key", help="Submit with this private key (hex).")
@click.option("--interval", type=click.FloatRange(0), default=0, help="Seconds between rounds; 0 runs once.")
def main(rpc_url: str, oracle_address: str, prices_path: Path, key_files: tuple[Path, ...], sender: str | None,
         submitter_key: str | None, interval: float) -> None:
    """Sign prices with every validator key and submit reports that reach the oracle's quorum."""
    if (sender is None) == (submitter_key is None):
        raise FeederError("give exactly one of --from or --submitter-key")
    try:
        keys = [read_key_file(path, "account") for path in key_files]
        w3 = connect(rpc_url)
        oracle = contract_at(w3, "ConsortiumOracle", oracle_address)
        while True:
            for symbol, round_, signatures in feed_once(w3, oracle, read_prices(prices_path), keys, sender,
                                                        submitter_key):
                click.echo(f"{symbol}: round {round_} accepted with {signatures} signatures")
            if not interval:
                return
            time.sleep(interval)  # a daemon pacing itself against the wall clock
    except (ContractsError, KeyFileError) as exc:
        raise FeederError(str(exc)) from None
    except (ValueError, Web3Exception) as exc:  # a bad address, no oracle there, a revert
        raise FeederError(f"{type(exc).__name__}: {exc}") from None


if __name__ == "__main__":
    main()

"""Helpers for DUO tests against a real `settle node dev` process: accounts, batched raw
transactions, chain time, deployment with whitepaper defaults."""
from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.logs import DISCARD

from node.dev_accounts import DevSigner
from node.duo.chain import Revert, TxSender, call_revert
from node.duo.deploy import DuoDeployment, DuoParams, Role, deploy_duo
from tests.e2e.node_process import wait_until

WAD = 10**18
DEV = DevSigner.from_mnemonic()


def wad(value: str | float | int) -> int:
    """A decimal number as a WAD integer, exactly (``wad("489.29")``)."""
    return int(Decimal(str(value)) * WAD)


def make_accounts(count: int, tag: str) -> list[LocalAccount]:
    """Deterministic throw-away accounts (keys derived from ``tag``)."""
    return [Account.from_key(keccak(text=f"settle-duo-{tag}-{i}")) for i in range(count)]


def rpc_batch(url: str, calls: Sequence[tuple[str, list[Any]]], timeout: float = 60.0) -> list[dict[str, Any]]:
    """One JSON-RPC batch (at most 100 calls, the node's batch limit); responses in call order."""
    body = json.dumps([{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)])
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        replies = json.loads(response.read())
    return sorted(replies, key=lambda r: r["id"])


def send_raw_many(url: str, raws: Iterable[bytes]) -> list[str]:
    """Send signed transactions in batches of 100; every one must be admitted."""
    raws = list(raws)
    hashes: list[str] = []
    for start in range(0, len(raws), 100):
        chunk = raws[start:start + 100]
        replies = rpc_batch(url, [("eth_sendRawTransaction", ["0x" + r.hex()]) for r in chunk])
        for reply in replies:
            assert "error" not in reply, reply
            hashes.append(reply["result"])
    return hashes


def wait_receipts(url: str, hashes: Sequence[str], timeout: float = 120.0) -> list[dict[str, Any]]:
    """Receipts of all ``hashes`` (raw JSON), polling in batches until every one is mined."""
    receipts: dict[str, dict[str, Any]] = {}

    def all_mined() -> bool:
        missing = [h for h in hashes if h not in receipts]
        for start in range(0, len(missing), 100):
            chunk = missing[start:start + 100]
            for tx_hash, reply in zip(
                chunk, rpc_batch(url, [("eth_getTransactionReceipt", [h]) for h in chunk]), strict=True
            ):
                if reply.get("result"):
                    receipts[tx_hash] = reply["result"]
        return len(receipts) == len(hashes)

    wait_until(all_mined, timeout, lambda: f"{len(hashes) - len(receipts)} transactions not mined after {timeout}s")
    return [receipts[h] for h in hashes]


@dataclass
class Chain:
    """A web3 handle on a dev node plus time control."""

    url: str
    w3: Web3 = field(init=False)

    def __post_init__(self) -> None:
        self.w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 60}))

    def advance(self, seconds: int) -> int:
        """Mine a block ``seconds`` after the latest one; returns its timestamp.

        evm_mine with a timestamp (not evm_increaseTime) because block times may already run ahead
        of the wall clock when several blocks were produced within one second.
        """
        target = self.w3.eth.get_block("latest")["timestamp"] + seconds
        self.w3.provider.make_request("evm_mine", [target])
        return self.w3.eth.get_block("latest")["timestamp"]

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.w3.provider.make_request("evm_mine", [])

    def fund(self, addresses: Sequence[str], amount: int) -> None:
        """Send ``amount`` wei to each address from the ten dev accounts, in batches."""
        senders = [TxSender(self.w3, account, chain_id=1337, max_fee=0) for account in DEV.accounts]
        raws = [senders[i % len(senders)].sign(to=addr, value=amount, gas=21_000) for i, addr in enumerate(addresses)]
        receipts = wait_receipts(self.url, send_raw_many(self.url, raws))
        assert all(int(r["status"], 16) == 1 for r in receipts)

    def sender(self, account: LocalAccount) -> TxSender:
        return TxSender(self.w3, account, chain_id=1337, max_fee=0)


@dataclass
class Duo:
    """One deployed DUO set and the senders of its admin roles and pool."""

    chain: Chain
    deployment: DuoDeployment
    roles: dict[Role, TxSender]
    pool: list[TxSender]
    params: DuoParams

    @property
    def beethoven(self):  # type: ignore[no-untyped-def]
        return self.deployment.beethoven

    def feed(self, number: int) -> TxSender:
        return self.roles[Role(Role.PRICE_FEED_1 + number - 1)]

    def tx(self, sender: TxSender, function, gas: int = 1_000_000, value: int = 0):  # type: ignore[no-untyped-def]
        receipt = sender.transact(function, gas=gas, value=value)
        assert receipt.status == 1, f"{function.fn_name} reverted"
        return receipt

    def revert(self, sender: TxSender | str, function, value: int = 0) -> Revert | None:  # type: ignore[no-untyped-def]
        address = sender if isinstance(sender, str) else sender.address
        return call_revert(function, address, value, extra_abi=self.beethoven.abi)

    def events(self, receipt, name: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
        return [dict(e.args) for e in getattr(self.beethoven.events, name)().process_receipt(receipt, errors=DISCARD)]

    def prices(self) -> dict[str, Any]:
        values, senders = self.beethoven.functions.getSystemPrices().call()
        keys = [
            "first_price",
            "first_time",
            "second_price",
            "second_time",
            "reset_price",
            "reset_time",
            "last_price",
            "last_time",
        ]
        return {**dict(zip(keys, values, strict=True)), "first_sender": senders[0], "second_sender": senders[1]}


ADMIN_ACCOUNTS = make_accounts(40, "admin")


def deploy(
    chain: Chain, params: DuoParams = DuoParams(), start_price: int | None = wad(500), admin_offset: int = 0
) -> Duo:
    """Deploy a fresh DUO set (dev account 0 deploys); roles and a six-address pool from ADMIN_ACCOUNTS.

    ``admin_offset`` picks a different slice of the admin accounts (addresses are per contract, so
    reusing them across deployments is fine). Starts the contract at ``start_price`` via pf1.
    """
    accounts = ADMIN_ACCOUNTS[admin_offset : admin_offset + 12]
    role_senders = {role: chain.sender(accounts[role]) for role in Role}
    pool = [chain.sender(a) for a in accounts[6:12]]
    deployment = deploy_duo(
        chain.w3, DEV.accounts[0].address, [s.address for s in role_senders.values()], [s.address for s in pool], params
    )
    duo = Duo(chain, deployment, role_senders, pool, params)
    if start_price is not None:
        duo.tx(duo.feed(1), duo.beethoven.functions.startContract(start_price))
    return duo

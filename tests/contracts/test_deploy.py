"""`settle contracts deploy` and contracts.deploy against a real dev node."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from eth_account import Account
from eth_utils import keccak

from contracts.compiler import load_artifact
from contracts.deploy import DeployError, contract_at, deploy, parse_constructor_args
from node.cli import main

pytestmark = pytest.mark.e2e


def settle(*args: str) -> SimpleNamespace:
    """Run the real `settle` CLI in-process (a subprocess per call costs seconds of imports)."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def test_cli_deploys_with_unlocked_account_and_private_key(chain, tmp_path):
    record = tmp_path / "deployments.json"
    bank = chain.accounts[0]
    done = settle("contracts", "deploy", "CashToken", "Krona Token", "SEKT", "2", bank,
                  "--rpc", chain.w3.provider.endpoint_uri, "--from", bank, "--record", str(record))
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(record.read_text())["deployments"]
    assert entry["name"] == "CashToken" and entry["chain_id"] == 1337 and entry["deployer"] == bank
    assert entry["args"] == ["Krona Token", "SEKT", 2, bank]
    # Same runtime code, except the immutable `decimals` the constructor filled in.
    assert len(chain.w3.eth.get_code(entry["address"])) == len(load_artifact("CashToken").deployed_bytecode)
    assert contract_at(chain.w3, "CashToken", entry["address"]).functions.symbol().call() == "SEKT"

    # A key the node does not hold: fund it, sign locally; arrays go in as JSON. Appends to the record.
    key = keccak(text="deployer key")
    deployer = Account.from_key(key).address
    funding = chain.w3.eth.send_transaction({"from": bank, "to": deployer, "value": 10**18})
    chain.w3.eth.wait_for_transaction_receipt(funding, timeout=30, poll_latency=0.05)
    done = settle("contracts", "deploy", "StaticValidatorSource", json.dumps([bank, deployer]),
                  "--rpc", chain.w3.provider.endpoint_uri, "--key", "0x" + key.hex(), "--record", str(record))
    assert done.returncode == 0, done.stderr
    second = json.loads(record.read_text())["deployments"][1]
    assert second["deployer"] == deployer
    source = contract_at(chain.w3, "StaticValidatorSource", second["address"])
    assert source.functions.validators().call() == [bank, deployer]


@pytest.mark.parametrize("args, message", [
    (["Nope"], "no artifact for contract 'Nope'"),
    (["CashToken", "a", "b"], "takes 4 constructor arguments"),
    (["CashToken", "a", "b", "two", "0x" + "11" * 20], "is not an integer"),
    (["CashToken", "a", "b", "2", "0x1234"], "is not an address"),
    (["StaticValidatorSource", "not json"], "must be JSON"),
])
def test_cli_bad_arguments_are_clear_errors(chain, tmp_path, args, message):
    done = settle("contracts", "deploy", *args, "--rpc", chain.w3.provider.endpoint_uri,
                  "--from", chain.accounts[0], "--record", str(tmp_path / "r.json"))
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r.json").exists()


def test_cli_refuses_missing_signer_and_dead_node(tmp_path):
    done = settle("contracts", "deploy", "HashedTimelock", "--rpc", "http://127.0.0.1:9")
    assert done.returncode != 0 and "exactly one of --key, --key-file or --from" in done.stderr
    done = settle("contracts", "deploy", "HashedTimelock", "--rpc", "http://127.0.0.1:9", "--key", "0x" + "11" * 32)
    assert done.returncode != 0 and "no JSON-RPC node at" in done.stderr and "Traceback" not in done.stderr


def test_python_api_reports_reverting_constructor(chain):
    with pytest.raises(DeployError, match="transaction failed"):
        deploy(chain.w3, "CashSettledFuture", ("0x" + "00" * 20,) * 2 + (b"\0" * 32, 0, 0, 0, 0, 0, 0, 0,
                                                                          chain.accounts[1], chain.accounts[2], 0),
               sender=chain.accounts[0])
    assert parse_constructor_args("Bond", ["n", "s", "0x" + "11" * 20, "0x" + "22" * 20,
                                           '["0x' + "33" * 20 + '", "0x' + "44" * 20 + '", 1000, 25, [1, 2], 2]'])[4] \
        == ("0x" + "33" * 20, "0x" + "44" * 20, 1000, 25, [1, 2], 2)

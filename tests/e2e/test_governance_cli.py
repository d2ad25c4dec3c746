"""`settle validators …` and `settle members …` against a dev chain (one validator: its proposals pass at once)."""
from __future__ import annotations

import json
import subprocess

import pytest
from eth_account import Account

from consensus.validators import prove_possession
from genesis.keys import generate_validator_keys, write_key_file
from genesis.loader import validator_to_json
from node.dev import dev_validator_keys
from tests.e2e.node_process import SETTLE

pytestmark = [pytest.mark.e2e]


def _settle(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(SETTLE + list(args), capture_output=True, text=True, timeout=120)


def test_operator_commands(dev_node, tmp_path):
    key_file = tmp_path / "operator.key"
    write_key_file(key_file, dev_validator_keys().account_key)
    rpc = ["--rpc", dev_node.url]

    listed = _settle("validators", "list", *rpc)
    assert listed.returncode == 0, listed.stderr
    assert "1 validators; a proposal passes with 1 votes" in listed.stdout

    newcomer = Account.create()
    added = _settle("members", "add", *rpc, "--key-file", str(key_file), "--address", newcomer.address, "--deployer")
    assert added.returncode == 0, added.stderr
    assert "proposal 1 passed and is in effect" in added.stdout
    members = _settle("members", "list", *rpc)
    assert f"{newcomer.address} member,deployer" in members.stdout
    assert "membership open, deployment open" in members.stdout  # the dev chain stays open

    removed = _settle("members", "remove", *rpc, "--key-file", str(key_file), "--address", newcomer.address,
                      "--deployer-only")
    assert removed.returncode == 0 and "passed" in removed.stdout
    assert f"{newcomer.address} member\n" in _settle("members", "list", *rpc).stdout

    # A rogue key: a proof of possession of another key is refused by the registry, and nothing is sent.
    keys = generate_validator_keys(b"governance newcomer")
    entry = validator_to_json(keys.genesis_validator())
    entry["blsProofOfPossession"] = "0x" + prove_possession(generate_validator_keys(b"other").bls_secret_key).hex()
    (tmp_path / "rogue.json").write_text(json.dumps(entry))
    rogue = _settle("validators", "propose-add", *rpc, "--key-file", str(key_file), "--entry",
                    str(tmp_path / "rogue.json"))
    assert rogue.returncode == 1 and "Traceback" not in rogue.stderr
    address = Account.from_key(keys.account_key).address
    assert f"proposeAddValidator refused: InvalidProofOfPossession({address})" in rogue.stderr, rogue.stderr

    # A genuine one passes (one validator: its own vote is a majority), and the set grows.
    (tmp_path / "good.json").write_text(json.dumps(validator_to_json(keys.genesis_validator())))
    good = _settle("validators", "propose-add", *rpc, "--key-file", str(key_file), "--entry",
                   str(tmp_path / "good.json"))
    assert good.returncode == 0 and "passed and is in effect" in good.stdout, good.stderr
    assert "2 validators" in _settle("validators", "list", *rpc).stdout

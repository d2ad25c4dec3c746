"""`settle keys generate | show`: the files written and the public identities printed."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from genesis.keys import KeyFilePaths, read_validator_keys
from genesis.loader import parse_genesis
from node.cli import main


def test_generate_writes_the_genesis_entry_with_its_proof_of_possession(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    result = CliRunner().invoke(main, ["keys", "generate", "--out", str(out)])
    assert result.exit_code == 0, result.output
    keys = read_validator_keys(KeyFilePaths(out / "account.key", out / "bls.key", out / "node.key"))
    entry = json.loads((out / "validator.json").read_text())
    assert entry["blsProofOfPossession"] == "0x" + keys.bls_proof_of_possession.hex()
    assert f"bls proof of possession 0x{keys.bls_proof_of_possession.hex()}" in result.output
    # The entry is a valid genesis validator as written.
    genesis = parse_genesis({"chainId": 5, "gasLimit": 30_000_000, "validators": [entry]})
    assert genesis.validators[0] == keys.genesis_validator()

    shown = CliRunner().invoke(main, ["keys", "show", "--dir", str(out)])
    assert shown.exit_code == 0 and shown.output == result.output

    again = CliRunner().invoke(main, ["keys", "generate", "--out", str(out)])
    assert again.exit_code != 0 and "already exists; refusing to overwrite" in again.output

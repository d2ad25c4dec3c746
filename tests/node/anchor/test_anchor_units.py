"""Payload layout, script and merkle parsing, duty rotation, the pending file, config and genesis fields."""
from __future__ import annotations

import pytest

from genesis.loader import genesis_to_json, parse_genesis
from genesis.model import DEFAULT_ANCHOR_REGISTRY_ADDRESS, DEFAULT_REGISTRY_ADDRESS, AnchorParams
from genesis.system import mapping_slot, system_accounts
from node.anchor.bitcoin import redact_url, split_url
from node.anchor.bitcoin_tx import dsha256, fold_branch, merkle_branch, op_return_data
from node.anchor.duty import checkpoints_up_to, duty_holder, hand_overs
from node.anchor.payload import SIZE, AnchorPayload, PayloadError
from node.anchor.pending import PendingAnchor, PendingAnchors, PendingFileError
from node.config import ConfigFieldError, default_config
from node.dev import dev_genesis
from node.dev_accounts import DevSigner


def test_payload_layout_is_fixed_and_checked():
    payload = AnchorPayload(chain_id=1337, genesis_prefix=bytes.fromhex("a1b2c3d4"), height=300,
                            block_hash=bytes(range(32)))
    data = payload.encode()
    assert len(data) == SIZE == 57
    assert data.hex() == ("53544c41" "01" "0000000000000539" "a1b2c3d4" "000000000000012c" + bytes(range(32)).hex())
    assert AnchorPayload.decode(data) == payload
    with pytest.raises(PayloadError, match="tag"):
        AnchorPayload.decode(b"XXXX" + data[4:])
    with pytest.raises(PayloadError, match="version"):
        AnchorPayload.decode(data[:4] + b"\x02" + data[5:])
    with pytest.raises(PayloadError, match="56 bytes"):
        AnchorPayload.decode(data[:-1])


def test_op_return_push_forms_are_parsed_not_assumed():
    data = bytes(57)
    assert op_return_data(b"\x6a\x39" + data) == (data, 2)
    long = bytes(range(78))
    assert op_return_data(b"\x6a\x4c\x4e" + long) == (long, 3)
    assert op_return_data(b"\x6a\x39" + data[:-1]) is None  # push longer than the script
    assert op_return_data(b"\x76\xa9\x14" + bytes(20)) is None  # not OP_RETURN


@pytest.mark.parametrize("leaves", [1, 2, 3, 5, 8, 11])
def test_merkle_branches_fold_to_the_root_with_the_odd_node_paired_with_itself(leaves):
    txids = [dsha256(bytes([i])) for i in range(leaves)]
    level = list(txids)
    while len(level) > 1:  # the root, computed independently
        if len(level) % 2:
            level.append(level[-1])
        level = [dsha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    for index, txid in enumerate(txids):
        branch = merkle_branch(txids, index)
        assert fold_branch(txid, index, branch) == level[0]
        assert fold_branch(txids[(index + 1) % leaves], index, branch) != level[0] or leaves == 1


def test_duty_rotates_by_checkpoint_and_hands_over_after_the_timeout():
    validators = [b"a", b"b", b"c", b"d"]
    assert list(checkpoints_up_to(35, 10)) == [10, 20, 30]
    assert [duty_holder(h, 10, validators, 1000, 1000, 60) for h in (10, 20, 30, 40, 50)] == [
        b"b", b"c", b"d", b"a", b"b"]
    assert duty_holder(10, 10, validators, 1000, 1059.9, 60) == b"b"
    assert duty_holder(10, 10, validators, 1000, 1060, 60) == b"c"
    assert duty_holder(10, 10, validators, 1000, 1000 + 4 * 60, 60) == b"b"  # round the set
    assert duty_holder(10, 10, validators, 1000, 900, 60) == b"b"  # a clock behind the block: still the first
    assert [hand_overs(1000, now, 60) for now in (900, 1000, 1059, 1060, 1181)] == [0, 0, 0, 1, 3]


def test_pending_anchors_survive_a_reload_and_a_corrupt_file_is_an_error(tmp_path):
    path = tmp_path / "anchor" / "pending.json"
    pending = PendingAnchors(path)
    entry = PendingAnchor(10, b"\x01" * 32, b"\x02" * 100, b"\x03" * 32)
    pending.put(entry)
    pending.put(PendingAnchor(20, b"\x04" * 32, b"\x05" * 90, b"\x06" * 32))
    pending.drop([20])
    assert PendingAnchors(path).entries == {10: entry}
    assert not path.with_suffix(".tmp").exists()
    path.write_text("[{\"height\": 1}")
    with pytest.raises(PendingFileError, match="pending.json"):
        PendingAnchors(path)


def test_anchor_config_section_is_validated_and_hides_the_password(tmp_path):
    config = default_config(tmp_path, anchor={"enabled": True, "rpc_password": "s3cret", "network": "regtest",
                                              "rpc_cookie_file": "btc/.cookie"})
    assert config.anchor.rpc_cookie_file == tmp_path / "btc" / ".cookie"
    assert "s3cret" not in repr(config)
    assert default_config(tmp_path).anchor.rpc_cookie_file is None
    with pytest.raises(ConfigFieldError, match=r"\[anchor\] network"):
        default_config(tmp_path, anchor={"network": "main"})
    with pytest.raises(ConfigFieldError, match=r"\[anchor\] interval_blocks"):
        default_config(tmp_path, anchor={"interval_blocks": 0})


def test_bitcoin_urls_lose_their_credentials_in_messages():
    url, credentials = split_url("http://user:p%40ss@127.0.0.1:8332/")
    assert url == "http://127.0.0.1:8332/" and credentials is not None and credentials.password == "p@ss"
    assert "p@ss" not in repr(credentials)
    assert redact_url("http://user:pass@host:1/x") == "http://host:1/x"


def test_genesis_deploys_the_anchor_registry_at_its_address_with_the_validators_as_writers():
    genesis = dev_genesis(DevSigner.from_mnemonic())
    assert genesis.anchor == AnchorParams()
    account = system_accounts(genesis)[DEFAULT_ANCHOR_REGISTRY_ADDRESS]
    assert set(system_accounts(genesis)) == {DEFAULT_ANCHOR_REGISTRY_ADDRESS, DEFAULT_REGISTRY_ADDRESS}
    assert account.storage == {mapping_slot(v.address, 0): 1 for v in genesis.validators}
    document = genesis_to_json(genesis)
    assert "anchor" not in document  # default: existing genesis files stay byte-identical
    document["anchor"] = {"registryAddress": "0x" + "00" * 19 + "99"}
    moved = parse_genesis(document)
    assert moved.anchor.registry_address == b"\x00" * 19 + b"\x99"
    assert genesis_to_json(moved)["anchor"] == {"registryAddress": "0x0000000000000000000000000000000000000099"}
    with pytest.raises(Exception, match="anchor.registry"):
        parse_genesis({**document, "anchor": {"registry": "0x00"}})

"""Standard tools can hash our blocks: the hash is keccak(RLP(header fields)) in Prague order."""
import rlp
from eth_hash.auto import keccak

from node.backend import Backend
from node.rpc.format import block_json
from node.store import ChainStore
from tests.helpers import GENESIS, transfer

PRAGUE_HEADER_FIELDS = [
    "parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot", "receiptsRoot", "logsBloom",
    "difficulty", "number", "gasLimit", "gasUsed", "timestamp", "extraData", "mixHash", "nonce",
    "baseFeePerGas", "withdrawalsRoot", "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot", "requestsHash",
]
QUANTITIES = {
    "difficulty",
    "number",
    "gasLimit",
    "gasUsed",
    "timestamp",
    "baseFeePerGas",
    "blobGasUsed",
    "excessBlobGas",
}


def _encode(name, value):
    if name in QUANTITIES:
        return int(value, 16)
    return bytes.fromhex(value[2:])


def test_block_hash_recomputes_from_json_fields(tmp_path):
    store = ChainStore(tmp_path, GENESIS)
    backend = Backend(store, coinbase=b"\x07" * 20)
    backend.send_raw_transaction(transfer(0, 0))
    built = backend.produce_block()
    rendered = block_json(built.block, full_transactions=False)
    fields = [_encode(name, rendered[name]) for name in PRAGUE_HEADER_FIELDS]
    assert "0x" + keccak(rlp.encode(fields)).hex() == rendered["hash"]
    assert rendered["transactions"] == ["0x" + built.block.transactions[0].hash.hex()]
    store.close()

import pytest
import rlp

from consensus.errors import InvalidSafetyRecord
from consensus.safety import Lock, SafetyRecord
from tests.consensus.helpers import block_hash, prepare

H = block_hash("locked")


def test_round_trip_with_and_without_lock():
    lock = Lock(1, H, b"the block", tuple(prepare(i, 7, 1, H).raw for i in range(3)))
    for record in (SafetyRecord(7, 2, lock, (b"m1", b"m2")), SafetyRecord(7, 0, None, ())):
        assert SafetyRecord.decode(record.encode()) == record


@pytest.mark.parametrize("data, reason", [
    (b"\xc2\x01", "not valid RLP"),
    (rlp.encode([1, 7, 2, []]), "expected an RLP list [version, height, round, lock, messages]"),
    (rlp.encode([2, 7, 2, [], []]), "unknown safety record version 2"),
    (rlp.encode([1, b"\x00\x07", 2, [], []]), "height: not a canonical 64-bit integer"),
    (rlp.encode([1, 7, 2, [1, H], []]), "lock: expected [] or [round, block_hash, block, prepares]"),
    (rlp.encode([1, 7, 2, [1, H[:3], b"b", []], []]), "lock: block_hash must be 32 bytes"),
    (rlp.encode([1, 7, 2, [1, H, b"b", b"p"], []]), "lock: prepares must be a list of byte strings"),
    (rlp.encode([1, 7, 2, [], b"m"]), "messages: expected a list of byte strings"),
])
def test_corrupt_records_are_refused(data, reason):
    with pytest.raises(InvalidSafetyRecord) as error:
        SafetyRecord.decode(data)
    assert error.value.reason.startswith(reason), error.value.reason

"""The call-tree walks written out for a single frame (``vm.executor``, ``vm.fast_path``) against py-evm's."""
from types import SimpleNamespace

from eth.exceptions import Revert
from eth.vm.forks.spurious_dragon._utils import THREE, collect_touched_accounts
from hypothesis import given, settings
from hypothesis import strategies as st

from vm.executor import _accounts_for_deletion, _touched_accounts
from vm.fast_path import _log_entries
from vm.interpreter import SettlePragueComputation

COINBASE = b"\xcb" * 20
ADDRESSES = [b"", THREE, COINBASE, b"\x01" * 20, b"\x02" * 20]


def _frame(to: bytes, failed: bool, deleted: list, beneficiaries: list, children: list,
           logs: list = ()) -> SettlePragueComputation:
    """A finished call frame with just what the walks read."""
    frame = SettlePragueComputation.__new__(SettlePragueComputation)
    frame.msg = SimpleNamespace(to=to)
    frame.state = SimpleNamespace(coinbase=COINBASE)
    frame._error = Revert(b"") if failed else None
    frame.accounts_to_delete, frame.beneficiaries, frame.children = deleted, beneficiaries, children
    frame._log_entries = list(logs)
    return frame


_address = st.sampled_from(ADDRESSES[1:])
#: Log entries as py-evm's LOG opcodes add them: a counter shared by the whole transaction, then the log.
_logs = st.lists(st.tuples(st.integers(0, 20), _address, st.lists(st.integers(0, 3), max_size=2).map(tuple),
                           st.binary(max_size=3)), max_size=3, unique_by=lambda entry: entry[0])
_frames = st.recursive(
    st.builds(_frame, st.sampled_from(ADDRESSES), st.booleans(), st.just([]), st.just([]), st.just([]), _logs),
    lambda children: st.builds(_frame, st.sampled_from(ADDRESSES), st.booleans(), st.lists(_address, max_size=2),
                               st.lists(_address, max_size=2), st.lists(children, max_size=3), _logs),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(_frames)
def test_eip161_walks_match_py_evms(frame) -> None:
    assert set(_touched_accounts(frame)) == collect_touched_accounts(frame)
    assert sorted(_accounts_for_deletion(frame)) == sorted(frame.get_accounts_for_deletion())
    assert _log_entries(frame) == frame.get_log_entries()


def test_a_single_frame_is_written_out() -> None:
    """The cases the shortcut decides itself: success, failure, RIPEMD-160 on failure, a creation."""
    assert _touched_accounts(_frame(b"\x01" * 20, False, [], [], [])) == {COINBASE, b"\x01" * 20}
    assert _touched_accounts(_frame(b"\x01" * 20, True, [], [], [])) == {COINBASE}
    assert _touched_accounts(_frame(THREE, True, [], [], [])) == {COINBASE, THREE}
    assert _touched_accounts(_frame(b"", False, [], [], [])) == {COINBASE}
    assert _accounts_for_deletion(_frame(b"\x01" * 20, False, [], [], [])) == ()


def test_flat_snapshots_take_cancuns_steps() -> None:
    """Snapshot, commit and revert across account state and transient storage, as Cancun's state does them."""
    from eth.db.atomic import AtomicDB

    from tests.helpers import GENESIS
    from vm.chain import build_genesis

    state = build_genesis(AtomicDB(), GENESIS).get_vm().state
    address = b"\x11" * 20
    outer = state.snapshot()
    assert outer[0] == state.state_root == state._account_db._trie.root_hash
    state.set_balance(address, 5)
    state.set_transient_storage(address, 1, b"\x01")
    inner = state.snapshot()
    state.set_balance(address, 6)
    state.set_transient_storage(address, 1, b"\x02")
    state.commit(inner)
    assert not state._account_db._journaldb.has_checkpoint(inner[1])
    assert not state.transient_storage._db.has_checkpoint(inner[1])
    assert (state.get_balance(address), state.get_transient_storage(address, 1)) == (6, b"\x02")
    state.revert(outer)
    assert (state.get_balance(address), state.get_transient_storage(address, 1)) == (0, b"")
    assert state.state_root == outer[0]


def test_flat_snapshots_refuse_a_state_with_snapshots_of_its_own() -> None:
    import pytest
    from eth.vm.forks.cancun.state import CancunState

    from vm.executor import FlatSnapshots

    class OwnSnapshots(CancunState):
        def snapshot(self):  # pragma: no cover - never called
            return super().snapshot()

    with pytest.raises(TypeError, match="snapshot is not Cancun's"):
        type("Flat", (FlatSnapshots, OwnSnapshots), {})


@settings(max_examples=200, deadline=None)
@given(_frames, st.integers(0, 10**6), st.integers(0, 10**6))
def test_gas_refund_is_py_evms(frame, message_refund, meter_refund) -> None:
    """A frame's refund: the message's, plus the meter's and the children's unless the frame failed."""
    from eth.vm.computation import BaseComputation
    from eth.vm.gas_meter import GasMeter

    def fill(node) -> None:
        node.msg.refund = message_refund
        node._gas_meter = GasMeter(100)
        node._gas_meter.gas_refunded = meter_refund
        for child in node.children:
            fill(child)

    fill(frame)
    assert frame.get_gas_refund() == BaseComputation.get_gas_refund(frame)

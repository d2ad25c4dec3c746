"""The node's start-up heap is frozen out of the cyclic collector; what comes later is still collected."""
import gc
import weakref

from node.service import freeze_startup_heap


class _Cycle:
    pass


def test_start_up_objects_are_frozen_and_later_cycles_are_collected() -> None:
    try:
        before = _Cycle()
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 0
        before.itself = before  # a cycle among frozen objects is left alone
        watch_before = weakref.ref(before)
        later = _Cycle()
        later.itself = later
        watch_later = weakref.ref(later)
        del before, later
        gc.collect()
        assert watch_later() is None
        assert watch_before() is not None
    finally:
        gc.unfreeze()
    gc.collect()
    assert watch_before() is None

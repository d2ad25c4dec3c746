"""Who anchors which checkpoint, and when: pure functions of the chain and the clock.

Checkpoint ``k`` is block ``k * interval``. Its anchoring duty falls first to
validator ``k mod n`` of the validator set (in proposer order), so consecutive
checkpoints spread over the set. If no anchor transaction for it is visible in
Bitcoin (mempool or chain) ``timeout`` seconds after the checkpoint block's
timestamp, the duty passes to the next validator, and so on round the set.
Every validator computes the same holder from the same block and a loosely
synchronised clock; a validator that finds an anchor already visible never
sends another. A validator the duty was handed to sends only after a whole
poll on duty with nothing visible, so that an anchor its predecessor sent just
before the hand-over is seen first. Should the two still cross (a predecessor
slower than a poll), the cost is a second Bitcoin transaction, never a second
record: the registry keeps the first.
"""
from __future__ import annotations

from collections.abc import Sequence


def checkpoints_up_to(head: int, interval: int) -> range:
    """Checkpoint heights from the first up to ``head``."""
    return range(interval, head + 1, interval)


def is_checkpoint(height: int, interval: int) -> bool:
    return height > 0 and height % interval == 0


def hand_overs(checkpoint_time: float, now: float, timeout: float) -> int:
    """How many times the duty of a checkpoint made at ``checkpoint_time`` has passed on by ``now``."""
    return int(max(0.0, now - checkpoint_time) // timeout)


def duty_holder(height: int, interval: int, validators: Sequence[bytes], checkpoint_time: float, now: float,
                timeout: float) -> bytes:
    """The validator on duty for checkpoint ``height`` at time ``now``."""
    number = height // interval
    return validators[(number + hand_overs(checkpoint_time, now, timeout)) % len(validators)]

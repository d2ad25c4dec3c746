"""Deterministic network simulation: SAFETY and LIVENESS over many seeds, and targeted fault runs.

``SETTLE_CONSENSUS_SEEDS`` (default 240) sets how many seeds the sweep runs, and
``SETTLE_CONSENSUS_HEIGHTS`` (default 2) how many heights each must reach after healing; e.g.
``SETTLE_CONSENSUS_SEEDS=2000 SETTLE_CONSENSUS_HEIGHTS=5 pytest tests/consensus/test_simulation.py``.
A failure names its scenario; ``run_scenario(scenario_for_seed(seed, heights))`` reproduces it.
"""

import os
from functools import cache

import pytest

from tests.consensus.simulation import Crash, Scenario, run_scenario, scenario_for_seed, validator_set

SEEDS = int(os.environ.get("SETTLE_CONSENSUS_SEEDS", "240"))
HEIGHTS = int(os.environ.get("SETTLE_CONSENSUS_HEIGHTS", "2"))


@cache
def result_for_seed(seed):
    return run_scenario(scenario_for_seed(seed, HEIGHTS))


@pytest.mark.parametrize("seed", range(SEEDS))
def test_seed_is_safe_and_live(seed):
    result = result_for_seed(seed)
    result.check()
    assert result.stats.audited_height >= result.target_height, "the audit node must sync the honest chain"


def test_the_sweep_exercised_every_fault():
    """The sweep is only worth something if the faults really happened."""
    results = [result_for_seed(seed) for seed in range(SEEDS)]

    def total(name: str) -> int:
        return sum(getattr(result.stats, name) for result in results)

    assert total("restarts_same_height") >= 5, "crashed validators must restart mid-height from their record"
    assert total("crashes_after_persist") >= 3, "crashes between PersistSafety and the broadcast"
    assert total("decider_crashes") >= 3, "deciders crashed before relaying: locks alone carry the value"
    assert total("decode_rejections") >= 5, "tampered messages that do not decode"
    assert total("foreign_senders") >= 5, "tampered messages that authenticate a non-validator"
    assert total("certificate_rejections") >= 10, "forged certificates served to syncing nodes"
    assert total("synced_blocks") >= 10
    assert total("invalid_validations") >= 5
    assert total("replayed") >= 10
    assert max(result.stats.max_round for result in results) >= 3
    byzantine_voters = [result for result in results if "conflicting-votes" in dict(result.scenario.byzantine).values()]
    assert any(result.stats.evidence_offenders for result in byzantine_voters)
    assert {7 if result.scenario.n == 7 else 4 for result in results} == {4, 7}


def test_crash_right_after_persisting_then_restart_at_the_same_height():
    scenario = Scenario(seed=1, n=4, heights=3, heal_ms=900, crashes=(Crash(2, 120, 500, after_persist=True),))
    result = run_scenario(scenario)
    result.check()
    assert result.stats.crashes_after_persist == 1
    assert result.stats.restarts_same_height == 1


@pytest.mark.parametrize("seed", range(3))
def test_several_crashes_and_restarts_of_different_validators(seed):
    crashes = (Crash(0, 100, 350, True), Crash(3, 300, 600, True), Crash(0, 700, 900, False))
    scenario = Scenario(seed=seed, n=4, heights=3, heal_ms=1000, drop_rate=0.1, crashes=crashes)
    result = run_scenario(scenario)
    result.check()
    assert result.stats.restarts == 3


def test_equivocating_proposer_splits_the_network():
    # Validator 1 proposes round 0 of height 1 (and 5, 9...): two blocks to two halves.
    scenario = Scenario(seed=3, n=4, heights=4, heal_ms=300, byzantine=((1, "equivocate"),))
    result = run_scenario(scenario)
    result.check()


def test_two_byzantine_validators_of_seven_plus_a_crash():
    scenario = Scenario(seed=5, n=7, heights=3, heal_ms=900, drop_rate=0.1,
                        byzantine=((1, "forger"), (4, "conflicting-votes")),
                        crashes=(Crash(2, 200, 600, True),))
    result = run_scenario(scenario)
    result.check()
    assert result.stats.decode_rejections + result.stats.foreign_senders > 0
    assert 4 in result.stats.evidence_offenders


def test_no_progress_without_a_quorum_then_liveness_after_healing():
    scenario = Scenario(seed=7, n=4, heights=2, heal_ms=1500,
                        partition=(frozenset({0, 1}), frozenset({2, 3})))
    result = run_scenario(scenario)
    result.check()
    assert result.stats.height_at_heal == 0
    assert result.stats.max_round >= 2


def test_isolated_validator_catches_up_after_healing():
    scenario = Scenario(seed=8, n=4, heights=2, heal_ms=1200, partition=(frozenset({0}), frozenset({1, 2, 3})))
    result = run_scenario(scenario)
    result.check()
    assert result.stats.height_at_heal >= 2
    assert result.stats.synced_blocks > 0


def test_invalid_block_proposer_never_gets_a_block_in():
    scenario = Scenario(seed=9, n=4, heights=4, heal_ms=300, byzantine=((2, "invalid-blocks"),))
    result = run_scenario(scenario)
    result.check()
    assert result.stats.invalid_validations > 0


def test_simulation_is_deterministic():
    first, second = run_scenario(scenario_for_seed(10, 2)), run_scenario(scenario_for_seed(10, 2))
    assert (first.heights, first.finished_ms, first.stats) == (second.heights, second.finished_ms, second.stats)


def test_validator_sets_for_the_simulation():
    assert (validator_set(4).quorum, validator_set(7).quorum) == (3, 5)

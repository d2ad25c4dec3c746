"""A seeded, in-memory network that drives n consensus state machines through many heights.

Everything is deterministic for a seed: a virtual clock orders events, a ``random.Random(seed)``
draws message delays (so messages are reordered), drops, crash points and Byzantine choices.
Messages travel as raw bytes and are decoded by each receiver with ``messages.decode``, as a node
does. Blocks are opaque bytes: ``rlp([height, parent_hash, proposer, nonce, invalid])`` whose hash is
keccak(block); the simulated executor is a pure function of the block and the receiver's chain.

Simulated nodes carry out every action the way the node must:
* PersistSafety goes to a "disk" that survives crashes, before the later actions of the list;
* CommitBlock verifies the certificate, persists, then feeds NewHeight(h + 1);
* RequestSync fetches blocks with certificates from reachable peers, verifies each, and retries;
* a crash loses the state and pending timers; a restart calls ``initial_state`` with the disk's
  chain tip and last safety record. A crash can hit right after a PersistSafety, before the
  broadcasts that followed it.

Faults: drops (optionally heavy loss of COMMITs only) and partitions until ``heal_ms`` (GST),
crashes (restarted before GST; or the first validator to decide a height, restarted well after GST,
so that only the others' locks carry the decided value), and Byzantine
validators (at most f): equivocating proposer, conflicting voter, invalid-block proposer, forger
(tampered signatures, bad seals, forged prepared certificates and justifications, forged
certificates served to syncing peers), replayer of old messages, and a silent one.

Checks (``SimulationResult.check``): SAFETY - no two honest validators persist different blocks
at a height, every certificate verifies, no honest validator is ever reported for equivocation;
LIVENESS - after healing, every honest validator reaches the target height: the highest honest
tip at heal time plus ``Scenario.heights``.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field, replace
from functools import cache

import rlp
from blspy import PopSchemeMPL
from blspy import PrivateKey as BLSPrivateKey
from coincurve import PrivateKey
from eth_hash.auto import keccak

from consensus.actions import (
    Broadcast,
    BuildBlock,
    CommitBlock,
    PersistSafety,
    ReportEvidence,
    RequestSync,
    ScheduleTimeout,
    ValidateBlock,
)
from consensus.certificate import CommitCertificate, sign_seal, verify_certificate
from consensus.errors import InvalidCertificate, InvalidMessage
from consensus.events import BlockBuilt, BlockValidated, MessageReceived, NewHeight, TimeoutFired
from consensus.machine import apply, initial_state
from consensus.messages import Commit, Prepare, Proposal, RoundChange, decode, sign
from consensus.safety import SafetyRecord
from consensus.state import ConsensusConfig
from consensus.validators import Validator, ValidatorSet, prove_possession

CHAIN_ID = 4242
GENESIS_HASH = keccak(b"settle/simulation/genesis")
BEHAVIOURS = ("equivocate", "conflicting-votes", "invalid-blocks", "forger", "replayer", "silent")


@cache
def validator_keys(index: int) -> tuple[bytes, bytes]:
    """Deterministic (secp256k1 key, BLS key) of simulated validator ``index``."""
    account_key = keccak(b"settle/simulation/account/%d" % index)
    bls_key = bytes(PopSchemeMPL.key_gen(keccak(b"settle/simulation/bls/%d" % index)))
    return account_key, bls_key


@cache
def validator_set(n: int) -> ValidatorSet:
    """The first ``n`` simulated validators."""
    validators = []
    for index in range(n):
        account_key, bls_key = validator_keys(index)
        address = keccak(PrivateKey(account_key).public_key.format(compressed=False)[1:])[-20:]
        validators.append(Validator(address, bytes(BLSPrivateKey.from_bytes(bls_key).get_g1()),
                                    prove_possession(bls_key)))
    return ValidatorSet(tuple(validators))


def make_block(height: int, parent_hash: bytes, proposer: int, nonce: int, invalid: bool = False) -> bytes:
    return rlp.encode([height, parent_hash, proposer, nonce, int(invalid)])


def execute(block: bytes, block_hash: bytes, height: int, parent_hash: bytes) -> tuple[bool, str]:
    """The simulated executor: pure, like re-executing a block and comparing roots."""
    if keccak(block) != block_hash:
        return False, "hash mismatch"
    try:
        fields = rlp.decode(block)
    except rlp.exceptions.RLPException:
        return False, "undecodable"
    if not isinstance(fields, list) or len(fields) != 5:
        return False, "bad shape"
    if int.from_bytes(fields[0], "big") != height:
        return False, "wrong height"
    if fields[1] != parent_hash:
        return False, "wrong parent"
    if fields[4] != b"":
        return False, "marked invalid"
    return True, ""


def message_kind(raw: bytes) -> int | None:
    """The kind byte of a raw message, read without decoding it (tampered bytes may not decode)."""
    if not raw or raw[0] < 0xC0:
        return None
    offset = 1 if raw[0] <= 0xF7 else 1 + raw[0] - 0xF7
    return raw[offset] if offset < len(raw) else None


@dataclass(frozen=True)
class Crash:
    validator: int
    at_ms: int
    restart_ms: int
    after_persist: bool
    """Crash right after the next PersistSafety, before the broadcasts that follow it."""


@dataclass(frozen=True)
class Scenario:
    seed: int
    n: int
    heights: int
    drop_rate: float = 0.0
    commit_drop_rate: float = 0.0
    """Extra loss of COMMITs before GST: validators lock (and some decide) while others do not, so
    the next rounds must carry the lock; with a Byzantine next proposer this tests justification."""
    crash_first_decider: bool = False
    """Before GST, the first honest validator to commit a height crashes at once (restarting after
    GST): it cannot relay its decision, so the others must carry the value by their locks alone."""
    partition: tuple[frozenset[int], ...] = ()
    heal_ms: int = 0
    crashes: tuple[Crash, ...] = ()
    byzantine: tuple[tuple[int, str], ...] = ()
    max_delay_ms: int = 40
    block_period_ms: int = 60
    round_timeout_ms: int = 300
    max_round_timeout_ms: int = 2400
    time_limit_ms: int = 120_000

    @property
    def byzantine_map(self) -> dict[int, str]:
        return dict(self.byzantine)

    def describe(self) -> str:
        parts = [f"seed={self.seed} n={self.n} heights={self.heights}"]
        if self.drop_rate:
            parts.append(f"drop={self.drop_rate:.2f}")
        if self.commit_drop_rate:
            parts.append(f"commit-drop={self.commit_drop_rate:.2f}")
        if self.crash_first_decider:
            parts.append("crash-first-decider")
        if self.partition:
            parts.append("partition=" + "|".join(",".join(map(str, sorted(group))) for group in self.partition))
        if self.crashes:
            parts.append("crashes=" + ",".join(
                f"{c.validator}@{c.at_ms}->{c.restart_ms}{'p' if c.after_persist else ''}" for c in self.crashes))
        if self.byzantine:
            parts.append("byzantine=" + ",".join(f"{index}:{kind}" for index, kind in self.byzantine))
        if self.heal_ms:
            parts.append(f"heal={self.heal_ms}")
        return " ".join(parts)


def scenario_for_seed(seed: int, heights: int = 3) -> Scenario:
    """A scenario chosen and parameterised by ``seed``: the kinds of faults rotate with the seed."""
    rng = random.Random(seed * 7919 + 17)
    kind = seed % 12
    n = 7 if (seed if kind != 11 else seed // 12) % 3 == 2 else 4
    f = (n - 1) // 3
    heal_ms = rng.randrange(300, 1000)
    scenario = Scenario(seed=seed, n=n, heights=heights, heal_ms=heal_ms,
                        max_delay_ms=rng.choice((10, 40, 120)))
    honest = list(range(n))
    byzantine: list[tuple[int, str]] = []
    if kind in (4, 5, 6, 7, 8, 9, 10, 11):
        count = 1 if kind != 10 else f
        chosen = rng.sample(honest, count)
        behaviours = {4: "equivocate", 5: "conflicting-votes", 6: "invalid-blocks", 7: "forger", 8: "replayer",
                      9: rng.choice(BEHAVIOURS), 11: rng.choice(("forger", "equivocate"))}
        for index in chosen:
            behaviour = behaviours.get(kind) or rng.choice(BEHAVIOURS)
            byzantine.append((index, behaviour))
            honest.remove(index)
    drop_rate = rng.choice((0.0, 0.1, 0.25)) if kind in (1, 3, 9, 10) else 0.0
    partition: tuple[frozenset[int], ...] = ()
    if kind == 2 or (kind == 9 and rng.random() < 0.5):
        members = list(range(n))
        rng.shuffle(members)
        cut = rng.randrange(1, n)
        partition = (frozenset(members[:cut]), frozenset(members[cut:]))
    crashes: list[Crash] = []
    if kind in (3, 9, 10) or (kind in (0, 7) and rng.random() < 0.5):
        victims = rng.sample(honest, 1 if kind != 3 or n == 4 else 2)
        for victim in victims:
            at = rng.randrange(20, heal_ms - 150)
            crashes.append(Crash(victim, at, rng.randrange(at + 50, heal_ms), after_persist=rng.random() < 0.6))
    commit_drop_rate = rng.choice((0.3, 0.5, 0.7)) if kind == 11 else 0.0
    return replace(scenario, drop_rate=drop_rate, commit_drop_rate=commit_drop_rate,
                   crash_first_decider=kind == 11, partition=partition, crashes=tuple(crashes),
                   byzantine=tuple(byzantine))


@dataclass
class Disk:
    """What survives a crash: the chain (hash, block, encoded certificate) and the safety record."""

    chain: list[tuple[bytes, bytes, bytes]] = field(default_factory=lambda: [(GENESIS_HASH, b"", b"")])
    safety: bytes | None = None

    @property
    def tip_height(self) -> int:
        return len(self.chain) - 1

    @property
    def tip_hash(self) -> bytes:
        return self.chain[-1][0]


@dataclass
class Node:
    index: int
    config: ConsensusConfig
    behaviour: str | None
    disk: Disk = field(default_factory=Disk)
    state: object = None
    alive: bool = True
    epoch: int = 0
    crash_after_persist: bool = False
    syncing_to: int = -1
    received: list[bytes] = field(default_factory=list)
    """Replayer only: raw messages it received, to replay later."""
    twin_hash: bytes | None = None
    """Equivocator only: the hash of its second round-0 block at the current height."""


@dataclass
class Stats:
    """Counters that tests use to check that the faults were really exercised."""

    commits: int = 0
    audited_height: int = 0
    height_at_heal: int = 0
    synced_blocks: int = 0
    max_round: int = 0
    decode_rejections: int = 0
    foreign_senders: int = 0
    """Messages that decoded to a non-validator sender (tampered bodies or signatures)."""
    certificate_rejections: int = 0
    restarts: int = 0
    restarts_same_height: int = 0
    """Restarts that restored a safety record of the height they restarted at."""
    crashes_after_persist: int = 0
    decider_crashes: int = 0
    evidence_offenders: set[int] = field(default_factory=set)
    invalid_validations: int = 0
    replayed: int = 0
    messages: int = 0


@dataclass
class SimulationResult:
    scenario: Scenario
    heights: dict[int, int]
    """honest validator -> chain tip height at the end."""
    target_height: int
    finished_ms: int
    violations: list[str]
    stats: Stats

    def check(self) -> None:
        """Assert SAFETY, then LIVENESS, with the scenario in the message to reproduce it."""
        where = self.scenario.describe()
        assert not self.violations, f"SAFETY violated ({where}): {self.violations[:3]}"
        behind = {index: height for index, height in self.heights.items() if height < self.target_height}
        assert not behind, (f"LIVENESS: honest validators {behind} below target {self.target_height} after "
                            f"{self.finished_ms} ms ({where})")


class Simulation:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)
        self.validator_set = validator_set(scenario.n)
        self.now = 0
        self.queue: list[tuple[int, int, int, int, object]] = []
        self.sequence = 0
        self.stats = Stats()
        self.violations: list[str] = []
        self.decided: dict[int, bytes] = {}
        self.verified_certificates: dict[bytes, str | None] = {}
        self.byzantine = scenario.byzantine_map
        self.nodes = []
        for index in range(scenario.n):
            account_key, bls_key = validator_keys(index)
            config = ConsensusConfig(chain_id=CHAIN_ID, validator_set=self.validator_set, private_key=account_key,
                                     bls_private_key=bls_key, block_period_ms=scenario.block_period_ms,
                                     round_timeout_ms=scenario.round_timeout_ms,
                                     max_round_timeout_ms=scenario.max_round_timeout_ms)
            self.nodes.append(Node(index, config, self.byzantine.get(index)))
        self.decider_crashed = False
        self.target_height: int | None = None
        """Set at heal time: the highest honest tip then plus ``scenario.heights``."""

    # --- scheduling ---------------------------------------------------------------------------

    def push(self, delay_ms: int, node: int, item: object, epoch: int | None = None) -> None:
        self.sequence += 1
        target_epoch = self.nodes[node].epoch if epoch is None else epoch
        heapq.heappush(self.queue, (self.now + delay_ms, self.sequence, node, target_epoch, item))

    def reachable(self, sender: int, receiver: int) -> bool:
        if self.now >= self.scenario.heal_ms or not self.scenario.partition:
            return True
        return any(sender in group and receiver in group for group in self.scenario.partition)

    def send(self, sender: int, receiver: int, raw: bytes) -> None:
        if sender == receiver or not self.reachable(sender, receiver):
            return
        if self.now < self.scenario.heal_ms:
            if self.rng.random() < self.scenario.drop_rate:
                return
            if self.scenario.commit_drop_rate and message_kind(raw) == 3 and \
                    self.rng.random() < self.scenario.commit_drop_rate:
                return
        self.stats.messages += 1
        self.push(self.rng.randrange(1, self.scenario.max_delay_ms + 1), receiver, ("raw", raw))

    def broadcast(self, sender: int, raw: bytes, receivers: list[int] | None = None) -> None:
        for receiver in (range(self.scenario.n) if receivers is None else receivers):
            self.send(sender, receiver, raw)

    # --- running ------------------------------------------------------------------------------

    def run(self) -> SimulationResult:
        for node in self.nodes:
            self.start(node)
        for crash in self.scenario.crashes:
            self.push(crash.at_ms, crash.validator, ("crash", crash), epoch=-1)
            self.push(crash.restart_ms, crash.validator, ("restart", None), epoch=-1)
        self.push(self.scenario.heal_ms, 0, ("heal", None), epoch=-1)
        while self.queue and not self.done():
            time, _, index, epoch, item = heapq.heappop(self.queue)
            if time > self.scenario.time_limit_ms:
                break
            self.now = time
            node = self.nodes[index]
            if epoch == -1:
                self.control(node, item)
            elif node.alive and epoch == node.epoch:
                self.handle(node, item)
        self.audit()
        heights = {node.index: node.disk.tip_height for node in self.nodes if node.behaviour is None}
        target = self.target_height if self.target_height is not None else self.scenario.heights
        return SimulationResult(self.scenario, heights, target, self.now, self.violations, self.stats)

    def done(self) -> bool:
        return self.target_height is not None and all(
            node.disk.tip_height >= self.target_height for node in self.nodes if node.behaviour is None)

    def start(self, node: Node) -> None:
        height = node.disk.tip_height + 1
        node.state = initial_state(node.config, height, node.disk.safety)
        self.feed(node, NewHeight(height))

    def control(self, node: Node, item: tuple[str, object]) -> None:
        kind, crash = item
        if kind == "heal":
            self.stats.height_at_heal = max(node.disk.tip_height for node in self.nodes if node.behaviour is None)
            self.target_height = self.stats.height_at_heal + self.scenario.heights
        elif kind == "crash":
            if crash.after_persist:
                node.crash_after_persist = True
            else:
                self.crash(node)
        elif kind == "restart":
            if node.alive and node.crash_after_persist:
                self.crash(node)  # the armed crash never hit: crash now
            node.alive = True
            node.crash_after_persist = False
            node.syncing_to = -1
            self.stats.restarts += 1
            if node.disk.safety is not None:
                record = SafetyRecord.decode(node.disk.safety)
                if record.height == node.disk.tip_height + 1 and record.messages:
                    self.stats.restarts_same_height += 1
            self.start(node)

    def crash(self, node: Node) -> None:
        node.alive = False
        node.epoch += 1
        node.state = None
        node.received = []

    def handle(self, node: Node, item: tuple[str, object]) -> None:
        kind, payload = item
        if kind == "raw":
            try:
                message = decode(payload, CHAIN_ID)
            except InvalidMessage:
                self.stats.decode_rejections += 1
                return
            if not self.validator_set.contains(message.sender):
                self.stats.foreign_senders += 1  # a tampered message authenticates someone else
            if node.behaviour == "replayer":
                node.received.append(payload)
            self.feed(node, MessageReceived(message))
        elif kind == "event":
            self.feed(node, payload)
        elif kind == "sync":
            self.sync(node, payload)

    def feed(self, node: Node, event: object) -> None:
        if node.behaviour == "silent":
            return
        node.state, actions = apply(node.state, event)
        self.stats.max_round = max(self.stats.max_round, node.state.round)
        for action in actions:
            if not node.alive:
                return
            self.carry_out(node, action)
            if isinstance(action, PersistSafety) and node.crash_after_persist:
                self.stats.crashes_after_persist += 1
                node.crash_after_persist = False
                self.crash(node)
                return

    # --- actions ------------------------------------------------------------------------------

    def carry_out(self, node: Node, action: object) -> None:
        if isinstance(action, PersistSafety):
            node.disk.safety = action.record
        elif isinstance(action, Broadcast):
            if node.behaviour is None:
                self.broadcast(node.index, action.message.raw)
            else:
                self.misbehave(node, action.message)
        elif isinstance(action, ScheduleTimeout):
            self.push(action.delay_ms, node.index,
                      ("event", TimeoutFired(action.height, action.round, action.kind)))
        elif isinstance(action, BuildBlock):
            invalid = node.behaviour == "invalid-blocks"
            block = make_block(action.height, node.disk.tip_hash, node.index, self.rng.randrange(2**32), invalid)
            self.push(self.rng.randrange(1, 10), node.index,
                      ("event", BlockBuilt(action.height, action.round, keccak(block), block)))
        elif isinstance(action, ValidateBlock):
            valid, reason = (False, "not at this height")
            if action.height == node.disk.tip_height + 1:
                valid, reason = execute(action.block, action.block_hash, action.height, node.disk.tip_hash)
            if not valid:
                self.stats.invalid_validations += 1
            self.push(self.rng.randrange(1, 10), node.index,
                      ("event", BlockValidated(action.height, action.round, action.block_hash, valid, reason)))
        elif isinstance(action, CommitBlock):
            self.commit(node, action)
        elif isinstance(action, RequestSync):
            if action.target_height > node.syncing_to:
                node.syncing_to = action.target_height
                self.push(self.rng.randrange(5, 50), node.index, ("sync", action.target_height))
        elif isinstance(action, ReportEvidence):
            offender = self.validator_set.index_of(action.evidence.offender)
            self.stats.evidence_offenders.add(offender)
            if node.behaviour is None and self.nodes[offender].behaviour is None:
                self.violations.append(f"honest validator {offender} reported for equivocation by {node.index}")

    def certificate_problem(self, encoded: bytes, height: int, block_hash: bytes) -> str | None:
        """Full certificate check, memoised by the exact bytes (a pure function of them)."""
        if encoded not in self.verified_certificates:
            try:
                certificate = CommitCertificate.decode(encoded)
                verify_certificate(certificate, self.validator_set, CHAIN_ID)
                self.verified_certificates[encoded] = None
            except InvalidCertificate as error:
                self.verified_certificates[encoded] = error.reason
        problem = self.verified_certificates[encoded]
        if problem is not None:
            return problem
        certificate = CommitCertificate.decode(encoded)
        if (certificate.height, certificate.block_hash) != (height, block_hash):
            return f"certificate is for height {certificate.height}, block {certificate.block_hash.hex()[:8]}"
        return None

    def record_decision(self, node: Node, height: int, block_hash: bytes) -> None:
        if node.behaviour is not None:
            return
        first = self.decided.setdefault(height, block_hash)
        if first != block_hash:
            self.violations.append(f"height {height}: validator {node.index} persisted {block_hash.hex()[:8]}, "
                                   f"another honest validator {first.hex()[:8]}")

    def commit(self, node: Node, action: CommitBlock) -> None:
        encoded = action.certificate.encode()
        if node.behaviour is None:
            problem = self.certificate_problem(encoded, action.height, action.block_hash)
            if problem is not None:
                self.violations.append(f"validator {node.index} committed height {action.height} with a bad "
                                       f"certificate: {problem}")
            if keccak(action.block) != action.block_hash:
                self.violations.append(f"validator {node.index} committed bytes that do not hash to the block")
        if action.height != node.disk.tip_height + 1:
            if action.height <= node.disk.tip_height and node.disk.chain[action.height][0] != action.block_hash:
                self.violations.append(f"validator {node.index} committed a block conflicting with its chain")
            return
        self.stats.commits += 1
        first_decider = node.behaviour is None and action.height not in self.decided
        self.record_decision(node, action.height, action.block_hash)
        node.disk.chain.append((action.block_hash, action.block, encoded))
        self.push(0, node.index, ("event", NewHeight(action.height + 1)))
        if self.scenario.crash_first_decider and first_decider and self.now < self.scenario.heal_ms \
                and not self.decider_crashed:
            self.decider_crashed = True
            self.stats.decider_crashes += 1
            self.crash(node)
            # Back well after GST, so it cannot relay its decision before the others could decide.
            self.push(self.scenario.heal_ms + 2000 - self.now, node.index, ("restart", None), epoch=-1)

    def sync(self, node: Node, target: int) -> None:
        """Fetch finalised blocks from reachable peers, verifying every certificate; retry if short."""
        start_height = node.disk.tip_height
        peers = [
            peer for peer in self.nodes if peer is not node and peer.alive and self.reachable(peer.index, node.index)
        ]
        self.rng.shuffle(peers)
        for peer in peers:
            while node.disk.tip_height < target:
                height = node.disk.tip_height + 1
                if peer.disk.tip_height < height:
                    break
                block_hash, block, encoded = peer.disk.chain[height]
                if peer.behaviour == "forger":
                    encoded = self.forge_certificate(encoded, height)
                problem = self.certificate_problem(encoded, height, block_hash)
                valid, _ = execute(block, block_hash, height, node.disk.tip_hash)
                if problem is not None or not valid:
                    self.stats.certificate_rejections += 1
                    break
                self.record_decision(node, height, block_hash)
                node.disk.chain.append((block_hash, block, encoded))
                self.stats.synced_blocks += 1
        if node.disk.tip_height > start_height:
            self.feed(node, NewHeight(node.disk.tip_height + 1))
        if node.disk.tip_height < target and node.alive:
            self.push(200, node.index, ("sync", target))
        else:
            node.syncing_to = -1

    def audit(self) -> None:
        """An audit node syncs the whole chain from genesis, asking Byzantine peers first; it must
        reject every forged certificate and still end on the honest chain."""
        peers = sorted(self.nodes, key=lambda peer: peer.behaviour is None)
        disk = Disk()
        for peer in peers:
            while disk.tip_height < peer.disk.tip_height:
                height = disk.tip_height + 1
                block_hash, block, encoded = peer.disk.chain[height]
                if peer.behaviour == "forger":
                    encoded = self.forge_certificate(encoded, height)
                valid, _ = execute(block, block_hash, height, disk.tip_hash)
                if self.certificate_problem(encoded, height, block_hash) is not None or not valid:
                    self.stats.certificate_rejections += 1
                    break
                if self.decided.get(height, block_hash) != block_hash:
                    self.violations.append(
                        f"audit accepted a certified block at height {height} that no honest validator has"
                    )
                disk.chain.append((block_hash, block, encoded))
        self.stats.audited_height = disk.tip_height

    # --- Byzantine behaviour ------------------------------------------------------------------

    def forge_certificate(self, encoded: bytes, height: int) -> bytes:
        certificate = CommitCertificate.decode(encoded)
        n = self.scenario.n
        choice = self.rng.randrange(4)
        if choice == 0:  # a bit for a validator that does not exist
            signers = bytearray(certificate.signers)
            if n % 8:
                signers[-1] |= 1 << (n % 8)
            else:
                signers.append(1)
            forged = replace(certificate, signers=bytes(signers))
        elif choice == 1:  # claim everyone signed
            forged = replace(certificate, signers=bytes([255] * ((n + 7) // 8)))
        elif choice == 2:  # the seal of another block
            forged = replace(certificate, block_hash=keccak(certificate.block_hash))
        else:  # a lone forger seal claiming a quorum
            seal = sign_seal(
                validator_keys(self.byzantine_index("forger"))[1],
                CHAIN_ID,
                height,
                certificate.round,
                certificate.block_hash,
            )
            forged = replace(certificate, signature=seal)
        return forged.encode()

    def byzantine_index(self, behaviour: str) -> int:
        return next(index for index, kind in self.byzantine.items() if kind == behaviour)

    def misbehave(self, node: Node, message) -> None:
        behaviour = node.behaviour
        others = [index for index in range(self.scenario.n) if index != node.index]
        account_key, bls_key = validator_keys(node.index)
        payload = message.payload
        if behaviour in ("invalid-blocks", "silent"):
            self.broadcast(node.index, message.raw)
        elif behaviour == "equivocate":
            half_a, half_b = others[: len(others) // 2], others[len(others) // 2 :]
            twin = self.twin(node, payload, account_key, bls_key)
            self.broadcast(node.index, message.raw, half_a)
            self.broadcast(node.index, twin if twin is not None else message.raw, half_b)
        elif behaviour == "conflicting-votes":
            self.broadcast(node.index, message.raw)
            if isinstance(payload, (Prepare, Commit)):
                other_hash = keccak(payload.block_hash + b"conflict")
                if isinstance(payload, Prepare):
                    conflict = Prepare(payload.height, payload.round, other_hash)
                else:
                    seal = sign_seal(bls_key, CHAIN_ID, payload.height, payload.round, other_hash)
                    conflict = Commit(payload.height, payload.round, other_hash, seal)
                self.broadcast(node.index, sign(conflict, CHAIN_ID, account_key).raw)
        elif behaviour == "forger":
            self.forge(node, message, account_key, bls_key)
        elif behaviour == "replayer":
            self.broadcast(node.index, message.raw)
            for raw in self.rng.sample(node.received, min(4, len(node.received))):
                self.stats.replayed += 1
                self.broadcast(node.index, raw)

    def twin(self, node: Node, payload, account_key: bytes, bls_key: bytes) -> bytes | None:
        """The equivocator's other version of its message, for the other half of the network."""
        if isinstance(payload, Proposal) and payload.round == 0:
            block = make_block(payload.height, node.disk.tip_hash, node.index, self.rng.randrange(2**32))
            node.twin_hash = keccak(block)
            return sign(Proposal(payload.height, 0, keccak(block), block), CHAIN_ID, account_key).raw
        twin_hash = node.twin_hash
        if twin_hash is None or payload.round != 0:
            return None
        if isinstance(payload, Prepare):
            return sign(Prepare(payload.height, 0, twin_hash), CHAIN_ID, account_key).raw
        if isinstance(payload, Commit):
            seal = sign_seal(bls_key, CHAIN_ID, payload.height, 0, twin_hash)
            return sign(Commit(payload.height, 0, twin_hash, seal), CHAIN_ID, account_key).raw
        return None

    def forge(self, node: Node, message, account_key: bytes, bls_key: bytes) -> None:
        payload = message.payload
        raw = bytearray(message.raw)
        # A tampered copy: a flipped signature byte or body byte no longer authenticates the sender.
        position = self.rng.choice((len(raw) - 1, len(raw) - 2, len(raw) // 2))
        raw[position] ^= 0x5A
        self.broadcast(node.index, bytes(raw))
        if isinstance(payload, Commit):
            # Half the peers get the commit with a seal over another block: must not be counted.
            bad_seal = sign_seal(bls_key, CHAIN_ID, payload.height, payload.round, keccak(payload.block_hash))
            forged = sign(Commit(payload.height, payload.round, payload.block_hash, bad_seal), CHAIN_ID, account_key)
            others = [index for index in range(self.scenario.n) if index != node.index]
            self.broadcast(node.index, forged.raw, others[::2])
            self.broadcast(node.index, message.raw, others[1::2])
        elif isinstance(payload, RoundChange):
            # Claim a prepared block backed by a forged certificate (its own PREPARE repeated).
            fake_hash = keccak(b"forged" + payload.height.to_bytes(8, "big") + payload.round.to_bytes(8, "big"))
            prepare = sign(Prepare(payload.height, payload.round - 1, fake_hash), CHAIN_ID, account_key).raw
            forged = RoundChange(
                payload.height,
                payload.round,
                payload.round - 1,
                fake_hash,
                b"forged block",
                (prepare,) * self.validator_set.quorum,
            )
            self.broadcast(node.index, sign(forged, CHAIN_ID, account_key).raw)
        elif isinstance(payload, Proposal) and payload.round > 0:
            # A fresh block with the honest justification: rejected whenever a block was prepared;
            # and a justification cut below a quorum, always rejected.
            block = make_block(payload.height, node.disk.tip_hash, node.index, self.rng.randrange(2**32))
            fresh = Proposal(payload.height, payload.round, keccak(block), block, payload.justification)
            self.broadcast(node.index, sign(fresh, CHAIN_ID, account_key).raw)
            short = Proposal(
                payload.height, payload.round, payload.block_hash, payload.block, payload.justification[:1]
            )
            self.broadcast(node.index, sign(short, CHAIN_ID, account_key).raw)
        else:
            self.broadcast(node.index, message.raw)


def run_scenario(scenario: Scenario) -> SimulationResult:
    return Simulation(scenario).run()

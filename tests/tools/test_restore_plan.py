"""Point-in-time planning as a pure function: generated histories against a brute-force
search, the invariants every plan keeps, and the behaviour Zeebe's own solver tests
describe (said here in our words)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from backup_store.format.instant import Instant
from backup_store.format.partition_metadata import (
    BackupRange as MetadataRange,
)
from backup_store.format.partition_metadata import (
    MetadataCheckpoint,
    PartitionMetadata,
)
from backup_store.model import (
    BackupDescriptor,
    BackupIdentifier,
    BackupStatus,
    BackupStatusCode,
    CheckpointType,
)
from backup_store.tools.ranges import (
    Checkpoint,
    PartitionRanges,
    from_metadata,
    from_statuses,
    joins,
)
from backup_store.tools.restore_plan import (
    NoRestorePlanError,
    PlanRequest,
    RestorePlan,
    plan_restore,
)

HOUR = 3600 * 10**9
BASE = Instant.parse_iso("2026-01-01T00:00:00Z").epoch_nanos


def at(hours: float) -> Instant:
    return Instant(BASE + int(hours * HOUR))


# ------------------------------------------------------------- generated histories


@dataclass
class Generated:
    """One partition's history as stored: manifests' statuses, and maybe a metadata
    file (with the ids whose manifests still exist)."""

    partition_id: int
    statuses: list[BackupStatus]
    metadata: PartitionMetadata | None
    present: set[int]

    def ranges(self) -> PartitionRanges:
        if self.metadata is not None:
            return from_metadata(self.metadata, self.present)
        return from_statuses(self.partition_id, self.statuses)


STATES = [BackupStatusCode.COMPLETED] * 6 + [
    BackupStatusCode.FAILED,
    BackupStatusCode.DELETED,
    BackupStatusCode.IN_PROGRESS,
]


def generate_partition(rng: random.Random, partition_id: int, ids: int) -> Generated:
    """Checkpoints 1..ids, some missing on this partition; positions grow with ids;
    gaps, backups of Zeebe before 8.9 (no first log position), failures, deletions,
    damage, several nodes' copies, and markers where a metadata file is kept."""
    with_metadata = rng.random() < 0.4
    statuses: list[BackupStatus] = []
    entries: list[MetadataCheckpoint] = []
    position = 0
    last_backup_position = 0
    last_first = 0
    for checkpoint_id in range(1, ids + 1):
        position += rng.randint(1, 40)
        if rng.random() < 0.15:
            continue  # not on this partition
        time = at(checkpoint_id + rng.choice([0, 0, 0.1, -0.1]))
        if with_metadata and rng.random() < 0.2:
            entries.append(
                MetadataCheckpoint(
                    checkpoint_id, position, time, CheckpointType.MARKER, None, 3, "8.10.0"
                )
            )
            continue
        roll = rng.random()
        if roll < 0.12:
            first: int | None = last_backup_position + rng.randint(2, 30)  # a gap
        elif roll < 0.2 and not with_metadata:
            first = None  # Zeebe before 8.9 (which kept no metadata file)
        else:
            first = rng.randint(max(1, last_backup_position - 20), last_backup_position + 1)
        if first is not None:
            # A backup's log reaches its checkpoint; compaction only moves the log's start on.
            first = min(max(first, last_first), position)
            last_first = first
        state = rng.choice(STATES)
        node = rng.randint(0, 2)
        descriptor = BackupDescriptor(
            "snap", position, 3, "8.10.0", first, time, CheckpointType.SCHEDULED_BACKUP
        )
        backup_id = BackupIdentifier(node, partition_id, checkpoint_id)
        if rng.random() < 0.05:
            statuses.append(BackupStatus.of_damaged(backup_id, "truncated"))
        else:
            statuses.append(
                BackupStatus(backup_id, state, descriptor, None, time, time)
            )
        if rng.random() < 0.2:  # another node's failed copy: the best copy counts
            statuses.append(
                BackupStatus(
                    BackupIdentifier(node + 1, partition_id, checkpoint_id),
                    BackupStatusCode.FAILED,
                    descriptor,
                    "disk full",
                    time,
                    time,
                )
            )
        if state is BackupStatusCode.COMPLETED and statuses[-1].damage is None:
            last_backup_position = position
            entries.append(
                MetadataCheckpoint(
                    checkpoint_id, position, time, CheckpointType.SCHEDULED_BACKUP, first, 3,
                    "8.10.0",
                )
            )
    present = {s.id.checkpoint_id for s in statuses}
    metadata = None
    if with_metadata:
        backups = [e for e in entries if e.checkpoint_type is not CheckpointType.MARKER]
        metadata = PartitionMetadata(
            partition_id, 1, at(ids + 1), tuple(entries), tuple(_metadata_ranges(backups))
        )
        for gone in rng.sample(sorted(present), k=min(len(present), rng.randint(0, 2))):
            present.discard(gone)  # an operator deleted it after the broker wrote the file
    return Generated(partition_id, statuses, metadata, present)


def _metadata_ranges(backups: list[MetadataCheckpoint]) -> list[MetadataRange]:
    ranges: list[MetadataRange] = []
    previous: MetadataCheckpoint | None = None
    for backup in backups:
        first = backup.first_log_position
        if previous is not None and (first is None or first <= previous.checkpoint_position + 1):
            ranges[-1] = MetadataRange(ranges[-1].start, backup.checkpoint_id)
        else:
            ranges.append(MetadataRange(backup.checkpoint_id, backup.checkpoint_id))
        previous = backup
    return ranges


def generate(rng: random.Random) -> list[PartitionRanges]:
    ids = rng.randint(1, 12)
    return [generate_partition(rng, p, ids).ranges() for p in range(1, rng.randint(1, 4) + 1)]


# ------------------------------------------------------------- the brute force


def _usable(partition: PartitionRanges) -> tuple[list[Checkpoint], dict[int, Checkpoint]]:
    backups = [c for c in partition.checkpoints if c.is_backup]
    return backups, {c.checkpoint_id: c for c in partition.checkpoints}


def brute_chain(
    partition: PartitionRanges, checkpoint_id: int, from_: Instant | None
) -> list[Checkpoint] | None:
    """Every (first, last) pair of the partition's backups, checked one by one."""
    backups, by_id = _usable(partition)
    target = by_id.get(checkpoint_id)
    if target is None:
        return None
    for i in range(len(backups)):
        if i > 0 and joins(backups[i - 1], backups[i]):
            continue  # not where a range starts
        for k in range(i, len(backups)):
            chain = backups[i : k + 1]
            if any(not joins(a, b) for a, b in zip(chain, chain[1:], strict=False)):
                break
            if chain[-1].checkpoint_id < checkpoint_id:
                continue
            if len(chain) > 1 and chain[-2].checkpoint_id >= checkpoint_id:
                break
            lowest = chain[0].first_log_position
            lowest = chain[0].position if lowest is None else lowest
            if not lowest <= target.position:
                break
            start_time = chain[0].time
            if from_ is not None and (start_time is None or start_time > from_):
                break
            return chain
    return None


def brute_force(
    partitions: list[PartitionRanges], request: PlanRequest
) -> tuple[int, dict[int, list[Checkpoint]]] | None:
    """Every checkpoint id tried on every partition; the best by the request's order."""
    ids = {c.checkpoint_id for p in partitions for c in p.checkpoints}
    found: list[tuple[tuple[int, int], int, dict[int, list[Checkpoint]]]] = []
    for checkpoint_id in ids:
        chains = {}
        for partition in partitions:
            chain = brute_chain(partition, checkpoint_id, request.from_)
            if chain is None:
                break
            chains[partition.partition_id] = chain
        else:
            times = [p.checkpoint(checkpoint_id).time for p in partitions]  # type: ignore[union-attr]
            latest = max(t.epoch_nanos for t in times if t is not None)
            first = partitions[0].checkpoint(checkpoint_id)
            assert first is not None and first.time is not None
            if request.nearest and request.to is not None:
                key = (-abs(first.time.epoch_nanos - request.to.epoch_nanos), -checkpoint_id)
            elif request.nearest:
                key = (checkpoint_id, 0)
            elif request.to is not None and latest > request.to.epoch_nanos:
                continue
            else:
                key = (latest, checkpoint_id)
            found.append((key, checkpoint_id, chains))
    if not found:
        return None
    _, checkpoint_id, chains = max(found, key=lambda f: f[0])
    return checkpoint_id, chains


def random_request(rng: random.Random) -> PlanRequest:
    to = at(rng.uniform(0, 13)) if rng.random() < 0.7 else None
    from_ = at(rng.uniform(0, 13)) if rng.random() < 0.3 else None
    return PlanRequest(to=to, from_=from_, nearest=rng.random() < 0.3)


def check_invariants(plan: RestorePlan, partitions: list[PartitionRanges]) -> None:
    for partition in partitions:
        chain = plan.chains[partition.partition_id]
        assert partition.checkpoint(plan.checkpoint_id) is not None  # on every partition
        assert chain and chain[-1].checkpoint_id >= plan.checkpoint_id
        assert all(c.is_backup for c in chain)
        assert all(joins(a, b) for a, b in zip(chain, chain[1:], strict=False))  # no gap
    if plan.request.to is not None and not plan.request.nearest:
        assert plan.time is not None and plan.time <= plan.request.to  # nothing after --to
    rejected = {r.checkpoint_id for r in plan.rejected}
    every = {c.checkpoint_id for p in partitions for c in p.checkpoints} | {
        c for p in partitions for c in p.unusable
    }
    assert rejected == every - {plan.checkpoint_id}  # a reason for every other candidate


@pytest.mark.parametrize("seed", range(6))
def test_plans_equal_a_brute_force_search_on_generated_histories(seed: int) -> None:
    rng = random.Random(seed)
    planned = 0
    for _ in range(800):
        partitions = generate(rng)
        request = random_request(rng)
        expected = brute_force(partitions, request)
        try:
            plan = plan_restore(partitions, request)
        except NoRestorePlanError as error:
            assert expected is None, (partitions, request, error)
            continue
        assert expected is not None, (partitions, request, plan)
        planned += 1
        check_invariants(plan, partitions)
        checkpoint_id, chains = expected
        assert plan.checkpoint_id == checkpoint_id
        assert {p: list(c) for p, c in plan.chains.items()} == chains
    assert planned > 100  # the generator makes plans, not only failures

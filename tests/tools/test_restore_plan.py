"""Point-in-time planning as a pure function: generated histories against a brute-force
search, the invariants every plan keeps, and the behaviour Zeebe's own solver tests
describe (said here in our words)."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
            statuses.append(BackupStatus(backup_id, state, descriptor, None, time, time))
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
                    checkpoint_id,
                    position,
                    time,
                    CheckpointType.SCHEDULED_BACKUP,
                    first,
                    3,
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


def joins(earlier: Checkpoint, later: Checkpoint) -> bool:
    """Zeebe's chain check, written again here so the search does not share the code."""
    return later.first_log_position is None or later.first_log_position - 1 <= earlier.position


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
            if any(not joins(a, b) for a, b in itertools.pairwise(chain)):
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
        assert all(joins(a, b) for a, b in itertools.pairwise(chain))  # no gap
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


# ------------------------------------------------------------- Zeebe's cases, our words


def backup(
    checkpoint_id: int, position: int, first: int, hours: float, marker: bool = False
) -> Checkpoint:
    kind = CheckpointType.MARKER if marker else CheckpointType.SCHEDULED_BACKUP
    return Checkpoint(checkpoint_id, position, first, at(hours), kind)


def metadata_partition(partition_id: int, *checkpoints: Checkpoint) -> PartitionRanges:
    entries = tuple(
        MetadataCheckpoint(
            c.checkpoint_id, c.position, c.time, c.type, c.first_log_position, 1, "8.10.0"
        )
        for c in checkpoints
    )
    backups = [e for e in entries if e.checkpoint_type is not CheckpointType.MARKER]
    return from_metadata(
        PartitionMetadata(partition_id, 1, at(100), entries, tuple(_metadata_ranges(backups)))
    )


def ids(plan: RestorePlan, partition_id: int) -> list[int]:
    return [c.checkpoint_id for c in plan.chains[partition_id]]


def test_without_a_time_the_latest_common_checkpoint_is_chosen_with_every_backup_of_its_range() -> (
    None
):
    partitions = [
        metadata_partition(p, backup(1, 100, 50, 1), backup(2, 200, 100, 2)) for p in (1, 2)
    ]
    plan = plan_restore(partitions, PlanRequest())
    assert (plan.checkpoint_id, ids(plan, 1), ids(plan, 2)) == (2, [1, 2], [1, 2])


def test_nearest_picks_the_checkpoint_closest_to_the_time_even_before_it() -> None:
    partitions = [metadata_partition(1, backup(1, 100, 50, 1), backup(2, 200, 100, 200))]
    nearest = plan_restore(partitions, PlanRequest(to=at(150), nearest=True))
    assert (nearest.checkpoint_id, ids(nearest, 1)) == (2, [1, 2])
    nearest = plan_restore(partitions, PlanRequest(to=at(20), nearest=True))
    assert (nearest.checkpoint_id, ids(nearest, 1)) == (1, [1])
    latest_before = plan_restore(partitions, PlanRequest(to=at(150)))
    assert latest_before.checkpoint_id == 1  # by default never after the time asked for


def test_markers_are_restore_points_but_never_backups_of_a_chain() -> None:
    partition = metadata_partition(
        1,
        backup(1, 100, 50, 1, marker=True),
        backup(2, 200, 60, 2),
        backup(3, 300, 150, 3, marker=True),
        backup(4, 400, 201, 4),
        backup(5, 500, 0, 5, marker=True),
    )
    plan = plan_restore([partition], PlanRequest(to=at(3.5)))
    # The marker at 3 is restored from the backup after it, whose log holds it.
    assert (plan.checkpoint_id, ids(plan, 1)) == (3, [2, 4])
    assert plan_restore([partition], PlanRequest(to=at(4))).checkpoint_id == 4
    # The last marker lies after every backup: nothing holds its log.
    assert plan_restore([partition], PlanRequest()).checkpoint_id == 4
    rejected = {
        r.checkpoint_id: r.reason for r in plan_restore([partition], PlanRequest()).rejected
    }
    assert rejected[5] == "partition 1: in a gap between ranges"


def test_the_chain_stops_at_the_chosen_checkpoint() -> None:
    partition = metadata_partition(
        1, backup(1, 100, 50, 1), backup(2, 200, 100, 2), backup(3, 300, 200, 3)
    )
    plan = plan_restore([partition], PlanRequest(to=at(2)))
    assert (plan.checkpoint_id, ids(plan, 1)) == (2, [1, 2])


def test_from_keeps_only_ranges_that_began_by_then() -> None:
    partition = metadata_partition(
        1,
        backup(1, 100, 50, 1),
        backup(2, 200, 100, 2),
        backup(3, 300, 250, 60),  # a gap: its log starts after 201
        backup(4, 400, 300, 90),
    )
    plan = plan_restore([partition], PlanRequest(from_=at(2)))
    assert (plan.checkpoint_id, ids(plan, 1)) == (2, [1, 2])
    reasons = {r.checkpoint_id: r.reason for r in plan.rejected}
    assert "after --from" in reasons[4]
    with pytest.raises(NoRestorePlanError):
        plan_restore([partition], PlanRequest(from_=at(0.5)))


def test_no_plan_when_the_partitions_share_no_checkpoint() -> None:
    partitions = [
        metadata_partition(1, backup(1, 100, 50, 1)),
        metadata_partition(2, backup(2, 200, 150, 2)),
    ]
    with pytest.raises(NoRestorePlanError) as raised:
        plan_restore(partitions, PlanRequest())
    assert {r.checkpoint_id: r.reason for r in raised.value.rejected} == {
        1: "not on partition 2",
        2: "not on partition 1",
    }


def test_partitions_with_different_checkpoints_meet_at_their_latest_common_one() -> None:
    first = metadata_partition(
        1, backup(1, 100, 50, 1), backup(2, 200, 100, 2), backup(3, 300, 200, 3)
    )
    second = metadata_partition(
        2, backup(2, 200, 150, 2), backup(3, 300, 200, 3), backup(4, 400, 300, 4)
    )
    plan = plan_restore([first, second], PlanRequest())
    assert (plan.checkpoint_id, ids(plan, 1), ids(plan, 2)) == (3, [1, 2, 3], [2, 3])


def test_explicit_backup_ids_are_one_chain_on_every_partition_or_no_plan() -> None:
    partition = metadata_partition(
        1, backup(1, 100, 50, 1), backup(2, 200, 100, 2), backup(3, 300, 250, 3)
    )
    plan = plan_restore([partition], PlanRequest(backup_ids=(1, 2)))
    assert (plan.checkpoint_id, ids(plan, 1)) == (2, [1, 2])
    with pytest.raises(NoRestorePlanError, match="a gap"):
        plan_restore([partition], PlanRequest(backup_ids=(2, 3)))
    with pytest.raises(NoRestorePlanError, match="no backup"):
        plan_restore([partition], PlanRequest(backup_ids=(7,)))


def test_failed_deleted_and_damaged_backups_are_rejected_with_their_state() -> None:
    def status(checkpoint_id: int, code: BackupStatusCode, hours: float) -> BackupStatus:
        descriptor = BackupDescriptor(
            "s", checkpoint_id * 100, 1, "8.9.0", checkpoint_id * 100 - 99, at(hours)
        )
        return BackupStatus(
            BackupIdentifier(0, 1, checkpoint_id), code, descriptor, "disk full", at(hours)
        )

    statuses = [
        status(1, BackupStatusCode.COMPLETED, 1),
        status(2, BackupStatusCode.FAILED, 2),
        status(3, BackupStatusCode.DELETED, 3),
        BackupStatus.of_damaged(BackupIdentifier(0, 1, 4), "truncated"),
    ]
    plan = plan_restore([from_statuses(1, statuses)], PlanRequest())
    reasons = {r.checkpoint_id: r.reason for r in plan.rejected}
    assert plan.checkpoint_id == 1
    assert reasons[2] == "partition 1: FAILED: disk full"
    assert reasons[3].startswith("partition 1: DELETED")
    assert reasons[4] == "partition 1: damaged manifest (truncated)"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_plans_equal_the_brute_force_search_with_shrinking(rng: random.Random) -> None:
    """The same generator driven by hypothesis, so a failure shrinks to a small history."""
    partitions = generate(rng)
    request = random_request(rng)
    expected = brute_force(partitions, request)
    try:
        plan = plan_restore(partitions, request)
    except NoRestorePlanError:
        assert expected is None
        return
    assert expected is not None
    check_invariants(plan, partitions)
    assert (plan.checkpoint_id, {p: list(c) for p, c in plan.chains.items()}) == expected


def test_zeebes_chain_check_at_its_boundary() -> None:
    """A log starting right after the previous checkpoint joins; one position later is a
    gap; a backup that records no first log position (before 8.9) never makes one."""

    def statuses(*firsts: int | None) -> list[BackupStatus]:
        return [
            BackupStatus(
                BackupIdentifier(0, 1, i),
                BackupStatusCode.COMPLETED,
                BackupDescriptor("s", 100 * i, 1, "8.9.0", first, at(i)),
                None,
                at(i),
            )
            for i, first in enumerate(firsts, start=1)
        ]

    def spans(*firsts: int | None) -> list[tuple[int, int]]:
        ranges = from_statuses(1, statuses(*firsts)).ranges
        return [(r.start.checkpoint_id, r.end.checkpoint_id) for r in ranges]

    assert spans(1, 101, 201) == [(1, 3)]
    assert spans(1, 102, 201) == [(1, 1), (2, 3)]
    assert spans(1, None, 250) == [(1, 2), (3, 3)]

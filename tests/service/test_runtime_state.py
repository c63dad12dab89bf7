"""A partition's checkpoint, latest backup and ranges from its manifests and metadata (pure)."""

from __future__ import annotations

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
from backup_store.service.runtime_state import (
    UNKNOWN_POSITION,
    CheckpointInfo,
    partition_runtime_state,
)

T0 = Instant.parse_iso("2026-03-01T00:00:00Z")


def backup(checkpoint_id: int, position: int, first: int | None) -> CheckpointInfo:
    return CheckpointInfo(
        checkpoint_id, CheckpointType.MANUAL_BACKUP, position, T0,
        UNKNOWN_POSITION if first is None else first,
    )  # fmt: skip


def status(
    checkpoint_id: int, code: BackupStatusCode, position: int, first: int | None, node: int = 0
) -> BackupStatus:
    descriptor = BackupDescriptor("1-1-1-1", position, 1, "8.10.1", first_log_position=first)
    return BackupStatus(BackupIdentifier(node, 1, checkpoint_id), code, descriptor, None, T0, T0)


def test_backups_whose_logs_join_up_form_one_range() -> None:
    done = BackupStatusCode.COMPLETED
    statuses = [
        status(3, done, 300, 201),  # 2 ends at 200: joins
        status(1, done, 100, 1),
        status(2, done, 200, 90),  # overlaps 1: joins
        status(4, done, 400, 302),  # a gap after 300: a new range
        status(5, done, 500, None),  # unknown (Zeebe before 8.9): never a gap
        status(6, BackupStatusCode.FAILED, 550, 501),  # no part of any range
        status(7, done, 700, 502),  # a gap after 500
        status(8, done, 800, 701),
    ]
    state = partition_runtime_state(1, statuses, None)
    spans = [(r.start, r.end) for r in state.ranges]
    assert [(a and a.checkpoint_id, b and b.checkpoint_id) for a, b in spans] == [
        (1, 3), (4, 5), (7, 8)
    ]
    assert partition_runtime_state(1, [], None).ranges == ()


def test_the_manifests_decide_without_metadata() -> None:
    statuses = [
        status(1, BackupStatusCode.COMPLETED, 100, 1),
        status(2, BackupStatusCode.COMPLETED, 200, 101),
        status(3, BackupStatusCode.FAILED, 300, 201),
        status(3, BackupStatusCode.COMPLETED, 300, 201, node=1),  # the better copy counts
        status(4, BackupStatusCode.DELETED, 400, 301),
        status(5, BackupStatusCode.IN_PROGRESS, 500, 401),
    ]
    state = partition_runtime_state(1, statuses, None)
    assert state.checkpoint is not None and state.checkpoint.checkpoint_id == 5
    assert state.backup == backup(3, 300, 201)
    assert [(r.start and r.start.checkpoint_id, r.end and r.end.checkpoint_id)
            for r in state.ranges] == [(1, 3)]  # fmt: skip


def test_metadata_adds_markers_timestamps_and_its_own_ranges() -> None:
    marker_time = Instant.parse_iso("2026-03-01T05:00:00Z")
    metadata = PartitionMetadata(
        1, 2, T0,
        (
            MetadataCheckpoint(2, 200, None, CheckpointType.SCHEDULED_BACKUP, 150, 1, "8.10.1"),
            MetadataCheckpoint(9, 900, marker_time, CheckpointType.MARKER, None, 1, "8.10.1"),
        ),
        (MetadataRange(1, 2),),
    )  # fmt: skip
    statuses = [status(2, BackupStatusCode.COMPLETED, 200, None)]
    state = partition_runtime_state(1, statuses, metadata)
    assert state.checkpoint == CheckpointInfo(9, CheckpointType.MARKER, 900, marker_time)
    # The manifest's values; the first log position only the metadata knows.
    assert state.backup == backup(2, 200, 150)
    assert len(state.ranges) == 1 and state.ranges[0].start is None  # 1 is described nowhere
    assert state.ranges[0].end == backup(2, 200, 150)


def test_a_partition_without_anything_has_no_state() -> None:
    state = partition_runtime_state(4, [], None)
    assert (state.checkpoint, state.backup, state.ranges) == (None, None, ())

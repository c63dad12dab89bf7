"""The management API's aggregation of partition backups into one backup id."""

from __future__ import annotations

import pytest

from backup_store.aggregate import (
    BackupState,
    PartitionBackupInfo,
    aggregate,
    overall_state,
)
from backup_store.format.instant import Instant
from backup_store.model import (
    BackupDescriptor,
    BackupIdentifier,
    BackupStatus,
    BackupStatusCode,
)

C = BackupStatusCode.COMPLETED
F = BackupStatusCode.FAILED
P = BackupStatusCode.IN_PROGRESS
D = BackupStatusCode.DOES_NOT_EXIST


def status(
    partition: int,
    code: BackupStatusCode,
    *,
    node: int = 0,
    checkpoint: int = 100,
    partitions: int | None = 3,
    reason: str | None = None,
    modified: int = 2_000_000_000,
) -> BackupStatus:
    descriptor = (
        BackupDescriptor("1-1-5-4", 42, partitions, "8.7.0") if partitions is not None else None
    )
    return BackupStatus(
        BackupIdentifier(node, partition, checkpoint),
        code,
        descriptor,
        reason,
        Instant(1_000_000_000),
        Instant(modified),
    )


def test_all_completed() -> None:
    info = aggregate(100, [status(1, C), status(2, C), status(3, C)], None)
    assert info.state is BackupState.COMPLETED
    assert info.failure_reason is None
    assert [d.partition_id for d in info.details] == [1, 2, 3]
    assert info.to_json() == {
        "backupId": 100,
        "state": "COMPLETED",
        "details": [
            {
                "partitionId": p,
                "state": "COMPLETED",
                "createdAt": "1970-01-01T00:00:01Z",
                "lastUpdatedAt": "1970-01-01T00:00:02Z",
                "snapshotId": "1-1-5-4",
                "checkpointPosition": 42,
                "brokerId": 0,
                "brokerVersion": "8.7.0",
            }
            for p in (1, 2, 3)
        ],
    }


def test_missing_partition_is_incomplete_and_listed_as_does_not_exist() -> None:
    info = aggregate(100, [status(1, C), status(3, C)], None)
    assert info.state is BackupState.INCOMPLETE
    assert info.details[1] == PartitionBackupInfo(2, D)
    assert info.details[1].to_json() == {"partitionId": 2, "state": "DOES_NOT_EXIST"}


def test_failed_wins_and_reasons_are_joined_in_partition_order() -> None:
    info = aggregate(
        100, [status(3, F, reason="disk full"), status(1, F), status(2, P)], None
    )
    assert info.state is BackupState.FAILED
    assert info.failure_reason == (
        "Backup on partition 1 failed due to Unknown reason. "
        "Backup on partition 3 failed due to disk full. "
    )
    assert info.to_json()["failureReason"] == info.failure_reason
    assert info.details[0].failure_reason is None  # a detail shows a reason only when known


def test_in_progress() -> None:
    assert aggregate(100, [status(1, P), status(2, C), status(3, C)]).state is (
        BackupState.IN_PROGRESS
    )


def test_incomplete_is_evaluated_before_in_progress() -> None:
    assert aggregate(100, [status(1, P), status(2, C)]).state is BackupState.INCOMPLETE


def test_none_is_does_not_exist() -> None:
    info = aggregate(100, [], 2)
    assert info.state is BackupState.DOES_NOT_EXIST
    assert [d.to_json() for d in info.details] == [
        {"partitionId": 1, "state": "DOES_NOT_EXIST"},
        {"partitionId": 2, "state": "DOES_NOT_EXIST"},
    ]
    explicit_missing = BackupStatus(BackupIdentifier(0, 1, 100), D)
    assert aggregate(100, [explicit_missing], None).state is BackupState.DOES_NOT_EXIST


def test_copies_of_one_partition_count_as_the_best() -> None:
    statuses = [
        status(1, F, node=0, reason="broker died"),
        status(1, C, node=1),
        status(1, P, node=2),
        status(2, C, node=0),
    ]
    info = aggregate(100, statuses, 2)
    assert info.state is BackupState.COMPLETED
    assert info.details[0].broker_id == 1
    assert info.failure_reason is None


def test_equal_copies_prefer_the_latest_modified() -> None:
    info = aggregate(
        100, [status(1, C, node=0, modified=5), status(1, C, node=1, modified=9)], 1
    )
    assert info.details[0].broker_id == 1


def test_partition_set_is_the_largest_number_of_partitions() -> None:
    info = aggregate(100, [status(1, C, partitions=2), status(2, C, partitions=4)], None)
    assert [d.partition_id for d in info.details] == [1, 2, 3, 4]
    assert info.state is BackupState.INCOMPLETE


def test_configured_partition_count_wins_over_descriptors_and_keeps_seen_partitions() -> None:
    info = aggregate(100, [status(1, C, partitions=1), status(3, C, partitions=1)], 2)
    assert [d.partition_id for d in info.details] == [1, 2, 3]


def test_without_any_descriptor_only_the_seen_partitions_count() -> None:
    info = aggregate(100, [status(3, F, partitions=None)], None)
    assert [d.partition_id for d in info.details] == [3]
    assert info.state is BackupState.FAILED
    assert info.to_json()["details"] == [
        {
            "partitionId": 3,
            "state": "FAILED",
            "createdAt": "1970-01-01T00:00:01Z",
            "lastUpdatedAt": "1970-01-01T00:00:02Z",
            "brokerId": 0,
        }
    ]


def test_summary_details_carry_the_list_fields_only() -> None:
    info = aggregate(100, [status(1, F, reason="x", partitions=1)], None)
    assert info.to_json(summary=True)["details"] == [
        {
            "partitionId": 1,
            "state": "FAILED",
            "failureReason": "x",
            "createdAt": "1970-01-01T00:00:01Z",
            "brokerVersion": "8.7.0",
        }
    ]


def test_a_status_of_another_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="100"):
        aggregate(100, [status(1, C, checkpoint=101)], None)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([C, C], BackupState.COMPLETED),
        ([F, D], BackupState.FAILED),
        ([F, C], BackupState.FAILED),
        ([C, D], BackupState.INCOMPLETE),
        ([P, D], BackupState.INCOMPLETE),
        ([P, C], BackupState.IN_PROGRESS),
        ([D, D], BackupState.DOES_NOT_EXIST),
        ([], BackupState.DOES_NOT_EXIST),
    ],
)
def test_overall_state_order(states: list[BackupStatusCode], expected: BackupState) -> None:
    assert overall_state(states) is expected

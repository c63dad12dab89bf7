"""One backup id across partitions: the management API's aggregated view.

A *backup* as an operator sees it (``backupId`` 100) is one partition backup
``(node, partition, 100)`` per partition of the cluster. This module turns the
statuses a store reports into the aggregated state of ``management-api.md``,
for the CLI and the HTTP API alike. It is pure: no I/O, no store.

Rules (``management-api.md``, "GET /actuator/backups/{backupId}"):

* The partitions are ``1..partition_count`` (the cluster's configured count, or
  the largest ``numberOfPartitions`` among the id's descriptors) plus any
  partition a status names. A count above :data:`MAX_PARTITIONS` is never
  enumerated: the partitions found are shown, and the backup is INCOMPLETE
  when fewer were found than the count says.
* Several copies of one partition (from different nodes) count as the best one:
  COMPLETED > IN_PROGRESS > FAILED > DELETED > DOES_NOT_EXIST.
* The overall state is evaluated in this order: any DELETED → DELETED (Zeebe
  8.9+, ``management-api.md`` "DELETED backups"); any FAILED → FAILED; some
  partition has it and some does not → INCOMPLETE; any IN_PROGRESS →
  IN_PROGRESS; none has it → DOES_NOT_EXIST; otherwise COMPLETED.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from backup_store.format.instant import Instant
from backup_store.model import MAX_PARTITIONS, BackupStatus, BackupStatusCode

UNKNOWN_REASON = "Unknown reason"
"""The reason shown for a FAILED partition whose manifest records none."""


class BackupState(Enum):
    """The overall state of one backup id across partitions."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    INCOMPLETE = "INCOMPLETE"
    IN_PROGRESS = "IN_PROGRESS"
    DOES_NOT_EXIST = "DOES_NOT_EXIST"
    DELETED = "DELETED"
    """A partition's manifest is a Zeebe 8.9+ tombstone: the backup is being deleted."""


@dataclass(frozen=True)
class PartitionBackupInfo:
    """One partition's part of a backup: the best copy among the nodes that hold one.

    Only ``partition_id`` and ``state`` are set for a partition without the backup.
    """

    partition_id: int
    state: BackupStatusCode
    failure_reason: str | None = None
    created_at: Instant | None = None
    last_updated_at: Instant | None = None
    snapshot_id: str | None = None
    checkpoint_position: int | None = None
    first_log_position: int | None = None
    """Zeebe 8.9+'s; shown by the ``/v2`` API only."""
    broker_id: int | None = None
    broker_version: str | None = None
    zone: str | None = None
    """The broker's zone (Zeebe 8.10+), None without one."""

    @property
    def broker_folder(self) -> str:
        """The broker as keys name it: ``{zone}_{brokerId}`` or the id; "" without one."""
        if self.broker_id is None:
            return ""
        return f"{self.zone}_{self.broker_id}" if self.zone else str(self.broker_id)

    @classmethod
    def from_status(cls, status: BackupStatus) -> PartitionBackupInfo:
        descriptor = status.descriptor
        # The detail carries a reason only when the manifest records one.
        reason = status.failure_reason if status.status_code is BackupStatusCode.FAILED else None
        return cls(
            partition_id=status.id.partition_id,
            state=status.status_code,
            failure_reason=reason,
            created_at=status.created,
            last_updated_at=status.last_modified,
            snapshot_id=descriptor.snapshot_id if descriptor else None,
            checkpoint_position=descriptor.checkpoint_position if descriptor else None,
            first_log_position=descriptor.first_log_position if descriptor else None,
            broker_id=status.id.node_id,
            broker_version=descriptor.broker_version if descriptor else None,
            zone=status.id.zone,
        )

    def to_json(self, *, summary: bool = False) -> dict[str, Any]:
        """The management API's partition detail; absent fields are omitted.

        ``summary`` gives the list endpoint's shorter form (``partitionId``,
        ``state``, ``createdAt``, ``brokerVersion`` and ``failureReason``).
        """
        out: dict[str, Any] = {"partitionId": self.partition_id, "state": self.state.value}
        fields: list[tuple[str, Any]] = [
            ("failureReason", self.failure_reason),
            ("createdAt", self.created_at.iso() if self.created_at else None),
        ]
        if not summary:
            fields += [
                ("lastUpdatedAt", self.last_updated_at.iso() if self.last_updated_at else None),
                ("snapshotId", self.snapshot_id),
                ("checkpointPosition", self.checkpoint_position),
                ("brokerId", self.broker_id),
                ("zone", self.zone),
            ]
        fields.append(("brokerVersion", self.broker_version))
        out.update((name, value) for name, value in fields if value is not None)
        return out


@dataclass(frozen=True)
class BackupInfo:
    """The aggregated view of one backup id (the API's ``BackupInfo``)."""

    backup_id: int
    state: BackupState
    failure_reason: str | None
    details: tuple[PartitionBackupInfo, ...]
    """One entry per partition, sorted by partition id."""

    def to_json(self, *, summary: bool = False) -> dict[str, Any]:
        """The management API's JSON body (``summary`` for the list endpoint's details)."""
        out: dict[str, Any] = {"backupId": self.backup_id, "state": self.state.value}
        if self.failure_reason is not None:
            out["failureReason"] = self.failure_reason
        out["details"] = [d.to_json(summary=summary) for d in self.details]
        return out


def best_status(statuses: Iterable[BackupStatus]) -> BackupStatus | None:
    """The copy that represents a partition: best state, then latest modified, lowest node."""
    best: BackupStatus | None = None
    for status in statuses:
        if best is None or _preference(status) > _preference(best):
            best = status
    return best


def _preference(status: BackupStatus) -> tuple[int, int, int]:
    modified = status.last_modified.epoch_nanos if status.last_modified else -1
    return status.status_code.rank, modified, -status.id.node_id


def partition_count_of(statuses: Iterable[BackupStatus]) -> int | None:
    """The largest ``numberOfPartitions`` among the statuses' descriptors, if any."""
    counts = [s.descriptor.number_of_partitions for s in statuses if s.descriptor is not None]
    return max(counts) if counts else None


def aggregate(
    backup_id: int, statuses: list[BackupStatus], partition_count: int | None = None
) -> BackupInfo:
    """Aggregate the partition backups of one id into the management API's view.

    Args:
        backup_id: the checkpoint id.
        statuses: what the store(s) reported for this id, any nodes and partitions;
            ``DOES_NOT_EXIST`` entries count as absent.
        partition_count: the cluster's partition count; ``None`` to use the largest
            ``numberOfPartitions`` among the descriptors.

    Raises:
        ValueError: a status belongs to another backup id.
    """
    by_partition: dict[int, list[BackupStatus]] = defaultdict(list)
    for status in statuses:
        if status.id.checkpoint_id != backup_id:
            raise ValueError(f"status of backup {status.id} given to aggregate backup {backup_id}")
        if status.status_code is not BackupStatusCode.DOES_NOT_EXIST:
            by_partition[status.id.partition_id].append(status)
    count = partition_count if partition_count is not None else partition_count_of(statuses)
    beyond = count is not None and count > MAX_PARTITIONS
    # A count beyond what is enumerated shows the partitions found, INCOMPLETE if missing some.
    partitions = set(by_partition)
    if not beyond:
        partitions |= set(range(1, (count or 0) + 1))
    missing_beyond = beyond and len(partitions) < (count or 0)
    details = []
    for partition in sorted(partitions):
        best = best_status(by_partition.get(partition, []))
        details.append(
            PartitionBackupInfo.from_status(best)
            if best is not None
            else PartitionBackupInfo(partition, BackupStatusCode.DOES_NOT_EXIST)
        )
    state = overall_state([d.state for d in details])
    if missing_beyond and state in (BackupState.COMPLETED, BackupState.IN_PROGRESS):
        state = BackupState.INCOMPLETE
    reason = None
    if state is BackupState.FAILED:
        reason = "".join(
            f"Backup on partition {d.partition_id} failed due to "
            f"{d.failure_reason or UNKNOWN_REASON}. "
            for d in details
            if d.state is BackupStatusCode.FAILED
        )
    return BackupInfo(backup_id, state, reason, tuple(details))


def overall_state(states: Iterable[BackupStatusCode]) -> BackupState:
    """The overall state of the partitions' (best) states, in the API's evaluation order."""
    present = list(states)
    exists = [s for s in present if s is not BackupStatusCode.DOES_NOT_EXIST]
    if BackupStatusCode.DELETED in present:
        return BackupState.DELETED
    if BackupStatusCode.FAILED in present:
        return BackupState.FAILED
    if exists and len(exists) < len(present):
        return BackupState.INCOMPLETE
    if BackupStatusCode.IN_PROGRESS in present:
        return BackupState.IN_PROGRESS
    if not exists:
        return BackupState.DOES_NOT_EXIST
    return BackupState.COMPLETED

"""Each partition's checkpoint and backup state, from what the store holds.

Camunda 8.10's ``GET /v2/backups/runtime/state`` reports, per partition, the latest
checkpoint, the latest backup and the ranges of contiguous backups (for
point-in-time restore). A broker answers from its own state; this service holds
no broker state, so :func:`read_runtime_state` answers from the store: every
manifest of the partition (any node) and, where present, the partition metadata
Zeebe 8.9+ writes (:mod:`backup_store.format.partition_metadata`). Manifests are
the truth; the metadata adds what they lack (marker checkpoints, timestamps, first
log positions, the broker's own ranges).

* ``checkpoint``: the highest checkpoint id among the metadata's checkpoints
  (markers included) and every manifest, whatever its state: a FAILED or DELETED
  backup still had its checkpoint.
* ``backup``: the highest COMPLETED backup, as a broker's latest backup is its
  latest confirmed one (a deleted backup hands the place back to its predecessor).
* ``ranges``: the metadata's ranges where the file exists (an end point no
  checkpoint describes is ``None``); otherwise the runs of COMPLETED backups whose
  logs join, by the one chain rule of :func:`backup_store.tools.ranges.joins`.

A value neither source holds is filled as Zeebe fills it: a first log position
of ``-1`` (unknown), a checkpoint timestamp of the manifest's ``createdAt`` (the
backup starts when its checkpoint is taken) or the metadata's ``lastUpdated``.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from backup_store.aggregate import best_status
from backup_store.concurrency import run_bounded
from backup_store.contract.inspectable import InspectableStore, StoredManifest
from backup_store.format.instant import Instant
from backup_store.format.partition_metadata import PartitionMetadata
from backup_store.model import (
    BackupIdentifierWildcard,
    BackupStatus,
    BackupStatusCode,
    CheckpointType,
)
from backup_store.tools import ranges

UNKNOWN_POSITION = -1
"""The first log position of a backup that does not record one (Zeebe's own value)."""
CONCURRENCY = 4
"""Partitions read at once; each listing bounds its own reads too."""


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint of a partition (and its backup, for a backup's checkpoint)."""

    checkpoint_id: int
    checkpoint_type: CheckpointType
    checkpoint_position: int
    checkpoint_timestamp: Instant
    first_log_position: int = UNKNOWN_POSITION


@dataclass(frozen=True)
class BackupRange:
    """Backups ``start`` to ``end`` of a partition whose logs join up; ``None`` for an
    end point that the store does not describe."""

    start: CheckpointInfo | None
    end: CheckpointInfo | None


@dataclass(frozen=True)
class PartitionRuntimeState:
    """What the store says of one partition's checkpoints and backups."""

    partition_id: int
    checkpoint: CheckpointInfo | None
    backup: CheckpointInfo | None
    ranges: tuple[BackupRange, ...]


def _from_metadata(metadata: PartitionMetadata | None) -> dict[int, CheckpointInfo]:
    if metadata is None:
        return {}
    return {
        c.checkpoint_id: CheckpointInfo(
            c.checkpoint_id,
            c.checkpoint_type or CheckpointType.MANUAL_BACKUP,
            c.checkpoint_position,
            c.checkpoint_timestamp or metadata.last_updated,
            UNKNOWN_POSITION if c.first_log_position is None else c.first_log_position,
        )
        for c in metadata.checkpoints
    }


def _from_manifest(status: BackupStatus, described: CheckpointInfo | None) -> CheckpointInfo | None:
    """The manifest's values, with what only the metadata holds filled in."""
    descriptor = status.descriptor
    if descriptor is None:
        return None
    timestamp = descriptor.checkpoint_timestamp or (
        described.checkpoint_timestamp if described is not None else status.created
    )
    first = descriptor.first_log_position
    if first is None:
        first = described.first_log_position if described is not None else UNKNOWN_POSITION
    if timestamp is None:
        return None
    return CheckpointInfo(
        status.id.checkpoint_id, descriptor.type, descriptor.checkpoint_position, timestamp, first
    )


def partition_runtime_state(
    partition_id: int, statuses: Sequence[BackupStatus], metadata: PartitionMetadata | None
) -> PartitionRuntimeState:
    """The state of one partition from its manifests' statuses (any node; damaged ones
    are left out by the caller) and its metadata (``None`` when absent). Pure."""
    by_id: dict[int, list[BackupStatus]] = defaultdict(list)
    for status in statuses:
        if status.status_code is not BackupStatusCode.DOES_NOT_EXIST:
            by_id[status.id.checkpoint_id].append(status)
    described = _from_metadata(metadata)
    checkpoints = dict(described)
    completed: dict[int, CheckpointInfo] = {}
    for checkpoint_id, copies in by_id.items():
        best = best_status(copies)
        info = _from_manifest(best, described.get(checkpoint_id)) if best is not None else None
        if best is None or info is None:
            continue
        checkpoints[checkpoint_id] = info
        if best.status_code is BackupStatusCode.COMPLETED:
            completed[checkpoint_id] = info
    if metadata is not None:
        ids = [(r.start, r.end) for r in metadata.ranges]
    else:
        derived = ranges.from_statuses(partition_id, statuses).ranges
        ids = [(r.start.checkpoint_id, r.end.checkpoint_id) for r in derived]
    known = {**described, **completed}
    return PartitionRuntimeState(
        partition_id,
        checkpoints[max(checkpoints)] if checkpoints else None,
        completed[max(completed)] if completed else None,
        tuple(BackupRange(known.get(start), known.get(end)) for start, end in ids),
    )


async def _read_partition(store: InspectableStore, partition_id: int) -> PartitionRuntimeState:
    listed = await store.scan_manifests(BackupIdentifierWildcard(partition_id=partition_id))
    statuses = [entry.to_status() for entry in listed if isinstance(entry, StoredManifest)]
    metadata = await store.read_partition_metadata(partition_id)
    return partition_runtime_state(partition_id, statuses, metadata)


async def read_runtime_state(
    store: InspectableStore, partition_count: int
) -> list[PartitionRuntimeState]:
    """The state of partitions ``1..partition_count`` and of every partition the store
    holds manifests of, by partition id.

    Reads every manifest of each partition (a damaged one is left out: it describes
    no checkpoint that can be trusted) and each partition's metadata file.

    Raises:
        StoreUnavailableError: the store could not be reached.
    """
    partitions = set(range(1, partition_count + 1)) | set(await store.list_partitions())
    jobs = [functools.partial(_read_partition, store, p) for p in sorted(partitions)]
    return await run_bounded(jobs, CONCURRENCY)

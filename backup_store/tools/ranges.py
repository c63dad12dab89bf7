"""Per-partition backup ranges: which backups of a partition can be restored as one chain.

A *range* is a run of a partition's backups whose logs join: restoring the first
backup's snapshot and then each backup's log up to its checkpoint replays the
partition without a hole. Zeebe 8.9+ keeps the ranges in the partition metadata
file (:mod:`backup_store.format.partition_metadata`); where there is none, they are
derived here from the backups themselves by Zeebe's own chain check
(``docs/on-store-format.md``, "Point-in-time restore"):

* Only COMPLETED backups belong to ranges; FAILED, DELETED, damaged, IN_PROGRESS
  backups (and backups the metadata lists but whose manifest is gone) are
  *unusable*, each with the reason.
* Two backups that follow each other (by checkpoint id) are in one range unless the
  later one's ``firstLogPosition`` is greater than the earlier one's checkpoint
  position + 1 (a gap). A backup that records no ``firstLogPosition`` (Zeebe before
  8.9) never starts a gap, as in Zeebe's check.
* From a metadata file, its ranges are used, split again wherever a backup inside
  is missing and the backups around it fail that check. Marker checkpoints (no
  backup, only in the metadata) belong to the range whose positions cover them:
  from the first backup's ``firstLogPosition`` to the last backup's checkpoint position.

Everything here is pure (no I/O): :func:`from_statuses` and :func:`from_metadata`
build a :class:`PartitionRanges`; :meth:`PartitionRanges.chain_to` gives the
backups a restore to one checkpoint needs. The planner
(:mod:`backup_store.tools.restore_plan`) and retention
(:mod:`backup_store.tools.retention_ranges`) use them; so may any front end that shows
a partition's ranges.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from backup_store.aggregate import best_status
from backup_store.format.instant import Instant
from backup_store.format.partition_metadata import PartitionMetadata
from backup_store.model import BackupStatus, BackupStatusCode, CheckpointType

MANIFESTS = "manifests"
METADATA = "metadata"


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of a partition: a usable backup, or a marker (metadata only).

    ``time`` is the checkpoint's timestamp (8.9+), else the manifest's ``createdAt``;
    ``node_id`` is the node whose copy is used (``None`` for a marker, or where the
    metadata file alone names the backup).
    """

    checkpoint_id: int
    position: int
    first_log_position: int | None
    time: Instant | None
    type: CheckpointType
    node_id: int | None = None

    @property
    def is_backup(self) -> bool:
        return self.type is not CheckpointType.MARKER


def joins(earlier: Checkpoint, later: Checkpoint) -> bool:
    """Whether ``later``'s log continues ``earlier``'s (Zeebe's chain check)."""
    first = later.first_log_position
    return first is None or first <= earlier.position + 1


@dataclass(frozen=True)
class BackupRange:
    """Backups (in checkpoint order) whose logs join, and the span of positions they
    replay: from the first backup's first log position to the last one's checkpoint."""

    backups: tuple[Checkpoint, ...]

    @property
    def start(self) -> Checkpoint:
        return self.backups[0]

    @property
    def end(self) -> Checkpoint:
        return self.backups[-1]

    def covers(self, checkpoint: Checkpoint) -> bool:
        lowest = self.start.first_log_position
        if lowest is None:
            lowest = self.start.position
        return lowest <= checkpoint.position <= self.end.position

    def chain_to(self, checkpoint_id: int) -> tuple[Checkpoint, ...]:
        """The range's backups from its start to the first at or after the checkpoint."""
        chain = []
        for backup in self.backups:
            chain.append(backup)
            if backup.checkpoint_id >= checkpoint_id:
                return tuple(chain)
        return ()

    def to_json(self) -> dict[str, int]:
        return {"start": self.start.checkpoint_id, "end": self.end.checkpoint_id}


@dataclass(frozen=True)
class PartitionRanges:
    """A partition's usable checkpoints, its ranges, and why other backups are unusable."""

    partition_id: int
    source: str
    """:data:`METADATA` (the partition metadata file) or :data:`MANIFESTS`."""
    checkpoints: tuple[Checkpoint, ...]
    ranges: tuple[BackupRange, ...]
    unusable: dict[int, str] = field(default_factory=dict)
    """Checkpoint id -> why that backup cannot be part of a chain."""

    @cached_property
    def _by_id(self) -> dict[int, Checkpoint]:
        return {c.checkpoint_id: c for c in self.checkpoints}

    @cached_property
    def _range_of_backup(self) -> dict[int, BackupRange]:
        return {b.checkpoint_id: r for r in self.ranges for b in r.backups}

    def checkpoint(self, checkpoint_id: int) -> Checkpoint | None:
        return self._by_id.get(checkpoint_id)

    def range_of(self, checkpoint: Checkpoint) -> BackupRange | None:
        """The range that can restore to the checkpoint (``None``: it lies in a gap)."""
        if checkpoint.is_backup:
            return self._range_of_backup.get(checkpoint.checkpoint_id)
        for backup_range in self.ranges:
            if backup_range.covers(checkpoint) and backup_range.chain_to(checkpoint.checkpoint_id):
                return backup_range
        return None

    def chain_to(self, checkpoint_id: int) -> tuple[Checkpoint, ...]:
        """The backups a restore to the checkpoint needs, oldest first (empty: none can)."""
        checkpoint = self.checkpoint(checkpoint_id)
        found = None if checkpoint is None else self.range_of(checkpoint)
        return () if found is None else found.chain_to(checkpoint_id)


def _split(backups: Sequence[Checkpoint]) -> list[BackupRange]:
    ranges: list[list[Checkpoint]] = []
    for backup in backups:
        if ranges and joins(ranges[-1][-1], backup):
            ranges[-1].append(backup)
        else:
            ranges.append([backup])
    return [BackupRange(tuple(r)) for r in ranges]


def _unusable_reason(status: BackupStatus) -> str:
    if status.damaged:
        return f"damaged manifest ({status.damage})"
    if status.status_code is BackupStatusCode.COMPLETED:
        return "COMPLETED but without a descriptor"
    reason = f": {status.failure_reason}" if status.failure_reason else ""
    return f"{status.status_code.value}{reason}"


def from_statuses(partition_id: int, statuses: Iterable[BackupStatus]) -> PartitionRanges:
    """The partition's ranges derived from its backups' statuses (every node's copies:
    the best copy of each checkpoint counts)."""
    by_checkpoint: dict[int, list[BackupStatus]] = {}
    for status in statuses:
        if status.id.partition_id == partition_id:
            by_checkpoint.setdefault(status.id.checkpoint_id, []).append(status)
    backups: list[Checkpoint] = []
    unusable: dict[int, str] = {}
    for checkpoint_id in sorted(by_checkpoint):
        best = best_status(by_checkpoint[checkpoint_id])
        if best is None or best.status_code is BackupStatusCode.DOES_NOT_EXIST:
            continue
        descriptor = best.descriptor
        if best.status_code is not BackupStatusCode.COMPLETED or descriptor is None or best.damaged:
            unusable[checkpoint_id] = _unusable_reason(best)
            continue
        backups.append(
            Checkpoint(
                checkpoint_id,
                descriptor.checkpoint_position,
                descriptor.first_log_position,
                descriptor.checkpoint_timestamp or best.created,
                descriptor.type,
                best.id.node_id,
            )
        )
    return PartitionRanges(
        partition_id, MANIFESTS, tuple(backups), tuple(_split(backups)), unusable
    )


def from_metadata(
    metadata: PartitionMetadata, present: Iterable[int] | None = None
) -> PartitionRanges:
    """The partition's ranges from its metadata file.

    Args:
        present: checkpoint ids that have a manifest (from the keys alone); a backup
            the metadata lists without one is unusable ("no manifest"). ``None``:
            trust the metadata.
    """
    found = None if present is None else set(present)
    entries = sorted(metadata.checkpoints, key=lambda c: c.checkpoint_id)
    checkpoints: list[Checkpoint] = []
    unusable: dict[int, str] = {}
    for entry in entries:
        kind = entry.checkpoint_type or CheckpointType.MANUAL_BACKUP
        if (
            kind is not CheckpointType.MARKER
            and found is not None
            and entry.checkpoint_id not in found
        ):
            unusable[entry.checkpoint_id] = "listed in the metadata file, but no manifest"
            continue
        checkpoints.append(
            Checkpoint(
                entry.checkpoint_id,
                entry.checkpoint_position,
                entry.first_log_position,
                entry.checkpoint_timestamp,
                kind,
            )
        )
    ranges: list[BackupRange] = []
    for listed in sorted(metadata.ranges, key=lambda r: r.start):
        inside = [
            c for c in checkpoints if c.is_backup and listed.start <= c.checkpoint_id <= listed.end
        ]
        ranges.extend(_split(inside))
    return PartitionRanges(
        metadata.partition_id, METADATA, tuple(checkpoints), tuple(ranges), unusable
    )

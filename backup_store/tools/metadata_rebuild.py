"""Rebuilding Zeebe 8.9+'s partition metadata from what the manifests prove.

A broker writes ``[bp/]metadata/{p}/metadata.json`` from its runtime state, and
only there do some of its facts exist (MARKER checkpoints, checkpoints whose backups
are gone). So this is done only on request (``backup-store catalog rebuild
--metadata``) and only where no broker is writing. That is established per
partition from the store itself, before anything is written; a partition is refused
when

* a manifest of the partition is IN_PROGRESS (a broker is taking a backup), or
* a manifest of the partition, or the metadata object, was written within the quiet
  period (``--quiet-for``; the metadata's own ``lastUpdated`` counts too): a broker
  writing there would have done so, as it rewrites the file on every change and on
  every leader election.

If any partition is refused, nothing is written (:class:`BrokerMayBeWritingError`).

What the manifests prove: each checkpoint with a COMPLETED backup (on any node), its
descriptor's position, timestamp, type, first log position, partition count and
broker version; and the ranges, by the chain rule every tool here shares
(:func:`backup_store.tools.ranges.joins`: consecutive COMPLETED backups, by id, form
one range while each one's log starts at or before the previous one's checkpoint
position + 1; a backup in between that is not COMPLETED is no part of the chain and
does not break it). Each plan says what it could not recover.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from backup_store.contract.inspectable import DamagedManifest, InspectableStore
from backup_store.errors import InvalidBackupStateError
from backup_store.format.instant import Instant
from backup_store.format.manifest import Manifest
from backup_store.format.partition_metadata import (
    RECORD_VERSION,
    BackupRange,
    MetadataCheckpoint,
    PartitionMetadata,
    encode_partition_metadata,
    read_partition_metadata,
)
from backup_store.model import BackupIdentifierWildcard, BackupStatusCode
from backup_store.tools import ranges
from backup_store.units import format_duration

DEFAULT_QUIET = timedelta(hours=24)
"""How long a partition must have seen no write before its metadata is rebuilt."""

ALWAYS_LOST = (
    "MARKER checkpoints (they exist only in the broker's state)",
    "checkpoints whose backups were deleted",
)
"""What no rebuild recovers, for any partition."""


class BrokerMayBeWritingError(InvalidBackupStateError):
    """A partition shows signs of a broker writing there; nothing was written."""


@dataclass(frozen=True)
class MetadataPlan:
    """The metadata rebuilt for one partition, and what it lacks."""

    partition_id: int
    metadata: PartitionMetadata
    not_recovered: tuple[str, ...]

    @property
    def content(self) -> bytes:
        return encode_partition_metadata(self.metadata)


def _checkpoint(manifest: Manifest) -> MetadataCheckpoint:
    descriptor = manifest.descriptor
    assert descriptor is not None  # a COMPLETED manifest always has one
    return MetadataCheckpoint(
        checkpoint_id=manifest.id.checkpoint_id,
        checkpoint_position=descriptor.checkpoint_position,
        checkpoint_timestamp=descriptor.checkpoint_timestamp,
        checkpoint_type=descriptor.checkpoint_type,
        first_log_position=descriptor.first_log_position,
        number_of_partitions=descriptor.number_of_partitions,
        broker_version=descriptor.broker_version,
    )


def backup_ranges(partition_id: int, completed: Sequence[Manifest]) -> tuple[BackupRange, ...]:
    """The ranges of the COMPLETED backups, by the one chain rule of
    :func:`backup_store.tools.ranges.joins`."""
    found = ranges.from_statuses(partition_id, [m.to_status() for m in completed])
    return tuple(
        BackupRange(r.start.checkpoint_id, r.end.checkpoint_id) for r in found.ranges
    )


async def plan_partition(
    store: InspectableStore, partition_id: int, *, now: Instant, quiet: timedelta
) -> tuple[MetadataPlan | None, list[str]]:
    """The partition's plan, or the reasons a broker may be writing there."""
    since = Instant(now.epoch_nanos - quiet // timedelta(microseconds=1) * 1000)
    refusals: list[str] = []
    not_recovered = list(ALWAYS_LOST)
    completed: dict[int, Manifest] = {}
    # checkpoints with a backup that is not COMPLETED: why, by id
    lost: dict[int, str] = {}
    for entry in await store.scan_manifests(BackupIdentifierWildcard(partition_id=partition_id)):
        if isinstance(entry, DamagedManifest):
            lost.setdefault(entry.backup_id.checkpoint_id, "a damaged manifest")
            continue
        manifest = entry.manifest
        if manifest.status_code is BackupStatusCode.IN_PROGRESS:
            refusals.append(f"backup {manifest.id} is IN_PROGRESS")
        if manifest.modified_at >= since:
            refusals.append(f"backup {manifest.id} was written at {manifest.modified_at}")
        if manifest.status_code is BackupStatusCode.COMPLETED:
            completed.setdefault(manifest.id.checkpoint_id, manifest)
        else:
            lost.setdefault(manifest.id.checkpoint_id, "no COMPLETED backup")
    broken = set(lost) - set(completed)
    not_recovered += [f"checkpoint {c} ({lost[c]})" for c in sorted(broken)]
    current, recent = await _current_metadata(store, partition_id, since)
    refusals += recent
    if refusals:
        return None, refusals
    checkpoints = tuple(_checkpoint(completed[c]) for c in sorted(completed))
    metadata = PartitionMetadata(
        partition_id=partition_id,
        sequence_number=None,
        last_updated=now,
        checkpoints=checkpoints,
        ranges=backup_ranges(partition_id, [completed[c] for c in sorted(completed)]),
        record_version=RECORD_VERSION,
    )
    return MetadataPlan(partition_id, _in_the_shape_of(metadata, current), tuple(not_recovered)), []


def _in_the_shape_of(
    metadata: PartitionMetadata, current: PartitionMetadata | None
) -> PartitionMetadata:
    """In the version of the file already there (a readable one), so that the brokers
    that wrote it read it; else the newest version found (the versioned record)."""
    if current is None or current.record_version is not None:
        return metadata
    following = None if current.sequence_number is None else current.sequence_number + 1
    return dataclasses.replace(metadata, record_version=None, sequence_number=following)


async def _current_metadata(
    store: InspectableStore, partition_id: int, since: Instant
) -> tuple[PartitionMetadata | None, list[str]]:
    """The readable metadata there, and why it shows a broker writing, if it does."""
    key = store.metadata_key(partition_id)
    found = await store.stat(key)
    current = read_partition_metadata(await store.load_backup_metadata(partition_id), key)
    written = None if found is None else Instant.from_datetime(found.last_modified)
    if written is not None and written >= since:
        return current, [f"its metadata was written at {written}"]
    if current is not None and current.last_updated >= since:
        return current, [f"its metadata says it was updated at {current.last_updated}"]
    return current, []


async def rebuild_metadata(
    store: InspectableStore,
    partitions: Sequence[int] | None = None,
    *,
    now: Instant,
    quiet: timedelta = DEFAULT_QUIET,
) -> list[MetadataPlan]:
    """Rebuild the metadata of ``partitions`` (default: every partition with a
    manifest) and store it; returns what was written.

    Raises:
        BrokerMayBeWritingError: a partition was refused (the message names each
            with its reasons); no metadata was written.
    """
    plans: list[MetadataPlan] = []
    refused: list[str] = []
    chosen = await store.list_partitions() if partitions is None else sorted(set(partitions))
    for partition_id in chosen:
        plan, reasons = await plan_partition(store, partition_id, now=now, quiet=quiet)
        if plan is None:
            refused.append(f"partition {partition_id}: {'; '.join(reasons)}")
        else:
            plans.append(plan)
    if refused:
        raise BrokerMayBeWritingError(
            "a broker may be writing this location, so no metadata was rebuilt (quiet period "
            f"{format_duration(quiet)}): " + " | ".join(refused)
        )
    for plan in plans:
        await store.store_backup_metadata(plan.partition_id, plan.content)
    return plans

"""What a migration will do and did: one :class:`PlannedMigration` per source backup,
decided by :func:`decide` (the table of :mod:`backup_store.tools.migrate`), and the
report of what happened to each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from backup_store.contract.inspectable import (
    DamagedManifest,
    InspectableStore,
    StoredManifest,
    TransferCounters,
)
from backup_store.errors import BackupStoreError, InvalidInputError
from backup_store.format.manifest import Manifest
from backup_store.model import BackupIdentifier, BackupIdentifierWildcard, BackupStatusCode


class Action(Enum):
    """What the migration does with one source backup."""

    COPY = "copy"
    COPY_MANIFEST = "copy-manifest"
    REPLACE = "replace"
    SKIP = "skip"
    SKIP_IN_PROGRESS = "skip-in-progress"
    SKIP_DAMAGED = "skip-damaged"
    CONFLICT = "conflict"

    @property
    def writes(self) -> bool:
        return self in (Action.COPY, Action.COPY_MANIFEST, Action.REPLACE)


class Outcome(Enum):
    """How one backup's migration ended."""

    PLANNED = "planned"  # dry run
    MIGRATED = "migrated"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class PlannedMigration:
    """One source backup and what the migration will do with it.

    Attributes:
        backup_id: the partition backup ``(node, partition, checkpoint)``.
        source_status: its status at the source.
        target_status: its status at the target (``DOES_NOT_EXIST`` when absent).
        action: what will be done.
        reason: why, in words.
        files: files to copy (0 for manifest-only and skipped backups).
        size: bytes to copy when the source recorded them, else None.
    """

    backup_id: BackupIdentifier
    source_status: BackupStatusCode
    target_status: BackupStatusCode
    action: Action
    reason: str
    files: int = 0
    size: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "backupId": {
                "nodeId": self.backup_id.node_id,
                "partitionId": self.backup_id.partition_id,
                "checkpointId": self.backup_id.checkpoint_id,
            },
            "sourceStatus": self.source_status.value,
            "targetStatus": self.target_status.value,
            "action": self.action.value,
            "reason": self.reason,
            "files": self.files,
        }
        if self.size is not None:
            out["bytes"] = self.size
        return out


@dataclass
class MigrationResult:
    """What happened to one planned backup."""

    plan: PlannedMigration
    outcome: Outcome
    message: str
    bytes_copied: int = 0
    files_verified: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            **self.plan.to_json(),
            "outcome": self.outcome.value,
            "message": self.message,
            "bytesCopied": self.bytes_copied,
            "filesVerified": self.files_verified,
        }


@dataclass
class MigrationReport:
    """The result of :func:`migrate`; ``ok`` is False when any backup failed."""

    source: str
    target: str
    dry_run: bool
    results: list[MigrationResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Problems outside any one backup (e.g. the requested id does not exist)."""
    transfers: TransferCounters = field(default_factory=TransferCounters)
    """What the target's writes sent, and made by copying inside the target."""
    copies: bool = False
    """Whether the target may copy the source's objects inside one service (else every
    file is streamed through this process)."""

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.outcome is not Outcome.FAILED for r in self.results)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "dryRun": self.dry_run,
            "ok": self.ok,
            "migrated": self.count(Outcome.MIGRATED),
            "skipped": self.count(Outcome.SKIPPED),
            "failed": self.count(Outcome.FAILED),
            "problems": list(self.problems),
            "bytesSent": self.transfers.bytes_uploaded,
            "filesCopied": self.transfers.files_copied,
            "bytesCopied": self.transfers.bytes_copied,
            "copiesInsideService": self.copies,
            "backups": [r.to_json() for r in self.results],
        }


def same_backup(source: Manifest, target: Manifest) -> bool:
    """Whether the target manifest is the finished migration of the source one."""
    if (source.status_code, source.descriptor) != (target.status_code, target.descriptor):
        return False
    if source.status_code is BackupStatusCode.FAILED:
        return (source.failure_reason, source.created_at, source.modified_at) == (
            target.failure_reason,
            target.created_at,
            target.modified_at,
        )
    names = {(fs, e.name) for fs, e in source.files()}
    same_files = names == {(fs, e.name) for fs, e in target.files()}
    return same_files and source.created_at == target.created_at


def decide(source: Manifest, target: Manifest | None) -> tuple[Action, str]:
    """The action for one backup given its source and target manifests (see module doc)."""
    status = source.status_code
    if status is BackupStatusCode.DELETED:
        return Action.SKIP, "DELETED at the source (being deleted): not migrated"
    if status is BackupStatusCode.IN_PROGRESS:
        return Action.SKIP_IN_PROGRESS, (
            "IN_PROGRESS at the source: not migrated; migrate it once it has completed or failed"
        )
    fresh = Action.COPY if status is BackupStatusCode.COMPLETED else Action.COPY_MANIFEST
    if target is None:
        if fresh is Action.COPY:
            return fresh, "absent at the target"
        return fresh, "absent at the target; FAILED: manifest only, its files are not copied"
    if same_backup(source, target):
        return Action.SKIP, f"already {target.status_code.value} at the target"
    ours = target.created_at == source.created_at and target.status_code in (
        BackupStatusCode.IN_PROGRESS,
        BackupStatusCode.FAILED,
    )
    if ours:
        return Action.REPLACE, (
            f"{target.status_code.value} at the target, left by an interrupted migration: "
            "it is replaced"
        )
    return Action.CONFLICT, (
        f"the target holds a different {target.status_code.value} backup with this id "
        f"(created {target.created_at}); delete it at the target to migrate this one"
    )


async def plan_migration(
    source: InspectableStore,
    target: InspectableStore,
    wildcard: BackupIdentifierWildcard | None = None,
) -> list[PlannedMigration]:
    """What :func:`migrate` would do, without writing anything."""
    _check_distinct(source, target)
    selection = wildcard or BackupIdentifierWildcard()
    scanned = await source.scan_manifests(selection)
    sources = [s for s in scanned if isinstance(s, StoredManifest)]
    await _check_not_same_location(source, target, sources)
    targets: dict[BackupIdentifier, StoredManifest | DamagedManifest] = {}
    for entry in await target.scan_manifests(selection):
        targets[entry.manifest.id if isinstance(entry, StoredManifest) else entry.backup_id] = entry
    # A damaged manifest is no backup: never copied, never replaced, never a FAILED one.
    plans = [
        PlannedMigration(
            damaged.backup_id,
            BackupStatusCode.FAILED,
            _target_status(targets.get(damaged.backup_id)),
            Action.SKIP_DAMAGED,
            f"damaged manifest at the source, not migrated: {damaged.error.message}",
        )
        for damaged in scanned
        if isinstance(damaged, DamagedManifest)
    ]
    for stored in sources:
        manifest = stored.manifest
        found = targets.get(manifest.id)
        if isinstance(found, DamagedManifest):
            plans.append(
                PlannedMigration(
                    manifest.id,
                    manifest.status_code,
                    BackupStatusCode.FAILED,
                    Action.CONFLICT,
                    "the target holds a damaged manifest with this id: "
                    f"{found.error.message}; remove it at the target to migrate this backup",
                )
            )
            continue
        action, reason = decide(manifest, found.manifest if found else None)
        files, size = 0, None
        if action in (Action.COPY, Action.REPLACE) and (
            manifest.status_code is BackupStatusCode.COMPLETED
        ):
            files = len(manifest.files())
            records = await source.read_integrity(stored)
            if records is not None:
                size = sum(r.size for r in records.values())
        target_status = _target_status(found)
        plans.append(
            PlannedMigration(
                manifest.id, manifest.status_code, target_status, action, reason, files, size
            )
        )
    return sorted(plans, key=lambda plan: _order(plan.backup_id))


def _target_status(found: StoredManifest | DamagedManifest | None) -> BackupStatusCode:
    if found is None:
        return BackupStatusCode.DOES_NOT_EXIST
    return found.to_status().status_code


def _order(backup_id: BackupIdentifier) -> tuple[int, int, int]:
    return backup_id.checkpoint_id, backup_id.partition_id, backup_id.node_id


def _check_distinct(source: InspectableStore, target: InspectableStore) -> None:
    if source.kind == target.kind and source.description == target.description:
        raise InvalidInputError(f"source and target are the same store ({source.description})")


async def _check_not_same_location(
    source: InspectableStore, target: InspectableStore, sources: list[StoredManifest]
) -> None:
    """Refuse a target over the source's own objects and base path.

    The target claims its location for its kind on the first write; at the
    source's location that would make the source unreadable by its own kind.
    """
    if source.base_path != target.base_path:
        return
    keys = [source.marker_key] + [s.key for s in sources[:1]]
    for key in keys:
        try:
            seen_by_source = await source.stat(key)
            seen_by_target = await target.stat(key)
        except BackupStoreError:
            continue
        if seen_by_source is None or seen_by_target is None:
            continue
        if (seen_by_source.size, seen_by_source.last_modified) == (
            seen_by_target.size,
            seen_by_target.last_modified,
        ):
            raise InvalidInputError(
                f"the target ({target.description}) is the source's own location "
                f"({source.description}); migrate to another bucket, container, folder or "
                "base path"
            )

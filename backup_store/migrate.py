"""Copy backups from one store to another, possibly of another kind.

One store kind never reads another kind's backups, even over the same bytes
(``store-format.md`` §6); this module is the way across. It reads each backup
with the source store and writes it with the target store:

* streaming, with the target's own bounded concurrency and memory, and
  re-compressed as the target is configured;
* preserving ids, descriptors, statuses, failure reasons and timestamps;
* verifying every byte after writing, by reading the target back and comparing
  SHA-256 with the source's integrity record (or, for backups written by Zeebe,
  with the hash computed while streaming the source);
* never writing to the source.

What happens to each source backup (:class:`Action`):

============ ================================== =====================================
source       target                             action
============ ================================== =====================================
COMPLETED    absent                             COPY manifest and files
FAILED       absent                             COPY_MANIFEST: status, reason,
                                                descriptor and timestamps; no files
                                                (a FAILED backup is never restored)
any          same status, same backup           SKIP: already migrated
IN_PROGRESS  any                                SKIP_IN_PROGRESS, with a warning
COMPLETED or IN_PROGRESS or FAILED with the     REPLACE: left by an interrupted
FAILED       source's ``createdAt``             migration; marked failed, deleted and
                                                copied again (at the target only)
any          anything else                      CONFLICT: another backup holds the id
                                                at the target; nothing is changed
DELETED      any                                SKIP (a Zeebe 8.9+ tombstone)
any          damaged manifest                   CONFLICT (nothing is changed)
damaged      any                                SKIP_DAMAGED: reported as a failure;
                                                never copied as a FAILED backup
============ ================================== =====================================

A re-run therefore resumes an interrupted migration: completed backups are
skipped, and leftovers of the interrupted one are replaced.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from backup_store.concurrency import run_bounded
from backup_store.contract.inspectable import (
    DamagedManifest,
    FileToStore,
    InspectableStore,
    StoredManifest,
)
from backup_store.errors import (
    BackupStoreError,
    IntegrityError,
    InvalidInputError,
    ObjectNotFoundError,
)
from backup_store.format.instant import Instant
from backup_store.format.integrity import record_name
from backup_store.format.manifest import FileEntry, Manifest
from backup_store.model import BackupIdentifier, BackupIdentifierWildcard, BackupStatusCode
from backup_store.operations import NoProgress, Progress
from backup_store.sizes import human_size
from backup_store.transfer.files import Digest

REPLACED_REASON = "Left behind by an interrupted backup-store migrate; replaced by a new migration."


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
            "backups": [r.to_json() for r in self.results],
        }


# ---------------------------------------------------------------- planning


def _same_backup(source: Manifest, target: Manifest) -> bool:
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
    if _same_backup(source, target):
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


# ---------------------------------------------------------------- migrating


async def migrate(
    source: InspectableStore,
    target: InspectableStore,
    backup_id: int | None = None,
    *,
    wildcard: BackupIdentifierWildcard | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    on_result: Callable[[MigrationResult], None] | None = None,
) -> MigrationReport:
    """Migrate the selected backups from ``source`` to ``target``.

    Args:
        source: read only, never written.
        target: where the backups are written, in the target kind's format.
        backup_id: migrate only this checkpoint id (every partition and node);
            ``None`` for every backup (or those ``wildcard`` selects).
        wildcard: a finer selection (ignored when ``backup_id`` is given).
        dry_run: plan only; the report's results are all ``PLANNED`` (or
            ``SKIPPED``/``FAILED`` for skips and conflicts).
        progress: receives the bytes copied and verified.
        on_result: called as each backup's migration ends (for live output).

    Returns:
        The report. One backup's failure does not stop the others; it is
        reported and makes :attr:`MigrationReport.ok` False. A failed copy is
        left FAILED at the target and replaced by the next run.

    Raises:
        InvalidInputError: source and target are the same store or location.
        BackupStoreError: a store could not be listed.
    """
    if backup_id is not None:
        wildcard = BackupIdentifierWildcard(checkpoint=backup_id)
    progress = progress or NoProgress()
    this_task = asyncio.current_task()
    cancels_before = this_task.cancelling() if this_task else 0
    plans = await plan_migration(source, target, wildcard)
    report = MigrationReport(source.description, target.description, dry_run)
    if backup_id is not None and not plans:
        report.problems.append(f"no backup with id {backup_id} at the source")
    for plan in plans:
        if plan.action in (Action.CONFLICT, Action.SKIP_DAMAGED):
            result = MigrationResult(plan, Outcome.FAILED, plan.reason)
        elif not plan.action.writes:
            result = MigrationResult(plan, Outcome.SKIPPED, plan.reason)
        elif dry_run:
            result = MigrationResult(plan, Outcome.PLANNED, plan.reason)
        else:
            # In a task of its own: a task group cancelled while one of its tasks
            # fails raises that failure, not the cancellation (Ctrl-C); this task's
            # own cancel count still tells, and the migration must stop.
            result = await asyncio.create_task(_migrate_one(source, target, plan, progress))
            if this_task is not None and this_task.cancelling() > cancels_before:
                raise asyncio.CancelledError
        report.results.append(result)
        if on_result is not None:
            on_result(result)
    return report


@dataclass
class _SourceFile:
    """One file to copy, what its bytes must be, and what they were."""

    file_set: str
    entry: FileEntry
    size: int
    expected_sha256: str | None
    seen: Digest = field(default_factory=Digest)

    @property
    def label(self) -> str:
        return f"{self.file_set}/{self.entry.name}"


async def _migrate_one(
    source: InspectableStore,
    target: InspectableStore,
    plan: PlannedMigration,
    progress: Progress,
) -> MigrationResult:
    backup_id = plan.backup_id
    try:
        stored = await source.read_manifest(backup_id)
        if stored is None:
            return MigrationResult(plan, Outcome.FAILED, "the backup disappeared from the source")
        current = await target.read_manifest(backup_id)
        action, reason = decide(stored.manifest, current.manifest if current else None)
        if not action.writes:  # changed since planning
            outcome = Outcome.FAILED if action is Action.CONFLICT else Outcome.SKIPPED
            return MigrationResult(plan, outcome, reason)
        if action is Action.REPLACE and current is not None:
            if current.manifest.status_code is BackupStatusCode.IN_PROGRESS:
                await target.mark_failed(backup_id, REPLACED_REASON)
            await target.delete(backup_id)
        manifest = _portable(stored.manifest)
        if manifest.status_code is not BackupStatusCode.COMPLETED:
            await target.write_backup(manifest, [], operation="migrate")
            await _check_manifest(target, manifest)
            return MigrationResult(plan, Outcome.MIGRATED, "manifest copied (no files)")
        files = await _source_files(source, stored, progress)
        total = sum(f.size for f in files)
        progress.start(f"copying {backup_id}", total)
        try:
            await target.write_backup(
                manifest,
                [
                    FileToStore(
                        f.file_set,
                        f.entry.name,
                        f.size,
                        functools.partial(_checked_stream, source, stored, f, progress),
                    )
                    for f in files
                ],
                operation="migrate",
                # Read back before the copy turns COMPLETED: a crash or a mismatch
                # never leaves an unverified COMPLETED copy that a re-run would skip.
                before_complete=functools.partial(_verify_files, target, files, progress),
            )
        finally:
            progress.finish()
        await _check_manifest(target, manifest)
        verified = len(files)
        return MigrationResult(
            plan,
            Outcome.MIGRATED,
            f"copied {len(files)} files ({human_size(total)}), every byte verified at the target",
            bytes_copied=total,
            files_verified=verified,
        )
    except BackupStoreError as error:
        return MigrationResult(plan, Outcome.FAILED, str(error))


def _portable(manifest: Manifest) -> Manifest:
    """The manifest with timestamps free of the source form's JSON tokens.

    The instants keep their exact value; the target writes them in its own form.
    """
    descriptor = manifest.descriptor
    if descriptor is not None and descriptor.checkpoint_timestamp is not None:
        stamp = Instant(descriptor.checkpoint_timestamp.epoch_nanos)
        descriptor = replace(descriptor, checkpoint_timestamp=stamp)
    return replace(
        manifest,
        descriptor=descriptor,
        created_at=Instant(manifest.created_at.epoch_nanos),
        modified_at=Instant(manifest.modified_at.epoch_nanos),
    )


async def _source_files(
    source: InspectableStore, stored: StoredManifest, progress: Progress
) -> list[_SourceFile]:
    """Sizes and expected hashes of the files to copy, from the record or the objects."""
    records = await source.read_integrity(stored)
    files = []
    for file_set, entry in stored.manifest.files():
        record = records.get(record_name(file_set, entry.name)) if records is not None else None
        if records is not None and record is None:
            raise IntegrityError(
                f"the integrity record has no entry for {file_set}/{entry.name}",
                store=source.description,
                backup_id=stored.manifest.id,
                operation="migrate",
            )
        if record is not None:
            files.append(_SourceFile(file_set, entry, record.size, record.sha256))
        elif entry.compression is None:
            # Written by Zeebe: the object's size is the file's size; hash while copying.
            key = source.file_key(stored, file_set, entry)
            meta = await source.stat(key)
            if meta is None:
                raise ObjectNotFoundError(
                    f"object not found: {key}",
                    store=source.description,
                    key=key,
                    backup_id=stored.manifest.id,
                    operation="migrate",
                )
            files.append(_SourceFile(file_set, entry, meta.size, None))
        else:
            # Compressed by Zeebe, original size unrecorded: measure it in a first pass.
            digest = Digest()
            progress.start(f"measuring {file_set}/{entry.name}", None)
            try:
                async for chunk in source.open_file(stored, file_set, entry):
                    digest.update(chunk)
                    progress.advance(len(chunk))
            finally:
                progress.finish()
            files.append(_SourceFile(file_set, entry, digest.size, digest.sha256))
    return files


async def _checked_stream(
    source: InspectableStore, stored: StoredManifest, file: _SourceFile, progress: Progress
) -> AsyncIterator[bytes]:
    """The source file's bytes; fails (so nothing is completed) if they are not as recorded."""
    file.seen = Digest()
    async for chunk in source.open_file(stored, file.file_set, file.entry):
        file.seen.update(chunk)
        progress.advance(len(chunk))
        yield chunk
    if file.expected_sha256 is not None and (file.seen.size, file.seen.sha256) != (
        file.size,
        file.expected_sha256,
    ):
        raise IntegrityError(
            f"source file {file.label} does not match its record: size {file.seen.size} "
            f"(expected {file.size}), sha256 {file.seen.sha256} (expected {file.expected_sha256})",
            store=source.description,
            key=source.file_key(stored, file.file_set, file.entry),
            backup_id=stored.manifest.id,
            operation="migrate",
        )


async def _check_manifest(target: InspectableStore, manifest: Manifest) -> StoredManifest:
    written = await target.read_manifest(manifest.id)
    if (
        written is None
        or not _same_backup(manifest, written.manifest)
        or (
            (
                written.manifest.created_at,
                written.manifest.modified_at,
                written.manifest.failure_reason,
            )
            != (manifest.created_at, manifest.modified_at, manifest.failure_reason)
        )
    ):
        await _fail_target(target, manifest.id, "the manifest read back differs from the source's")
    assert written is not None
    return written


async def _verify_files(
    target: InspectableStore,
    files: list[_SourceFile],
    progress: Progress,
    written: StoredManifest,
) -> None:
    """Read every file back from the target and compare with the source's bytes."""
    entries = {(fs, e.name): e for fs, e in written.manifest.files()}

    async def check(file: _SourceFile) -> None:
        expected = file.expected_sha256 or file.seen.sha256
        digest = Digest()
        async for chunk in target.open_file(
            written, file.file_set, entries[(file.file_set, file.entry.name)]
        ):
            digest.update(chunk)
            progress.advance(len(chunk))
        if (digest.size, digest.sha256) != (file.size, expected):
            raise IntegrityError(
                f"Migration verification failed: {file.label} read back from the target is "
                f"{digest.size} bytes with sha256 {digest.sha256}, expected {file.size} bytes "
                f"with sha256 {expected}.",
                store=target.description,
                backup_id=written.manifest.id,
                operation="migrate verify",
            )

    progress.start(f"verifying {written.manifest.id}", sum(f.size for f in files))
    try:
        await run_bounded([functools.partial(check, f) for f in files], target.max_concurrency)
    finally:
        progress.finish()


async def _fail_target(target: InspectableStore, backup_id: BackupIdentifier, why: str) -> None:
    """Mark the target copy FAILED (so a re-run replaces it) and raise."""
    reason = f"Migration verification failed: {why}."
    await target.mark_failed(backup_id, reason)
    raise IntegrityError(
        reason, store=target.description, backup_id=backup_id, operation="migrate verify"
    )

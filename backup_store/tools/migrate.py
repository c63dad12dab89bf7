"""Copy backups from one store to another, possibly of another kind.

One store kind never reads another kind's backups, even over the same bytes
(``store-format.md`` §6); this module is the way across. It reads each backup
with the source store and writes it with the target store:

* streaming, with the target's own bounded concurrency and memory, and
  re-compressed as the target is configured; or, where the target's copies reach the
  source's objects (two base paths of one bucket, two containers of one Azure account,
  two folders of one device: :meth:`InspectableStore.copies_from`), by copying each
  object whose integrity record names its identity inside the service, keeping its
  stored form (a copy that fails, or of an object changed since, is streamed);
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

from backup_store.concurrency import run_bounded
from backup_store.contract.inspectable import FileToStore, InspectableStore, StoredManifest
from backup_store.errors import BackupStoreError, IntegrityError, ObjectNotFoundError
from backup_store.format.instant import Instant
from backup_store.format.integrity import FileRecord, record_name
from backup_store.format.manifest import FileEntry, Manifest
from backup_store.model import BackupIdentifier, BackupIdentifierWildcard, BackupStatusCode
from backup_store.operations import NoProgress, Progress
from backup_store.tools.migration_plan import (
    Action,
    MigrationReport,
    MigrationResult,
    Outcome,
    PlannedMigration,
    decide,
    plan_migration,
    same_backup,
)
from backup_store.transfer.files import Digest
from backup_store.units import human_size

REPLACED_REASON = "Left behind by an interrupted backup-store migrate; replaced by a new migration."


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
    report = MigrationReport(
        source.description, target.description, dry_run, copies=target.copies_from(source)
    )
    before = replace(target.counters)
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
        report.transfers = target.counters.since(before)
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
    record: FileRecord | None = None
    """The source's record of the file, when it has one."""
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
        copies = target.copies_from(source)
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
                        copy_from=source.stored_copy(stored, f.file_set, f.entry, f.record)
                        if copies
                        else None,
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
            files.append(_SourceFile(file_set, entry, record.size, record.sha256, record))
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
        or not same_backup(manifest, written.manifest)
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

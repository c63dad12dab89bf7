"""Save (and accept, and write a backup from any byte sources, as migrate does).

Life cycle of one backup (``store-format.md`` §5): create the IN_PROGRESS manifest
create-only (or adopt the accepted one version-matched), upload every file and make
them durable, write the integrity record (:mod:`backup_store.format.integrity`),
then rewrite the manifest COMPLETED version-matched; on any failure rewrite it
FAILED, then raise. The final manifest records what was stored: a file that zstd did
not shrink is stored plain (store-format.md §4).

Files that an object already stored holds (the same file of an earlier backup,
or, in a migration, of another location of the same service) are copied inside the
service instead: :mod:`.copies`. A local file whose name and size match is hashed
before it is stored; one whose bytes differ is then read again to upload it (every
other file is read once).
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import suppress
from functools import partial
from pathlib import Path

from backup_store.contract.inspectable import (
    BeforeComplete,
    FileToStore,
    StoredCopy,
    StoredManifest,
    TransferCounters,
)
from backup_store.engine import copies, manifests
from backup_store.engine.context import SMALL_FILE, StoreContext
from backup_store.engine.copies import Stored
from backup_store.errors import (
    BackupStoreError,
    InvalidBackupStateError,
    InvalidInputError,
    SourceFileNotFoundError,
)
from backup_store.format.instant import Instant
from backup_store.format.integrity import (
    FileRecord,
    IntegrityRecord,
    encode_record,
    record_name,
)
from backup_store.format.keys import KeyLayout
from backup_store.format.manifest import ZSTD, FileEntry, Manifest
from backup_store.io import WriteConflict
from backup_store.model import (
    FILE_SETS,
    Backup,
    BackupIdentifier,
    BackupStatusCode,
    check_file_name,
)
from backup_store.transfer.files import Chunk, Digest, hashed, read_file, source_size
from backup_store.transfer.threads import blocking, iterate_in_thread
from backup_store.transfer.zstd import COMPRESSION_THRESHOLD, StoredForm, compress_if_smaller

log = logging.getLogger(__name__)

CANCELLED_REASON = "The backup was cancelled before it completed."

FileName = tuple[str, str]
"""(file set, name) of one file of a backup."""


def files_of(backup: Backup) -> builtins.list[FileToStore]:
    """The backup's files to store; every source checked (exists, regular file, long
    enough) before anything is written."""
    files = []
    for file_set, named in zip(FILE_SETS, (backup.snapshot, backup.segments), strict=True):
        for name, source in named.sources.items():
            size = source_size(source)
            opener = partial(_read_async, source.path, size)
            files.append(FileToStore(file_set, name, size, opener, source.path))
    return files


def _read_async(path: Path, size: int) -> AsyncIterator[bytes]:
    return iterate_in_thread(read_file(path, size))


async def save(ctx: StoreContext, backup: Backup, accepted: StoredManifest | None) -> None:
    files = files_of(backup)
    snapshot, segments = (
        tuple(FileEntry(f.name) for f in files if f.file_set == file_set) for file_set in FILE_SETS
    )
    created = accepted.manifest.created_at if accepted else Instant.now()
    manifest = Manifest.in_progress(backup.id, backup.descriptor, snapshot, segments, created)
    await write_backup(ctx, manifest, files, accepted=accepted)


async def accept(ctx: StoreContext, manifest: Manifest) -> StoredManifest:
    accepted = await manifests.create(ctx, manifest.as_in_progress())
    await ctx.catalog.record_taken(manifest.id)  # never fails the accept
    return accepted


async def write_backup(
    ctx: StoreContext,
    manifest: Manifest,
    files: Sequence[FileToStore],
    *,
    before_complete: BeforeComplete | None = None,
    accepted: StoredManifest | None = None,
) -> None:
    backup_id = manifest.id
    broker_version = manifest.descriptor.broker_version if manifest.descriptor else None
    layout = accepted.layout if accepted is not None else ctx.write_layout(broker_version)
    check_keys(ctx, layout, backup_id, files)
    await ctx.owner.check(writing=True)
    local = any(f.local_path is not None for f in files)  # earlier backups hold local files
    source = await copies.find_source(ctx, backup_id) if local else None
    candidates = copies.copy_candidates(ctx, files, source)
    compress = {
        (f.file_set, f.name): ctx.compression is not None and f.size > COMPRESSION_THRESHOLD
        for f in files
    }
    # Offered to zstd; each file's upload (or copy) says how it was stored.
    offered = [FileEntry(f.name, ZSTD if compress[(f.file_set, f.name)] else None) for f in files]
    started = manifest.with_files(_by_file_set(files, offered)).as_in_progress()
    if accepted is None:
        held = await manifests.create(ctx, started)
    else:
        held = await manifests.adopt(ctx, accepted, started)
    try:
        tally = TransferCounters()
        try:
            stored = await _store_files(
                ctx, held.layout, backup_id, files, compress, candidates, tally
            )
        finally:
            _add(ctx.counters, tally)
        # From here on every manifest (the hook's, the final one, a FAILED one) names
        # the files as they were stored: a file that zstd did not shrink is stored
        # plain (store-format.md §4).
        final = manifest.with_files(_by_file_set(files, [entry for _, entry in stored]))
        held = StoredManifest(final.as_in_progress(), held.layout, held.key, held.version)
        # Tied to this manifest: a record some later backup of the id finds is stale.
        records = {
            record_name(f.file_set, f.name): record
            for f, (record, _) in zip(files, stored, strict=True)
        }
        integrity = IntegrityRecord(records, backup_id, final.created_at)
        await ctx.io.put(held.layout.integrity_key(backup_id), encode_record(integrity))
        if before_complete is not None:
            await before_complete(held)
        await _complete(ctx, held, final)
        log.info(
            "backup %s: %d files uploaded (%d bytes), %d copied in the store (%d bytes)%s",
            backup_id,
            len(files) - tally.files_copied,
            tally.bytes_uploaded,
            tally.files_copied,
            tally.bytes_copied,
            "" if source is None else f" from backup {source.stored.manifest.id}",
        )
    except BaseException as error:
        await asyncio.shield(_fail_after_error(ctx, held, error))
        raise


def _by_file_set(
    files: Sequence[FileToStore], entries: Sequence[FileEntry]
) -> dict[str, tuple[FileEntry, ...]]:
    """The entries of ``files`` (one each) by file set, in the files' order."""
    return {
        file_set: tuple(e for f, e in zip(files, entries, strict=True) if f.file_set == file_set)
        for file_set in FILE_SETS
    }


async def _complete(ctx: StoreContext, held: StoredManifest, final: Manifest) -> None:
    """The last step: the manifest rewritten version-matched. A save completes now; a
    migrated backup keeps its source's final state."""
    in_progress = final.status_code is BackupStatusCode.IN_PROGRESS
    done = final.completed(Instant.now()) if in_progress else final
    try:
        version = await manifests.swap(ctx, held, done)
    except WriteConflict:
        raise InvalidBackupStateError(
            f"backup {final.id} was changed by another writer while it was saved", key=held.key
        ) from None
    await manifests.record(ctx, held.key, version, done)


def check_keys(
    ctx: StoreContext, layout: KeyLayout, backup_id: BackupIdentifier, files: Sequence[FileToStore]
) -> None:
    """Before anything is written: every object the backup needs can be stored,
    listed, restored and deleted by this store (its seam declares the limits)."""
    for f in files:
        key = layout.file_key(backup_id, f.file_set, f.name)
        check_file_name(f.name)
        problem = ctx.io.capabilities.key_problem(key)
        if problem is not None:
            raise InvalidInputError(
                f"file name {f.name!r} ({f.file_set}) cannot be stored: {problem}", key=key
            )
    for key in (layout.manifest_key(backup_id), layout.integrity_key(backup_id)):
        problem = ctx.io.capabilities.key_problem(key)
        if problem is not None:
            raise InvalidInputError(f"the backup cannot be stored: {problem}", key=key)


async def _fail_after_error(ctx: StoreContext, held: StoredManifest, error: BaseException) -> None:
    """Step 4 of the life cycle: rewrite as FAILED; never mask the original error."""
    if isinstance(error, InvalidBackupStateError):
        return  # another writer owns the manifest now
    if isinstance(error, asyncio.CancelledError):
        reason = CANCELLED_REASON
    elif isinstance(error, BackupStoreError):
        reason = error.message
    else:
        reason = f"{type(error).__name__}: {error}"
    failed = held.manifest.failed(reason, Instant.now())
    with suppress(Exception):
        version = await manifests.swap(ctx, held, failed)
        await manifests.record(ctx, held.key, version, failed)


async def _store_files(
    ctx: StoreContext,
    layout: KeyLayout,
    backup_id: BackupIdentifier,
    files: Sequence[FileToStore],
    compress: dict[FileName, bool],
    candidates: dict[int, StoredCopy],
    tally: TransferCounters,
) -> builtins.list[Stored]:
    """Upload (or copy) every file, durable before anything names it (record,
    manifest): each file's integrity record and manifest entry as stored, in the
    files' order."""
    keys = [layout.file_key(backup_id, f.file_set, f.name) for f in files]

    async def store(batch: builtins.list[int]) -> builtins.list[Stored]:
        if batch[0] in candidates:
            [i] = batch
            copied = await copies.copy_file(ctx, keys[i], files[i], candidates[i], tally)
            if copied is not None:
                return [copied]
        return await _upload(ctx, layout, backup_id, [files[i] for i in batch], compress, tally)

    async with ctx.io.upload_group() as group:
        stored = await ctx.batched(
            len(files),
            lambda i: (
                i not in candidates
                and files[i].local_path is not None
                and files[i].size <= SMALL_FILE
                and not compress[(files[i].file_set, files[i].name)]
            ),
            store,
        )
        await group.persist(keys)
    if copies.copies_on(ctx):
        stored = await copies.with_identities(ctx, keys, stored)
    return stored


async def _upload(
    ctx: StoreContext,
    layout: KeyLayout,
    backup_id: BackupIdentifier,
    batch: Sequence[FileToStore],
    compress: dict[FileName, bool],
    tally: TransferCounters,
) -> builtins.list[tuple[FileRecord, FileEntry]]:
    """Store files; their integrity records and manifest entries as stored.

    One file is read, hashed, compressed and sent in one transfer thread (see
    :meth:`ObjectIO.upload`), a local file straight from disk; a batch of small
    local files goes through :meth:`ObjectIO.upload_each`.
    """
    if len(batch) > 1:
        return await _upload_small(ctx, layout, backup_id, batch, tally)
    [file] = batch
    key = layout.file_key(backup_id, file.file_set, file.name)
    original = Digest()
    source: Iterator[Chunk] = (
        read_file(file.local_path, file.size)
        if file.local_path is not None
        else blocking(file.open(), asyncio.get_running_loop())
    )
    chunks = hashed(source, original)
    form = StoredForm(compressed=compress[(file.file_set, file.name)])
    if form.compressed:
        chunks = compress_if_smaller(chunks, form)
    # Small files: one request instead of a multipart upload.
    async with ctx.memory_budget.reserve(ctx.io.upload_memory(file.size)):
        one_request = file.size <= ctx.io.part_size and not form.compressed
        await ctx.io.upload(key, chunks, one_request=one_request)
    return _counted(tally, [_stored(file, key, original, form)])


async def _upload_small(
    ctx: StoreContext,
    layout: KeyLayout,
    backup_id: BackupIdentifier,
    batch: Sequence[FileToStore],
    tally: TransferCounters,
) -> builtins.list[tuple[FileRecord, FileEntry]]:
    keys = [layout.file_key(backup_id, f.file_set, f.name) for f in batch]
    digests = [Digest() for _ in batch]
    uploads: builtins.list[tuple[str, Iterable[Chunk]]] = []
    for file, key, digest in zip(batch, keys, digests, strict=True):
        assert file.local_path is not None  # only local files are batched
        uploads.append((key, hashed(read_file(file.local_path, file.size), digest)))
    # One file of the batch is in flight at a time.
    async with ctx.memory_budget.reserve(max(ctx.io.upload_memory(f.size) for f in batch)):
        await ctx.io.upload_each(uploads)
    plain = StoredForm(compressed=False)
    return _counted(
        tally, [_stored(f, k, d, plain) for f, k, d in zip(batch, keys, digests, strict=True)]
    )


def _counted(
    tally: TransferCounters, uploaded: builtins.list[tuple[FileRecord, FileEntry]]
) -> builtins.list[tuple[FileRecord, FileEntry]]:
    tally.bytes_uploaded += sum(record.stored_size for record, _ in uploaded)
    return uploaded


def _add(total: TransferCounters, tally: TransferCounters) -> None:
    total.bytes_uploaded += tally.bytes_uploaded
    total.bytes_copied += tally.bytes_copied
    total.files_copied += tally.files_copied


def _stored(
    file: FileToStore, key: str, original: Digest, form: StoredForm
) -> tuple[FileRecord, FileEntry]:
    """The integrity record of a stored file, and its manifest entry as stored."""
    if original.size != file.size:
        raise SourceFileNotFoundError(
            f"source of {file.file_set}/{file.name} gave {original.size} bytes, "
            f"expected {file.size}",
            key=key,
        )
    stored_size = form.size if form.compressed else original.size
    entry = FileEntry(file.name, ZSTD if form.compressed else None)
    return FileRecord(original.size, original.sha256, stored_size), entry

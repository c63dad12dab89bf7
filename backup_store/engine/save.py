"""Save (and accept, and write a backup from any byte sources, as migrate does).

Life cycle of one backup (``store-format.md`` §5): create the IN_PROGRESS manifest
create-only (or adopt the accepted one version-matched), upload every file and make
them durable, write the integrity record (:mod:`backup_store.format.integrity`),
then rewrite the manifest COMPLETED version-matched; on any failure rewrite it
FAILED, then raise. The final manifest records what was stored: a file that zstd did
not shrink is stored plain (store-format.md §4).

Incremental saves: where the seam declares server-side copies, a local file that the
latest earlier COMPLETED backup of the partition (same node) holds with the same
name, size and SHA-256, as its integrity record says, is made by copying that
backup's object inside the store. Only a record that names its objects' identities
makes a source, and the object is copied only while it still has the recorded one
(checked before and after the copy, with the new object's size): on any doubt, or
when the copy fails, the file is uploaded. A copied object keeps its stored bytes
and compression; the manifest records them. Files whose name and size match are
hashed before they are stored; one whose bytes differ is then read again to upload
it (every other file is read once).
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from backup_store.contract.inspectable import (
    BeforeComplete,
    FileToStore,
    StoredManifest,
    TransferCounters,
)
from backup_store.engine import manifests
from backup_store.engine.context import SMALL_FILE, StoreContext
from backup_store.engine.inspect import integrity_of
from backup_store.engine.listing import manifest_keys
from backup_store.errors import (
    BackupStoreError,
    InvalidBackupStateError,
    InvalidInputError,
    SourceFileNotFoundError,
)
from backup_store.format.instant import Instant
from backup_store.format.integrity import (
    IDENTITY_FORMAT,
    FileRecord,
    IntegrityRecord,
    StoredIdentity,
    encode_record,
    record_name,
)
from backup_store.format.keys import KeyLayout
from backup_store.format.manifest import ZSTD, FileEntry, Manifest
from backup_store.io import ObjectMeta, WriteConflict
from backup_store.model import (
    FILE_SETS,
    Backup,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatusCode,
    check_file_name,
)
from backup_store.transfer.files import Chunk, Digest, hashed, read_file, source_size
from backup_store.transfer.threads import blocking, iterate_in_thread
from backup_store.transfer.zstd import COMPRESSION_THRESHOLD, StoredForm, compress_if_smaller

log = logging.getLogger(__name__)

CANCELLED_REASON = "The backup was cancelled before it completed."

SOURCE_CANDIDATES = 3
"""Earlier backups (latest first) looked at for one to copy unchanged files from."""

FileName = tuple[str, str]
"""(file set, name) of one file of a backup."""


@dataclass(frozen=True)
class Source:
    """An earlier COMPLETED backup of the partition whose objects a save may copy:
    its manifest, its integrity record (naming its objects' identities) and its
    manifest entries by record name."""

    stored: StoredManifest
    record: IntegrityRecord
    entries: dict[str, FileEntry]

    def key(self, file: FileToStore) -> str:
        return self.stored.layout.file_key(self.stored.manifest.id, file.file_set, file.name)


Candidates = dict[int, FileRecord]
"""Files (by index) whose name and size the source holds, with the source's record of each."""


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
    local = any(f.local_path is not None for f in files)  # only local files are copied
    source = await find_source(ctx, backup_id) if local else None
    candidates = copy_candidates(ctx, files, source) if source is not None else {}
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
                ctx, held.layout, backup_id, files, compress, source, candidates, tally
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


async def find_source(ctx: StoreContext, backup_id: BackupIdentifier) -> Source | None:
    """The latest earlier backup of the partition (same node) that a save may copy
    from: COMPLETED, readable, with an integrity record of its manifest that names
    its objects' identities. None where the seam cannot copy or incremental saves
    are off."""
    if not (ctx.incremental and ctx.io.capabilities.server_side_copy):
        return None
    partition = BackupIdentifierWildcard(backup_id.node_id, backup_id.partition_id)
    try:
        earlier = [i for i in await manifest_keys(ctx, partition) if i < backup_id]
    except BackupStoreError as error:
        # A store that lets this save write but not list (a write-only policy): send all.
        log.info("backup %s: no earlier backup to copy from: %s", backup_id, error)
        return None
    for candidate in sorted(earlier, reverse=True)[:SOURCE_CANDIDATES]:
        try:
            stored, found = await manifests.find_with_integrity(ctx, candidate)
            if stored is None or stored.manifest.status_code is not BackupStatusCode.COMPLETED:
                continue
            record = integrity_of(stored, found)
        except BackupStoreError:
            continue  # a damaged manifest or record is never a source
        if record is None or record.record_format < IDENTITY_FORMAT:
            continue
        entries = {
            record_name(file_set, entry.name): entry for file_set, entry in stored.manifest.files()
        }
        return Source(stored, record, entries)
    return None


def copy_candidates(ctx: StoreContext, files: Sequence[FileToStore], source: Source) -> Candidates:
    """The local files whose name and size the source's record holds, with an object
    identity, at a size the seam can copy (their SHA-256 decides, when they are stored)."""
    candidates: Candidates = {}
    for i, f in enumerate(files):
        name = record_name(f.file_set, f.name)
        recorded = source.record.get(name)
        if (
            f.local_path is not None
            and recorded is not None
            and recorded.size == f.size
            and recorded.identity is not None
            and name in source.entries
            and ctx.io.capabilities.can_copy(recorded.stored_size, customer_key=ctx.io.customer_key)
        ):
            candidates[i] = recorded
    return candidates


async def _hash_local(file: FileToStore) -> Digest:
    assert file.local_path is not None  # only local files are candidates
    path = file.local_path

    def digest() -> Digest:
        found = Digest()
        for _chunk in hashed(read_file(path, file.size), found):
            pass
        return found

    return await asyncio.to_thread(digest)


async def _store_files(
    ctx: StoreContext,
    layout: KeyLayout,
    backup_id: BackupIdentifier,
    files: Sequence[FileToStore],
    compress: dict[FileName, bool],
    source: Source | None,
    candidates: Candidates,
    tally: TransferCounters,
) -> builtins.list[tuple[FileRecord, FileEntry]]:
    """Upload (or copy) every file, durable before anything names it (record,
    manifest): each file's integrity record and manifest entry as stored, in the
    files' order."""

    async def store(batch: builtins.list[int]) -> builtins.list[tuple[FileRecord, FileEntry]]:
        if source is not None and batch[0] in candidates:
            [i] = batch
            recorded = candidates[i]
            return [
                await _copy(ctx, layout, backup_id, files[i], source, recorded, compress, tally)
            ]
        return await _upload(ctx, layout, backup_id, [files[i] for i in batch], compress, tally)

    keys = [layout.file_key(backup_id, f.file_set, f.name) for f in files]
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
    if ctx.incremental and ctx.io.capabilities.server_side_copy:
        stored = await _with_identities(ctx, keys, stored)
    return stored


async def _with_identities(
    ctx: StoreContext, keys: Sequence[str], stored: builtins.list[tuple[FileRecord, FileEntry]]
) -> builtins.list[tuple[FileRecord, FileEntry]]:
    """The records with their objects' identities, as the store reports them now that
    they are durable (a copy's came with it): what a later backup checks before it
    copies one."""
    unknown = [i for i, (record, _) in enumerate(stored) if record.identity is None]
    found = await ctx.bounded([partial(ctx.io.head, keys[i]) for i in unknown])
    named = list(stored)
    for i, meta in zip(unknown, found, strict=True):
        record, entry = stored[i]
        identity = _identity(meta, record.stored_size)
        named[i] = (FileRecord(record.size, record.sha256, record.stored_size, identity), entry)
    return named


def _identity(meta: ObjectMeta | None, stored_size: int) -> StoredIdentity | None:
    """An object's identity, when the store names one and the object has the size stored."""
    if meta is None or not meta.e_tag or meta.size != stored_size:
        return None
    return StoredIdentity(meta.e_tag, meta.size)


async def _copy(
    ctx: StoreContext,
    layout: KeyLayout,
    backup_id: BackupIdentifier,
    file: FileToStore,
    source: Source,
    recorded: FileRecord,
    compress: dict[FileName, bool],
    tally: TransferCounters,
) -> tuple[FileRecord, FileEntry]:
    """The file made by copying the source's object when the file's SHA-256 is the
    recorded one; uploaded (read again) when it is not, when the object is not the one
    recorded before or after the copy, the copy is not its size, or the copy fails."""
    key = layout.file_key(backup_id, file.file_set, file.name)
    source_key = source.key(file)
    digest, unchanged = await asyncio.gather(
        _hash_local(file), _unchanged(ctx, source_key, recorded)
    )
    if digest.size == file.size and digest.sha256 == recorded.sha256 and unchanged:
        try:
            await ctx.io.copy(source_key, key)
            copied, still = await asyncio.gather(
                ctx.io.head(key), _unchanged(ctx, source_key, recorded)
            )
        except BackupStoreError:
            copied, still = None, False  # the source deleted meanwhile, or a copy refused
        if still and copied is not None and copied.size == recorded.stored_size:
            tally.files_copied += 1
            tally.bytes_copied += recorded.stored_size
            entry = source.entries[record_name(file.file_set, file.name)]
            identity = _identity(copied, recorded.stored_size)
            return FileRecord(file.size, recorded.sha256, recorded.stored_size, identity), entry
    [uploaded] = await _upload(ctx, layout, backup_id, [file], compress, tally)
    return uploaded


async def _unchanged(ctx: StoreContext, key: str, recorded: FileRecord) -> bool:
    """Whether the object at ``key`` still has the identity its backup recorded."""
    assert recorded.identity is not None  # only records with identities are sources
    meta = await ctx.io.head(key)
    return (
        meta is not None
        and meta.e_tag == recorded.identity.e_tag
        and meta.size == recorded.identity.size == recorded.stored_size
    )


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

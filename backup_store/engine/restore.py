"""Restore: one COMPLETED backup's files, flat, into a folder, checked against the
integrity record (the integrity table of ``docs/on-store-format.md``).

Files are written under short temporary names in the target folder, made durable
together (one ``syncfs``), checked, then renamed to their names and the folder
fsynced: all or nothing, and after a crash a name holds its whole file or is absent.
Progress (bytes written, and how the backup is verified) goes to the caller's
:class:`~backup_store.contract.inspectable.RestoreProgress`.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from uuid import uuid4

from backup_store.contract.inspectable import RestoreProgress, StoredManifest, Verification
from backup_store.engine import manifests
from backup_store.engine.context import SMALL_FILE, StoreContext
from backup_store.engine.inspect import check_compression, integrity_of
from backup_store.errors import (
    BackupStoreError,
    IntegrityError,
    InvalidBackupStateError,
    InvalidInputError,
    ManifestParseError,
    RestoreTargetError,
    UnverifiedBackupError,
)
from backup_store.format.integrity import IntegrityRecord, record_name
from backup_store.format.manifest import ZSTD, FileEntry, Manifest
from backup_store.io import NAME_MAX
from backup_store.model import (
    FILE_SETS,
    Backup,
    BackupIdentifier,
    BackupStatusCode,
    NamedFileSet,
    check_file_name,
)
from backup_store.transfer.durability import FolderSync, fsync_directory
from backup_store.transfer.files import Chunk, Digest, hashed, write_file
from backup_store.transfer.threads import in_transfer_thread
from backup_store.transfer.zstd import decompress

log = logging.getLogger(__name__)

Target = tuple[str, FileEntry, Path]
"""(file set, entry, where it is written) of one file being restored."""


async def restore(
    ctx: StoreContext,
    backup_id: BackupIdentifier,
    target_dir: Path,
    *,
    allow_unverified: bool,
    progress: RestoreProgress,
) -> Backup:
    claimed = await ctx.owner.check(writing=False)
    stored, integrity = await manifests.find_with_integrity(ctx, backup_id)
    manifest = restorable(backup_id, stored)
    assert stored is not None and manifest.descriptor is not None  # checked above
    records = integrity_of(stored, integrity)
    verification = _verification(ctx, stored, records, claimed, allow_unverified)
    total = sum(r.size for r in records.values()) if records is not None else None
    files = manifest.files()
    names = [entry.name for _, entry in files]
    target_dir = Path(target_dir)
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InvalidInputError(f"cannot restore into {target_dir}: {error.strerror}") from None
    check_restorable_names(target_dir, names)
    progress.started(backup_id, total, verification)
    # Short staging names: a long file name must not overflow NAME_MAX.
    staging = uuid4().hex[:12]
    in_flight = [target_dir / f".{staging}-{i}.restoring" for i in range(len(names))]
    items = [(f, e, path) for (f, e), path in zip(files, in_flight, strict=True)]
    await _write_all(ctx, stored, target_dir, items, records, progress)
    restored = [
        NamedFileSet({e.name: target_dir / e.name for f, e in files if f == file_set})
        for file_set in FILE_SETS
    ]
    return Backup(backup_id, manifest.descriptor, *restored)


async def _write_all(
    ctx: StoreContext,
    stored: StoredManifest,
    target_dir: Path,
    items: Sequence[Target],
    records: IntegrityRecord | None,
    progress: RestoreProgress,
) -> None:
    """Download every file under its staging name, check it, then publish them all."""
    in_flight = [path for _, _, path in items]
    names = [entry.name for _, entry, _ in items]
    published: builtins.list[Path] = []
    complete = False
    try:
        with FolderSync(target_dir) as sync:  # opened before the writes
            await ctx.batched(
                len(items),
                lambda i: _small_stored(records, items[i][0], items[i][1]),
                lambda batch: _download(ctx, stored, [items[i] for i in batch], records, progress),
            )
            await in_transfer_thread(lambda _stop: _publish(sync, in_flight, names, published))
        complete = True
    except OSError as error:
        for path in published:  # all or nothing
            path.unlink(missing_ok=True)
        if isinstance(error, BackupStoreError):
            raise
        raise RestoreTargetError(
            f"cannot write into {target_dir}: {error.strerror or error}"
        ) from None
    finally:
        if not complete:  # (once published, no staging name is left)
            for path in in_flight:
                path.unlink(missing_ok=True)


def _verification(
    ctx: StoreContext,
    stored: StoredManifest,
    records: IntegrityRecord | None,
    claimed: bool,
    allow_unverified: bool,
) -> Verification:
    """How the backup's bytes are checked; refused without a record at a claimed location
    unless ``allow_unverified``."""
    backup_id = stored.manifest.id
    if records is not None:
        return Verification.CHECKED
    if not claimed:
        log.info(
            "%s: backup %s was written by Zeebe: presence checks only", ctx.description, backup_id
        )
        return Verification.NOT_RECORDED
    missing = (
        f"backup {backup_id} has no integrity record tied to its manifest (missing, or "
        "left by an earlier backup of the same id), so its bytes cannot be checked"
    )
    if not allow_unverified:
        raise UnverifiedBackupError(
            f"{missing}; restoring it needs allow_unverified=True (CLI: --allow-unverified)",
            key=stored.layout.integrity_key(backup_id),
        )
    log.warning("%s: %s; restoring UNVERIFIED data, presence checks only", ctx.description, missing)
    return Verification.UNVERIFIED


def restorable(backup_id: BackupIdentifier, stored: StoredManifest | None) -> Manifest:
    """The manifest of a COMPLETED backup whose files can be restored flat."""
    status = stored.manifest.status_code if stored else BackupStatusCode.DOES_NOT_EXIST
    if stored is None or status is not BackupStatusCode.COMPLETED:
        raise InvalidBackupStateError(
            f"cannot restore backup {backup_id}: its status is {status.value}, not COMPLETED",
            status=status,
        )
    manifest = stored.manifest
    names = [entry.name for _, entry in manifest.files()]
    try:
        for name in names:
            check_file_name(name)
    except InvalidInputError as error:
        raise ManifestParseError(error.message, key=stored.key) from None
    if len(set(names)) != len(names):
        raise ManifestParseError("the manifest names one file twice", key=stored.key)
    if manifest.descriptor is None:
        raise ManifestParseError("a COMPLETED manifest has no descriptor", key=stored.key)
    return manifest


async def _download(
    ctx: StoreContext,
    stored: StoredManifest,
    batch: Sequence[Target],
    records: IntegrityRecord | None,
    progress: RestoreProgress,
) -> builtins.list[None]:
    """Restore ``(file set, entry, target)`` files and check each against its
    record; a batch of small ones through :meth:`ObjectIO.download_each`."""
    loop = asyncio.get_running_loop()

    def advanced(amount: int) -> None:  # (in the transfer thread)
        loop.call_soon_threadsafe(progress.advanced, amount)

    receivers = [_receiver(stored, *item, advanced) for item in batch]
    if len(receivers) == 1:
        [(key, write, _)] = receivers
        size = _plain_size(records, *batch[0][:2])
        if size is None:
            await ctx.io.download(key, write)
        else:  # the store may read it in parallel ranges, within the memory budget
            async with ctx.memory_budget.reserve(ctx.io.download_memory(size)):
                await ctx.io.download(key, write, size=size)
    else:
        await ctx.io.download_each([(key, write) for key, write, _ in receivers])
    if records is not None:
        for (file_set, entry, _), (key, _, digest) in zip(batch, receivers, strict=True):
            _check_restored(records, file_set, entry, key, digest)
    return [None] * len(batch)


def _receiver(
    stored: StoredManifest,
    file_set: str,
    entry: FileEntry,
    target: Path,
    advanced: Callable[[int], None],
) -> tuple[str, Callable[[Iterator[Chunk]], None], Digest]:
    """An object's key, what writes it to ``target`` (in the transfer thread:
    fetch, decompress, hash, write) and the digest of what it wrote."""
    key = stored.layout.file_key(stored.manifest.id, file_set, entry.name)
    check_compression(stored, entry)
    digest = Digest()

    def write(chunks: Iterator[Chunk]) -> None:
        if entry.compression == ZSTD:
            chunks = decompress(chunks, key=key)
        write_file(target, _counted(hashed(chunks, digest), advanced), sync=False)

    return key, write, digest


def _counted(chunks: Iterator[Chunk], advanced: Callable[[int], None]) -> Iterator[Chunk]:
    for chunk in chunks:
        yield chunk
        advanced(len(chunk))


def check_restorable_names(target_dir: Path, names: Sequence[str]) -> None:
    """Every name fits the target folder's filesystem (reading stays lenient: any
    name the folder can hold is restored, whatever wrote it)."""
    try:
        name_max = os.pathconf(target_dir, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = NAME_MAX
    for name in names:
        try:
            size = len(os.fsencode(name))
        except UnicodeEncodeError:
            raise RestoreTargetError(
                f"cannot restore {name!r} into {target_dir}: not a valid file name there"
            ) from None
        if size > name_max:
            raise RestoreTargetError(
                f"cannot restore {name!r} into {target_dir}: the name is {size} bytes, over "
                f"the folder's limit of {name_max} bytes per name"
            )


def _small_stored(records: IntegrityRecord | None, file_set: str, entry: FileEntry) -> bool:
    """Whether the record says the file is stored in at most :data:`SMALL_FILE` bytes
    (without a record, sizes are unknown: every file alone)."""
    size = _plain_size(records, file_set, entry)
    return size is not None and size <= SMALL_FILE


def _plain_size(records: IntegrityRecord | None, file_set: str, entry: FileEntry) -> int | None:
    """The stored size of a file stored plain, as its record says; None for a
    compressed file or one without a record."""
    record = None if records is None else records.get(record_name(file_set, entry.name))
    return record.stored_size if record is not None and entry.compression is None else None


def _check_restored(
    records: IntegrityRecord, file_set: str, entry: FileEntry, key: str, digest: Digest
) -> None:
    record = records.get(record_name(file_set, entry.name))
    if record is None:
        raise IntegrityError(f"no integrity record for {file_set}/{entry.name}", key=key)
    if (digest.size, digest.sha256) != (record.size, record.sha256):
        raise IntegrityError(
            f"{file_set}/{entry.name} does not match what was saved: "
            f"size {digest.size} (expected {record.size}), "
            f"sha256 {digest.sha256} (expected {record.sha256})",
            key=key,
        )


def _publish(
    sync: FolderSync, in_flight: Sequence[Path], names: Sequence[str], published: list[Path]
) -> None:
    """Give restored files their names once every one passed its checks. Blocking.

    The bytes are made durable first (one ``syncfs``, the work of ``sync -f``),
    then the renames (one fsync of the folder): after a crash a name holds its
    whole file or is absent.
    """
    sync.sync(in_flight)
    for path, name in zip(in_flight, names, strict=True):
        path.replace(sync.folder / name)
        published.append(sync.folder / name)
    fsync_directory(sync.folder)

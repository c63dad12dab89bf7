"""Files made by copying a stored object inside the service instead of sending them.

Two kinds of object are copied: the same file of the latest earlier COMPLETED backup
of the partition in this store (an incremental save: :func:`find_source`), and a
file's object at another location the store's I/O reaches (a migration between two
base paths of one bucket, two containers of one account, two folders of one device:
:attr:`~backup_store.contract.inspectable.FileToStore.copy_from`). Either way a copy
is made only from an object whose integrity record names its identity, while it
still has it (checked before the copy, and after it unless the copy itself has that
identity), only when the copy has the recorded size, and for a local file only when
its SHA-256 is the recorded one; on any doubt, or when the copy fails, the caller
sends the file instead. A copy keeps the stored bytes and their compression; the
manifest entry says so.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from backup_store.contract.inspectable import (
    FileToStore,
    StoredCopy,
    StoredManifest,
    TransferCounters,
)
from backup_store.engine import manifests
from backup_store.engine.context import StoreContext
from backup_store.engine.inspect import integrity_of
from backup_store.engine.listing import manifest_keys
from backup_store.errors import BackupStoreError
from backup_store.format.integrity import (
    IDENTITY_FORMAT,
    FileRecord,
    IntegrityRecord,
    StoredIdentity,
    record_name,
)
from backup_store.format.manifest import FileEntry
from backup_store.io import ObjectMeta
from backup_store.model import BackupIdentifier, BackupIdentifierWildcard, BackupStatusCode
from backup_store.transfer.files import Digest, hashed, read_file

log = logging.getLogger(__name__)

SOURCE_CANDIDATES = 3
"""Earlier backups (latest first) looked at for one to copy unchanged files from."""

Stored = tuple[FileRecord, FileEntry]
"""A stored file's integrity record and manifest entry."""


@dataclass(frozen=True)
class Source:
    """An earlier COMPLETED backup of the partition whose objects a save may copy:
    its manifest, its integrity record (naming its objects' identities) and its
    manifest entries by record name."""

    stored: StoredManifest
    record: IntegrityRecord
    entries: dict[str, FileEntry]

    def copy_of(self, ctx: StoreContext, file: FileToStore) -> StoredCopy | None:
        """This backup's object of the local ``file``, where its record names the same
        size and an identity."""
        name = record_name(file.file_set, file.name)
        recorded, entry = self.record.get(name), self.entries.get(name)
        if file.local_path is None or recorded is None or entry is None:
            return None
        if recorded.size != file.size or recorded.identity is None:
            return None
        key = self.stored.layout.file_key(self.stored.manifest.id, file.file_set, file.name)
        return StoredCopy(key, recorded, entry, partial(ctx.io.head, key))


def copies_on(ctx: StoreContext) -> bool:
    """Whether this store's writes copy objects inside the service at all."""
    return ctx.incremental and ctx.io.capabilities.server_side_copy


async def find_source(ctx: StoreContext, backup_id: BackupIdentifier) -> Source | None:
    """The latest earlier backup of the partition (same node) that a save may copy
    from: COMPLETED, readable, with an integrity record of its manifest that names
    its objects' identities (one saved with ``incremental`` off names none). None
    where the seam cannot copy or incremental saves are off."""
    if not copies_on(ctx):
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
        if not any(r.identity is not None for r in record.values()):
            continue  # saved with copies off: an earlier backup may still serve
        entries = {
            record_name(file_set, entry.name): entry for file_set, entry in stored.manifest.files()
        }
        return Source(stored, record, entries)
    return None


def copy_candidates(
    ctx: StoreContext, files: Sequence[FileToStore], source: Source | None
) -> dict[int, StoredCopy]:
    """The files (by index) that may be made by a copy, with the object of each: one
    this store's copies reach, of the file's size, stored in a form the manifest can
    record, at a size the seam can copy (a local file's SHA-256 decides when it is
    stored)."""
    if not copies_on(ctx):
        return {}
    reach = ctx.io.reach()
    capabilities = ctx.io.capabilities
    candidates = {}
    for i, file in enumerate(files):
        found = file.copy_from or (source.copy_of(ctx, file) if source is not None else None)
        if (
            found is not None
            and (found.reach is None or (reach is not None and found.reach.scope == reach.scope))
            and found.record.size == file.size
            and (found.entry.compression is None or ctx.format.records_compression)
            and capabilities.can_copy(found.record.stored_size, customer_key=ctx.io.customer_key)
        ):
            candidates[i] = found
    return candidates


async def copy_file(
    ctx: StoreContext, key: str, file: FileToStore, found: StoredCopy, tally: TransferCounters
) -> Stored | None:
    """The file made at ``key`` by copying ``found``: its record and entry; None when
    it must be sent instead (a local file whose SHA-256 is not the recorded one, an
    object not the one recorded before or after the copy, a copy not of its size, or
    a copy that failed)."""
    recorded = found.record
    if file.local_path is not None:
        digest, unchanged = await asyncio.gather(_hash_local(file), _unchanged(found))
        unchanged = unchanged and (digest.size, digest.sha256) == (file.size, recorded.sha256)
    else:
        unchanged = await _unchanged(found)
    if not unchanged:
        return None
    location = found.reach.location if found.reach is not None else None
    try:
        await ctx.io.copy(found.key, key, source_location=location)
        copied = await ctx.io.head(key)
        if copied is None or copied.size != recorded.stored_size:
            return None
        # A copy with the recorded e-tag holds the recorded object (S3's and GCS's
        # e-tag of a one-part object is its MD5, a hard link has the source's inode);
        # any other (Azure's are new per blob) is trusted only if the source is unchanged.
        if not (_is_recorded(copied, found) or await _unchanged(found)):
            return None
    except BackupStoreError:
        return None  # the source deleted meanwhile, or a copy refused
    tally.files_copied += 1
    tally.bytes_copied += recorded.stored_size
    identity = identity_of(copied, recorded.stored_size)
    return FileRecord(file.size, recorded.sha256, recorded.stored_size, identity), found.entry


async def _hash_local(file: FileToStore) -> Digest:
    assert file.local_path is not None  # only local files are hashed here
    path = file.local_path

    def digest() -> Digest:
        found = Digest()
        for _chunk in hashed(read_file(path, file.size), found):
            pass
        return found

    return await asyncio.to_thread(digest)


async def _unchanged(found: StoredCopy) -> bool:
    """Whether the object still has the identity its record names."""
    return _is_recorded(await found.stat(), found)


def _is_recorded(meta: ObjectMeta | None, found: StoredCopy) -> bool:
    """Whether ``meta`` names the identity (e-tag and size) recorded for ``found``."""
    identity = found.record.identity
    assert identity is not None  # only records with identities are copied
    return (
        meta is not None
        and meta.e_tag == identity.e_tag
        and meta.size == identity.size == found.record.stored_size
    )


async def with_identities(
    ctx: StoreContext, keys: Sequence[str], stored: builtins.list[Stored]
) -> builtins.list[Stored]:
    """The records with their objects' identities, as the store reports them now that
    they are durable (a copy's came with it): what a later copy checks first."""
    unknown = [i for i, (record, _) in enumerate(stored) if record.identity is None]
    found = await ctx.bounded([partial(ctx.io.head, keys[i]) for i in unknown])
    named = list(stored)
    for i, meta in zip(unknown, found, strict=True):
        record, entry = stored[i]
        identity = identity_of(meta, record.stored_size)
        named[i] = (FileRecord(record.size, record.sha256, record.stored_size, identity), entry)
    return named


def identity_of(meta: ObjectMeta | None, stored_size: int) -> StoredIdentity | None:
    """An object's identity, when the store names one and the object has the size stored."""
    if meta is None or not meta.e_tag or meta.size != stored_size:
        return None
    return StoredIdentity(meta.e_tag, meta.size)

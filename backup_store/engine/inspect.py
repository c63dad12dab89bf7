"""What tools read through the contract: integrity records, the keys and bytes of a
backup's files, the location's marker; each read as stored, nothing changed."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator

from backup_store.contract.inspectable import StoredManifest
from backup_store.engine.context import StoreContext
from backup_store.errors import IntegrityError, ManifestParseError
from backup_store.format.integrity import IntegrityRecord, decode_record
from backup_store.format.manifest import ZSTD, FileEntry
from backup_store.io import StoredObject
from backup_store.model import BackupIdentifier
from backup_store.transfer.zstd import decompress_zstd


async def read_integrity(ctx: StoreContext, stored: StoredManifest) -> IntegrityRecord | None:
    key = stored.layout.integrity_key(stored.manifest.id)
    return integrity_of(stored, await ctx.io.get(key))


def integrity_of(stored: StoredManifest, found: StoredObject | None) -> IntegrityRecord | None:
    """The integrity record read at ``stored``'s layout, if it belongs to its manifest."""
    if found is None:
        return None
    try:
        record = decode_record(found.data)
    except IntegrityError as error:
        raise error.with_context(key=stored.layout.integrity_key(stored.manifest.id)) from None
    # Left by an earlier backup of the id (Zeebe's delete keeps it): never applied.
    return record if record.belongs_to(stored.manifest) else None


async def has_manifest(ctx: StoreContext, backup_id: BackupIdentifier) -> bool:
    for layout in ctx.read_layouts():
        if await ctx.io.head(layout.manifest_key(backup_id)) is not None:
            return True
    return False


async def backup_keys(ctx: StoreContext, stored: StoredManifest) -> builtins.list[str]:
    keys = await ctx.io.list_keys(stored.layout.contents_prefix(stored.manifest.id))
    return [key for key in keys if key != stored.key]


def file_key(stored: StoredManifest, file_set: str, entry: FileEntry) -> str:
    return stored.layout.file_key(stored.manifest.id, file_set, entry.name)


async def open_file(
    ctx: StoreContext, stored: StoredManifest, file_set: str, entry: FileEntry
) -> AsyncIterator[bytes]:
    key = file_key(stored, file_set, entry)
    check_compression(stored, entry)
    chunks = ctx.io.stream(key)
    if entry.compression == ZSTD:
        chunks = decompress_zstd(chunks, key=key)
    async for chunk in chunks:
        yield chunk


def check_compression(stored: StoredManifest, entry: FileEntry) -> None:
    if entry.compression not in (None, ZSTD):
        raise ManifestParseError(
            f"unknown compression {entry.compression!r} of {entry.name}", key=stored.key
        )

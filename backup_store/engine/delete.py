"""Delete and mark failed: the verbs that end a backup.

Delete holds the manifest key from start to end (``store-format.md`` §5):

1. claim: make the manifest FAILED in every layout the store reads (create-only
   where none exists, version-matched where one does), so a save starting now fails
   as "already exists"; a Zeebe 8.9+ DELETED tombstone is such a claim already and is
   kept as it is;
2. remove every other object of the backup (data, leftovers, our record), and its
   catalog entries;
3. remove the manifests last, each only while it is still the FAILED (or DELETED) one held.

A crash leaves a FAILED or DELETED manifest or nothing; a second delete finishes.
"""

from __future__ import annotations

import builtins

from backup_store.contract.store import DELETING_REASON
from backup_store.engine import manifests
from backup_store.engine.context import StoreContext
from backup_store.errors import InvalidBackupStateError
from backup_store.format.instant import Instant
from backup_store.format.keys import KeyLayout
from backup_store.format.manifest import Manifest
from backup_store.model import BackupIdentifier, BackupStatusCode

CONCURRENT_DELETE_REASON = "Files of the backup were removed by a concurrent delete."


# Manifests that only ever change by being deleted: FAILED, and Zeebe 8.9+'s DELETED tombstone
# (which a delete holds as it holds its own FAILED claim).
_CLAIMED = (BackupStatusCode.FAILED, BackupStatusCode.DELETED)


async def mark_failed(ctx: StoreContext, backup_id: BackupIdentifier, reason: str) -> None:
    """The backup's manifest FAILED with ``reason`` (created so when there is none);
    one already FAILED or DELETED is left as it is."""
    key = ctx.write_layout(None).manifest_key(backup_id)

    async def attempt() -> None:
        stored = await manifests.find(ctx, backup_id)
        if stored is None:
            layout = ctx.write_layout(None)
            manifest = Manifest.failed_never_saved(backup_id, reason, Instant.now())
            version = await manifests.put_new(ctx, layout, manifest)
            await manifests.record(ctx, layout.manifest_key(backup_id), version, manifest)
        elif stored.manifest.status_code not in _CLAIMED:
            failed = stored.manifest.failed(reason, Instant.now())
            version = await manifests.swap(ctx, stored, failed)
            await manifests.record(ctx, stored.key, version, failed)

    await manifests.settle(backup_id, "marked failed", key, attempt)


async def delete(ctx: StoreContext, backup_id: BackupIdentifier) -> None:
    layouts = ctx.read_layouts()
    # Refuse before writing anything where the backup is IN_PROGRESS.
    for layout in layouts:
        stored = await manifests.read_at(ctx, layout, backup_id, check_id=False)
        if stored is not None:
            _refuse_if_in_progress(stored.manifest, stored.key)
    created: builtins.list[str] = []
    try:
        for layout in layouts:
            if await _claim(ctx, layout, backup_id):
                created.append(layout.manifest_key(backup_id))
    except InvalidBackupStateError:
        # A save started in another layout meanwhile: give back what we created.
        await ctx.io.delete(created)
        raise
    keys = {layout.manifest_key(backup_id) for layout in layouts}
    for layout in layouts:
        found = await ctx.io.list_keys(layout.contents_prefix(backup_id))
        await ctx.io.delete([k for k in found if k not in keys])
    # Our own records go before the manifest too: the catalog's entries.
    await ctx.catalog.forget(keys, backup_id)
    held = [layout for layout in layouts if await _still_held(ctx, layout, backup_id)]
    await ctx.io.delete([layout.manifest_key(backup_id) for layout in held])


def _refuse_if_in_progress(manifest: Manifest, key: str) -> None:
    if manifest.status_code is BackupStatusCode.IN_PROGRESS:
        raise InvalidBackupStateError(
            f"backup {manifest.id} is IN_PROGRESS; mark it failed before deleting it",
            status=BackupStatusCode.IN_PROGRESS,
            key=key,
        )


async def _claim(ctx: StoreContext, layout: KeyLayout, backup_id: BackupIdentifier) -> bool:
    """Step 1 in one layout: the manifest is FAILED when this returns. Returns whether
    the manifest was created here (none existed)."""

    async def attempt() -> bool:
        stored = await manifests.read_at(ctx, layout, backup_id, check_id=False)
        if stored is None:
            claim = Manifest.failed_never_saved(backup_id, DELETING_REASON, Instant.now())
            await manifests.put_new(ctx, layout, claim)
            return True
        _refuse_if_in_progress(stored.manifest, stored.key)
        if stored.manifest.status_code not in _CLAIMED:
            failed = stored.manifest.failed(DELETING_REASON, Instant.now())
            await manifests.swap(ctx, stored, failed)
        return False  # a FAILED or DELETED manifest only ever changes by being deleted

    return await manifests.settle(backup_id, "deleted", layout.manifest_key(backup_id), attempt)


async def _still_held(ctx: StoreContext, layout: KeyLayout, backup_id: BackupIdentifier) -> bool:
    """Whether the manifest is still the FAILED one this delete holds.

    Only another delete removes a FAILED manifest; if one did while this one
    was removing files, a save may have started since and lost files to us:
    its manifest is then marked FAILED (and left in place), never COMPLETED.
    """

    async def attempt() -> bool:
        stored = await manifests.read_at(ctx, layout, backup_id, check_id=False)
        if stored is None:
            return False
        if stored.manifest.status_code in _CLAIMED:
            return True
        failed = stored.manifest.failed(CONCURRENT_DELETE_REASON, Instant.now())
        await manifests.swap(ctx, stored, failed)
        return False

    return await manifests.settle(backup_id, "deleted", layout.manifest_key(backup_id), attempt)

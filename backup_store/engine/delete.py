"""Delete and mark failed: the verbs that end a backup.

Delete holds the manifest key from start to end (``store-format.md`` §5, §7.1):

1. claim, in every layout the store reads: a manifest of a Zeebe 8.9+ backup is
   rewritten as Zeebe's DELETED tombstone, any other one as FAILED (version-matched;
   one already DELETED or FAILED stays); where none exists a FAILED one is created
   create-only. A save starting now fails as "already exists";
2. remove every other object of the backup (data, leftovers, our record), its
   catalog entries and the range markers of its checkpoint;
3. remove the manifests last, each only while it is still the claim held.

A crash leaves a FAILED or DELETED manifest or nothing; a second delete finishes.
"""

from __future__ import annotations

import builtins

from backup_store.contract.store import DELETING_REASON
from backup_store.engine import manifests
from backup_store.engine.context import StoreContext
from backup_store.errors import InvalidBackupStateError
from backup_store.format.instant import Instant
from backup_store.format.keys import (
    KeyLayout,
    parse_range_marker_key,
    range_marker_prefix,
    uses_zeebe_89_layout,
)
from backup_store.format.manifest import Manifest
from backup_store.model import BackupIdentifier, BackupIdentifierWildcard, BackupStatusCode

CONCURRENT_DELETE_REASON = "Files of the backup were removed by a concurrent delete."


# A delete's claims, which a save or mark-failed never changes: FAILED, and Zeebe 8.9+'s DELETED
# tombstone (into which a delete turns a FAILED manifest of an 8.9+ backup).
_CLAIMED = (BackupStatusCode.FAILED, BackupStatusCode.DELETED)


async def mark_failed(
    ctx: StoreContext, backup_id: BackupIdentifier, reason: str
) -> BackupStatusCode:
    """The backup's manifest FAILED with ``reason`` (created so when there is none);
    one already FAILED or DELETED is left as it is. Returns the status it has now."""
    key = ctx.write_layout(None).manifest_key(backup_id)

    async def attempt() -> BackupStatusCode:
        stored = await manifests.find(ctx, backup_id)
        if stored is None:
            layout = ctx.write_layout(None)
            manifest = Manifest.failed_never_saved(backup_id, reason, Instant.now())
            version = await manifests.put_new(ctx, layout, manifest)
            await manifests.record(ctx, layout.manifest_key(backup_id), version, manifest)
        elif stored.manifest.status_code in _CLAIMED:
            return stored.manifest.status_code
        else:
            failed = stored.manifest.failed(reason, Instant.now())
            version = await manifests.swap(ctx, stored, failed)
            await manifests.record(ctx, stored.key, version, failed)
        return BackupStatusCode.FAILED

    return await manifests.settle(backup_id, "marked failed", key, attempt)


async def delete(ctx: StoreContext, backup_id: BackupIdentifier) -> None:
    layouts = ctx.read_layouts()
    existing = [
        await manifests.read_at(ctx, layout, backup_id, check_id=False) for layout in layouts
    ]
    # Refuse before writing anything where the backup is IN_PROGRESS.
    for stored in existing:
        if stored is not None:
            _refuse_if_in_progress(stored.manifest, stored.key)
    # A Zeebe 8.9+ backup's manifest is claimed where it is, as that Zeebe leaves no other
    # manifest; otherwise every layout is claimed (a FAILED one created where none is).
    newer = any(stored is not None and _of_newer_broker(stored.manifest) for stored in existing)
    claimed = [
        layout
        for layout, stored in zip(layouts, existing, strict=True)
        if stored is not None or not newer
    ]
    created: builtins.list[str] = []
    try:
        for layout in claimed:
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
    await _remove_range_markers(ctx, backup_id)
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
        claim = _claim_of(stored.manifest, Instant.now())
        if claim is not stored.manifest:
            await manifests.swap(ctx, stored, claim)
        return False

    return await manifests.settle(backup_id, "deleted", layout.manifest_key(backup_id), attempt)


def _claim_of(manifest: Manifest, now: Instant) -> Manifest:
    """The manifest as a delete's claim: Zeebe 8.9+'s DELETED tombstone for a backup
    of such a broker, FAILED for any other; a DELETED one stays, and so does a FAILED
    one of an older (or unknown) broker."""
    if manifest.status_code is BackupStatusCode.DELETED:
        return manifest
    if _of_newer_broker(manifest):
        return manifest.deleted(now)
    return manifest.failed(DELETING_REASON, now)


def _of_newer_broker(manifest: Manifest) -> bool:
    """Whether the manifest is of a Zeebe 8.9+ backup (``store-format.md`` §7.1)."""
    descriptor = manifest.descriptor
    return descriptor is not None and uses_zeebe_89_layout(descriptor.broker_version)


async def _remove_range_markers(ctx: StoreContext, backup_id: BackupIdentifier) -> None:
    """The range markers of the backup's checkpoint (``[bp/]ranges/{p}/{c}.*``, left by
    some Zeebe 8.9 versions), once no other node's copy of the checkpoint remains:
    markers belong to the partition, and Zeebe's retention removes those of the
    checkpoints it deletes, one object each."""
    prefix = range_marker_prefix(ctx.base_path, backup_id.partition_id)
    markers = []
    for key in await ctx.io.list_keys(prefix):
        marker = parse_range_marker_key(key, ctx.base_path)
        if marker is not None and marker[1] == backup_id.checkpoint_id:
            markers.append(key)
    if not markers:
        return
    same_checkpoint = BackupIdentifierWildcard(
        partition_id=backup_id.partition_id, checkpoint=backup_id.checkpoint_id
    )
    for layout in ctx.read_layouts():
        for key in await ctx.io.list_keys(layout.list_prefix(same_checkpoint)):
            other = layout.parse_manifest_key(key)
            if other is not None and other != backup_id:
                return
    await ctx.io.delete(markers)


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

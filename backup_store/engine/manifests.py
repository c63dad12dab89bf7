"""The manifest steps every verb shares: find, decode, create, adopt, record, and
the one read-then-compare-and-swap loop by which a manifest changes state.

A manifest is only ever written create-only (it must not exist) or version-matched
(it must still be what was read): when another writer got there first, the step
reads again and decides again (:func:`settle`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from backup_store.catalog import normal_token
from backup_store.contract.inspectable import StoredManifest
from backup_store.engine.context import StoreContext
from backup_store.errors import (
    BackupAlreadyExistsError,
    InvalidBackupStateError,
    InvalidInputError,
    ManifestParseError,
    ObjectTooLargeError,
)
from backup_store.format.keys import KeyLayout
from backup_store.format.manifest import Manifest, WrongManifestFormError
from backup_store.io import ObjectVersion, StoredObject, WriteConflict, until_swapped
from backup_store.model import BackupIdentifier

T = TypeVar("T")

CHANGE_ATTEMPTS = 10
"""Times a manifest step reads and decides again after losing a compare-and-swap."""


async def settle(
    backup_id: BackupIdentifier, what: str, key: str, attempt: Callable[[], Awaitable[T]]
) -> T:
    """``attempt`` (read the manifest at ``key``, decide, write it create-only or
    version-matched) again on every conflict; :class:`InvalidBackupStateError` naming
    the backup and key when it kept changing for :data:`CHANGE_ATTEMPTS` attempts."""
    return await until_swapped(
        attempt,
        attempts=CHANGE_ATTEMPTS,
        gave_up=lambda: InvalidBackupStateError(
            f"backup {backup_id} kept changing while it was {what}", key=key
        ),
    )


def decode(ctx: StoreContext, data: bytes, key: str) -> Manifest:
    try:
        return ctx.format.decode(data)
    except WrongManifestFormError as error:
        raise ctx.owner.foreign_form(error, key) from None
    except ManifestParseError as error:
        raise error.with_context(key=key) from None


def decode_at(ctx: StoreContext, data: bytes, key: str, backup_id: BackupIdentifier) -> Manifest:
    """The manifest at the key of ``backup_id``; one naming another backup is damaged."""
    manifest = decode(ctx, data, key)
    if manifest.id != backup_id:
        raise ManifestParseError(
            f"the manifest names backup {manifest.id}, not {backup_id} of its key", key=key
        )
    return manifest


async def get_manifest(ctx: StoreContext, key: str) -> StoredObject | None:
    """The manifest object at ``key``; :class:`ManifestParseError` (damaged) when it
    is too large to be one, and then not read."""
    try:
        return await ctx.io.get(key)
    except ObjectTooLargeError as error:
        raise ManifestParseError(f"not a manifest: {error.message}", key=key) from None


async def read_at(
    ctx: StoreContext, layout: KeyLayout, backup_id: BackupIdentifier, *, check_id: bool = True
) -> StoredManifest | None:
    """The backup's manifest in one layout, or None; with ``check_id``, one naming
    another backup is damaged (delete takes whatever holds the key)."""
    key = layout.manifest_key(backup_id)
    found = await get_manifest(ctx, key)
    if found is None:
        return None
    manifest = (
        decode_at(ctx, found.data, key, backup_id) if check_id else decode(ctx, found.data, key)
    )
    return StoredManifest(manifest, layout, key, found.version)


async def find(ctx: StoreContext, backup_id: BackupIdentifier) -> StoredManifest | None:
    """The backup's manifest in the first layout (in lookup order) that holds one."""
    for layout in ctx.read_layouts():
        stored = await read_at(ctx, layout, backup_id)
        if stored is not None:
            return stored
    return None


async def find_with_integrity(
    ctx: StoreContext, backup_id: BackupIdentifier
) -> tuple[StoredManifest | None, StoredObject | None]:
    """:func:`find`, and the integrity record beside the manifest found (not yet
    decoded), in one round trip: every read layout's manifest and record are requested
    at once (restore's fixed cost; the S3 classic layout is the second one looked in).
    The lookup order still decides which manifest is found, and only a failure a
    sequential lookup would have met is raised."""
    layouts = ctx.read_layouts()
    manifest_keys = [layout.manifest_key(backup_id) for layout in layouts]
    reads = [get_manifest(ctx, key) for key in manifest_keys]
    reads += [ctx.io.get(layout.integrity_key(backup_id)) for layout in layouts]
    results = await asyncio.gather(*reads, return_exceptions=True)
    for i, (layout, key) in enumerate(zip(layouts, manifest_keys, strict=True)):
        manifest, integrity = results[i], results[len(layouts) + i]
        if isinstance(manifest, BaseException):
            raise manifest
        if manifest is not None:
            if isinstance(integrity, BaseException):
                raise integrity
            decoded = decode_at(ctx, manifest.data, key, backup_id)
            return StoredManifest(decoded, layout, key, manifest.version), integrity
    return None, None


async def record(ctx: StoreContext, key: str, version: ObjectVersion, manifest: Manifest) -> None:
    """Writers keep the catalog: the manifest at ``key`` now has ``version``."""
    await ctx.catalog.record(key, normal_token(version.e_tag), manifest.to_status())


async def refuse_existing(
    ctx: StoreContext, layout: KeyLayout, backup_id: BackupIdentifier
) -> None:
    """:class:`BackupAlreadyExistsError` when the backup has a manifest in ``layout``."""
    key = layout.manifest_key(backup_id)
    found = await get_manifest(ctx, key)
    if found is not None:
        status = decode(ctx, found.data, key).status_code
        raise BackupAlreadyExistsError(
            f"backup {backup_id} already exists with status {status.value}",
            status=status,
            key=key,
        )


async def create(ctx: StoreContext, started: Manifest) -> StoredManifest:
    """Step 1 of the life cycle: the IN_PROGRESS manifest, only if none exists."""
    backup_id = started.id
    layout = ctx.write_layout(started.descriptor.broker_version if started.descriptor else None)
    for other in ctx.read_layouts():
        if other != layout:
            await refuse_existing(ctx, other, backup_id)
    key = layout.manifest_key(backup_id)
    try:
        version = await ctx.io.put(key, ctx.format.encode(started, layout), create_only=True)
    except WriteConflict:
        await refuse_existing(ctx, layout, backup_id)
        raise BackupAlreadyExistsError(
            f"backup {backup_id} was created concurrently by another writer", key=key
        ) from None
    return StoredManifest(started, layout, key, version)


async def adopt(ctx: StoreContext, accepted: StoredManifest, started: Manifest) -> StoredManifest:
    """Step 1 for an accepted backup: its IN_PROGRESS manifest, now with its files,
    in the layout chosen at acceptance, version-matched."""
    if accepted.manifest.id != started.id:
        raise InvalidInputError(f"the accepted manifest is of backup {accepted.manifest.id}")
    try:
        version = await ctx.io.replace(
            accepted.key, ctx.format.encode(started, accepted.layout), accepted.version
        )
    except WriteConflict:
        raise InvalidBackupStateError(
            f"backup {started.id} was marked failed or deleted after it was accepted",
            key=accepted.key,
        ) from None
    return StoredManifest(started, accepted.layout, accepted.key, version)


async def put_new(ctx: StoreContext, layout: KeyLayout, manifest: Manifest) -> ObjectVersion:
    """Write ``manifest`` create-only in ``layout`` (:class:`WriteConflict` when one exists)."""
    key = layout.manifest_key(manifest.id)
    return await ctx.io.put(key, ctx.format.encode(manifest, layout), create_only=True)


async def swap(ctx: StoreContext, stored: StoredManifest, changed: Manifest) -> ObjectVersion:
    """Rewrite ``stored`` as ``changed`` version-matched (:class:`WriteConflict` when it
    is no longer what was read)."""
    return await ctx.io.replace(
        stored.key, ctx.format.encode(changed, stored.layout), stored.version
    )

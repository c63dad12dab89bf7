"""Listing: which manifests a wildcard selects (from the keys), and their statuses
(from the listing catalog where its entry is of the listed version, else from the
manifest), for ``list``, ``scan_manifests``, ``list_partitions`` and the catalog's
rebuild."""

from __future__ import annotations

import builtins
from functools import partial

from backup_store.catalog import NO_SHARDS, CatalogEntry, Entries, normal_token
from backup_store.concurrency import both, run_bounded
from backup_store.contract.inspectable import DamagedManifest, ListedManifest, StoredManifest
from backup_store.engine import manifests
from backup_store.engine.context import StoreContext
from backup_store.errors import ManifestParseError
from backup_store.format.keys import Group, KeyLayout
from backup_store.io import ObjectMeta
from backup_store.model import BackupIdentifier, BackupIdentifierWildcard, BackupStatus

LIST_CONCURRENCY = 32
"""Manifests (small objects) read at once while listing."""
CATALOG_MIN_MANIFESTS = 2
"""A listing reads a (node, partition) catalog only for at least this many manifests:
fewer are cheaper to read one by one (the status of one id reads no catalog)."""

Listed = tuple[BackupStatus, tuple[str, CatalogEntry] | None]
"""A status, with the catalog entry it justifies (manifest key and entry)."""


async def manifest_keys(
    ctx: StoreContext, wildcard: BackupIdentifierWildcard
) -> dict[BackupIdentifier, tuple[KeyLayout, ObjectMeta]]:
    """The manifests ``wildcard`` selects, by id, from the keys alone; where a backup
    has a manifest in two layouts, the one of the lookup order."""
    layouts = ctx.read_layouts()
    prefixes = [layout.list_prefix(wildcard) for layout in layouts]
    # A prefix inside another one's listing (the S3 classic layout's ``bp/``
    # holds ``bp/manifests/``) is not listed twice; the others are listed at once.
    listed = [
        p
        for p in dict.fromkeys(prefixes)
        if not any(o != p and p.startswith(o) and o.endswith("/") for o in prefixes)
    ]
    listings = await run_bounded(
        [partial(objects_with_prefix, ctx, p) for p in listed], len(listed)
    )
    by_layout: dict[BackupIdentifier, tuple[int, KeyLayout, ObjectMeta]] = {}
    for objects in listings:
        for meta in objects:
            for rank, (layout, prefix) in enumerate(zip(layouts, prefixes, strict=True)):
                if not meta.key.startswith(prefix):
                    continue
                backup_id = layout.parse_manifest_key(meta.key)
                if backup_id is None or not wildcard.matches(backup_id):
                    continue
                known = by_layout.get(backup_id)
                if known is None or rank < known[0]:  # the lookup order wins
                    by_layout[backup_id] = (rank, layout, meta)
    return {i: (layout, meta) for i, (_, layout, meta) in by_layout.items()}


async def objects_with_prefix(ctx: StoreContext, prefix: str) -> builtins.list[ObjectMeta]:
    """Objects whose keys start with ``prefix``, which may end inside a path segment.

    Listings take whole path segments, so a checkpoint prefix such as
    ``.../1/10`` cannot be listed as such. Where listings are ordered, one
    listing of the folder starting after ``prefix`` (server-side where the
    service supports it: S3 ``start-after``) ends as soon as keys leave the
    prefix. Elsewhere the folder's sub-folders are listed first and then only
    the matching ones (never every object of the partition).
    """
    if prefix == "" or prefix.endswith("/"):
        return await _list_all(ctx, prefix)
    folder, _, _ = prefix.rpartition("/")
    if ctx.io.capabilities.ordered_listing:
        return await _ordered_objects_with_prefix(ctx, folder, prefix)
    listing = await ctx.io.list_with_delimiter(folder)
    objects = [m for m in listing.objects if m.key.startswith(prefix)]
    matching = [p for p in listing.prefixes if p.startswith(prefix)]
    for found in await ctx.bounded([partial(_list_all, ctx, p + "/") for p in matching]):
        objects.extend(found)
    return objects


async def _list_all(ctx: StoreContext, prefix: str) -> builtins.list[ObjectMeta]:
    return [meta async for page in ctx.io.list(prefix) for meta in page]


async def _ordered_objects_with_prefix(
    ctx: StoreContext, folder: str, prefix: str
) -> builtins.list[ObjectMeta]:
    objects: builtins.list[ObjectMeta] = []
    # Every key starting with ``prefix`` sorts after it (a key equal to it is
    # no manifest), so the listing starts there and stops at the first key past it.
    async for page in ctx.io.list(folder, offset=prefix):
        for meta in page:
            if meta.key.startswith(prefix):
                objects.append(meta)
            elif meta.key > prefix:
                return objects  # no further page is requested
    return objects


async def scan_manifests(
    ctx: StoreContext, wildcard: BackupIdentifierWildcard
) -> builtins.list[ListedManifest]:
    """Every manifest ``wildcard`` selects, read; a damaged one as :class:`DamagedManifest`."""
    found = await manifest_keys(ctx, wildcard)

    async def load(
        backup_id: BackupIdentifier, layout: KeyLayout, key: str
    ) -> ListedManifest | None:
        try:
            data = await manifests.get_manifest(ctx, key)
            if data is None:  # deleted while listing
                return None
            manifest = manifests.decode_at(ctx, data.data, key, backup_id)
        except ManifestParseError as error:
            return DamagedManifest(backup_id, layout, key, error)
        return StoredManifest(manifest, layout, key, data.version)

    results = await ctx.bounded(
        [partial(load, backup_id, layout, meta.key) for backup_id, (layout, meta) in found.items()]
    )
    return [r for r in results if r is not None]


async def list_partitions(ctx: StoreContext) -> builtins.list[int]:
    """Partition ids with any manifest, from one delimiter listing per layout."""
    partitions: set[int] = set()
    for layout in ctx.read_layouts():
        listing = await ctx.io.list_with_delimiter(layout.partitions_folder.rstrip("/"))
        for prefix in listing.prefixes:
            partition = layout.parse_partition_folder(prefix)
            if partition is not None:
                partitions.add(partition)
    return sorted(partitions)


async def rebuild_catalog(
    ctx: StoreContext, wildcard: BackupIdentifierWildcard, *, must_write: bool
) -> builtins.list[BackupStatus]:
    """List, then make the catalogs and taken-ids records say what was listed."""
    listed = await listed_statuses(ctx, wildcard, use_catalog=True, every_group=True)
    groups: dict[Group, Entries] = {}
    highest: dict[Group, BackupIdentifier] = {}
    for status, entry in listed:
        where = (status.id.node_id, status.id.partition_id)
        group = groups.setdefault(where, {})
        if entry is not None:
            group[entry[0]] = entry[1]
        if where not in highest or status.id.checkpoint_id > highest[where].checkpoint_id:
            highest[where] = status.id
    for (node_id, partition_id), entries in groups.items():
        await ctx.catalog.rebuild(node_id, partition_id, wildcard, entries, must_write=must_write)
    # Ids found count as taken, also those written before the record existed.
    for backup_id in highest.values():
        await ctx.catalog.record_taken(backup_id)
    return [s for s, _ in listed]


async def listed_statuses(
    ctx: StoreContext,
    wildcard: BackupIdentifierWildcard,
    *,
    use_catalog: bool = True,
    every_group: bool = False,
) -> builtins.list[Listed]:
    """Statuses of the listed manifests, with the catalog entry each justifies.

    A manifest's status comes from its (node, partition) catalog when the entry's
    token equals the listed one, else from the manifest itself. Catalogs are
    read only for groups of at least ``CATALOG_MIN_MANIFESTS`` manifests (or
    ``every_group``): one manifest is cheaper to read than a catalog.
    """
    if use_catalog:
        # Where the catalog's shards are is asked while the manifests are listed.
        found, index = await both(
            partial(manifest_keys, ctx, wildcard),
            partial(ctx.catalog.shard_index, wildcard),
        )
    else:
        found, index = await manifest_keys(ctx, wildcard), NO_SHARDS
    checkpoints: dict[Group, builtins.list[int]] = {}
    for backup_id in found:
        group = (backup_id.node_id, backup_id.partition_id)
        checkpoints.setdefault(group, []).append(backup_id.checkpoint_id)
    wanted = {
        g: c
        for g, c in checkpoints.items()
        if use_catalog and (every_group or len(c) >= CATALOG_MIN_MANIFESTS)
    }
    views = await ctx.catalog.read(index, wanted)
    results: dict[BackupIdentifier, Listed] = {}
    to_read: builtins.list[tuple[BackupIdentifier, KeyLayout, str]] = []
    for backup_id, (layout, meta) in found.items():
        view = views.get((backup_id.node_id, backup_id.partition_id))
        token = normal_token(meta.e_tag)
        entry = None
        if view is not None and token is not None:
            entry = view.entry(meta.key, token, backup_id)
        if entry is not None:
            results[backup_id] = (entry.status, (meta.key, entry))
            continue
        to_read.append((backup_id, layout, meta.key))
    for read_one in await run_bounded(
        [partial(_read_status, ctx, *where) for where in to_read], LIST_CONCURRENCY
    ):
        if read_one is not None:
            results[read_one[0].id] = read_one
    return [results[i] for i in found if i in results]


async def _read_status(
    ctx: StoreContext, backup_id: BackupIdentifier, layout: KeyLayout, key: str
) -> Listed | None:
    try:
        found = await manifests.get_manifest(ctx, key)
        if found is None:  # deleted while listing
            return None
        manifest = manifests.decode_at(ctx, found.data, key, backup_id)
    except ManifestParseError as error:
        # Damaged: only this entry says so; it is never cached.
        return DamagedManifest(backup_id, layout, key, error).to_status(), None
    status = manifest.to_status()
    token = normal_token(found.version.e_tag)
    return status, None if token is None else (key, CatalogEntry(token, status))

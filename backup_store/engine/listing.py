"""Listing: which manifests a wildcard selects (from the keys), and their statuses
(from the listing catalog where its entry is of the listed version, else from the
manifest), for ``list``, ``scan_manifests``, ``list_partitions`` and the catalog's
rebuild."""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Collection, Mapping
from functools import partial

from backup_store.catalog import NO_SHARDS, CatalogEntry, Entries, normal_token
from backup_store.concurrency import both, run_bounded
from backup_store.contract.inspectable import DamagedManifest, ListedManifest, StoredManifest
from backup_store.engine import manifests
from backup_store.engine.context import StoreContext
from backup_store.engine.runs import ListedChunks, ListingRun
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
    ctx: StoreContext, wildcard: BackupIdentifierWildcard, run: ListingRun | None = None
) -> dict[BackupIdentifier, tuple[KeyLayout, ObjectMeta]]:
    """The manifests ``wildcard`` selects, by id, from the keys alone; where a backup
    has a manifest in two layouts, the one of the lookup order. ``run`` records each
    ordered listing's chunks for the lists that join it (:mod:`.joined`)."""
    listed = listed_prefixes(ctx, wildcard)
    if run is not None:
        for prefix in listed:
            run.stream(prefix, ctx.io.capabilities.list_spill)
    listings = await run_bounded(
        [
            partial(objects_with_prefix, ctx, p, None if run is None else run.streams[p])
            for p in listed
        ],
        len(listed),
    )
    return select_manifests(ctx, wildcard, dict(zip(listed, listings, strict=True)))


def listed_prefixes(ctx: StoreContext, wildcard: BackupIdentifierWildcard) -> builtins.list[str]:
    """The key prefixes listed to find what ``wildcard`` selects, one per layout; a
    prefix inside another one's listing (the S3 classic layout's ``bp/`` holds
    ``bp/manifests/``) is not listed twice."""
    prefixes = [layout.list_prefix(wildcard) for layout in ctx.read_layouts()]
    return [
        p
        for p in dict.fromkeys(prefixes)
        if not any(o != p and p.startswith(o) and o.endswith("/") for o in prefixes)
    ]


def select_manifests(
    ctx: StoreContext,
    wildcard: BackupIdentifierWildcard,
    listings: Mapping[str, builtins.list[ObjectMeta]],
) -> dict[BackupIdentifier, tuple[KeyLayout, ObjectMeta]]:
    """The manifests among the objects listed (by prefix) that ``wildcard`` selects."""
    layouts = ctx.read_layouts()
    prefixes = [layout.list_prefix(wildcard) for layout in layouts]
    by_layout: dict[BackupIdentifier, tuple[int, KeyLayout, ObjectMeta]] = {}
    for objects in listings.values():
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


async def objects_with_prefix(
    ctx: StoreContext, prefix: str, chunks: ListedChunks | None = None
) -> builtins.list[ObjectMeta]:
    """Objects whose keys start with ``prefix``, which may end inside a path segment.

    Listings take whole path segments, so a checkpoint prefix such as
    ``.../1/10`` cannot be listed as such. Where listings are ordered, one
    listing of the folder starting after ``prefix`` (server-side where the
    service supports it: S3 ``start-after``) ends as soon as keys leave the
    prefix (``chunks`` records it). Elsewhere the folder's sub-folders are listed
    first and then only the matching ones (never every object of the partition).
    """
    if ctx.io.capabilities.ordered_listing:
        return await ordered_objects(ctx, prefix, chunks)
    if prefix == "" or prefix.endswith("/"):
        return await _list_all(ctx, prefix)
    folder, _, _ = prefix.rpartition("/")
    listing = await ctx.io.list_with_delimiter(folder)
    objects = [m for m in listing.objects if m.key.startswith(prefix)]
    matching = [p for p in listing.prefixes if p.startswith(prefix)]
    for found in await ctx.bounded([partial(_list_all, ctx, p + "/") for p in matching]):
        objects.extend(found)
    return objects


async def _list_all(ctx: StoreContext, prefix: str) -> builtins.list[ObjectMeta]:
    return [meta async for page in ctx.io.list(prefix) for meta in page]


async def ordered_objects(
    ctx: StoreContext,
    prefix: str,
    chunks: ListedChunks | None = None,
    reached: Callable[[str], Awaitable[bool]] | None = None,
) -> builtins.list[ObjectMeta]:
    """Objects whose keys start with ``prefix`` from one ordered listing, which stops
    at the first key past the prefix, or once ``reached(last key listed)``.

    Every key starting with ``prefix`` sorts after it (a key equal to it is no
    manifest), so a prefix that ends inside a segment is listed from there.
    """
    folder, offset = (prefix, None) if prefix == "" or prefix.endswith("/") else (
        prefix.rpartition("/")[0], prefix
    )  # fmt: skip
    objects: builtins.list[ObjectMeta] = []
    listing = ctx.io.list(folder, offset=offset)
    try:
        while True:
            if chunks is not None:
                chunks.started += 1
            chunk = await anext(listing, None)
            if not chunk:
                return objects
            matching = [meta for meta in chunk if meta.key.startswith(prefix)]
            objects.extend(matching)
            last = chunk[-1].key
            if chunks is not None:
                chunks.delivered(last, matching)
            if (last > prefix and not last.startswith(prefix)) or (
                reached is not None and await reached(last)
            ):
                return objects  # no further page is requested
    finally:
        if chunks is not None:
            chunks.end()
        await listing.aclose()  # type: ignore[attr-defined]


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
    groups = {(s.id.node_id, s.id.partition_id) for s, _ in listed}
    await _record(ctx, wildcard, listed, groups, must_write=must_write)
    highest: dict[Group, BackupIdentifier] = {}
    for status, _ in listed:
        where = (status.id.node_id, status.id.partition_id)
        if where not in highest or status.id.checkpoint_id > highest[where].checkpoint_id:
            highest[where] = status.id
    # Ids found count as taken, also those written before the record existed.
    for backup_id in highest.values():
        await ctx.catalog.record_taken(backup_id)
    return [s for s, _ in listed]


async def listed_and_recorded(
    ctx: StoreContext, wildcard: BackupIdentifierWildcard, run: ListingRun | None = None
) -> builtins.list[Listed]:
    """:func:`listed_statuses`; where this store writes the location (see
    :attr:`.OwnershipMarker.writing`) and manifests of a group had to be read (no
    catalog yet, or one removed), the group's catalog is written from what was
    listed, so that the next list reads the catalog instead. A store that only reads,
    and a location nobody claimed, are never written."""
    missed: dict[Group, int] = {}
    listed = await listed_statuses(ctx, wildcard, run=run, missed=missed)
    stale = {g for g, n in missed.items() if n >= CATALOG_MIN_MANIFESTS}
    if not stale or wildcard.exact_checkpoint is not None:
        return listed
    if ctx.owner.writing:
        await _record(ctx, wildcard, listed, stale, must_write=False)
    return listed


async def _record(
    ctx: StoreContext,
    wildcard: BackupIdentifierWildcard,
    listed: builtins.list[Listed],
    groups: Collection[Group],
    *,
    must_write: bool,
) -> None:
    """Make the catalogs of ``groups`` say what was listed of ``wildcard``."""
    entries: dict[Group, Entries] = {g: {} for g in groups}
    for status, entry in listed:
        group = entries.get((status.id.node_id, status.id.partition_id))
        if group is not None and entry is not None:
            group[entry[0]] = entry[1]
    for (node_id, partition_id), found in entries.items():
        await ctx.catalog.rebuild(node_id, partition_id, wildcard, found, must_write=must_write)


async def listed_statuses(
    ctx: StoreContext,
    wildcard: BackupIdentifierWildcard,
    *,
    use_catalog: bool = True,
    every_group: bool = False,
    run: ListingRun | None = None,
    missed: dict[Group, int] | None = None,
) -> builtins.list[Listed]:
    """Statuses of the listed manifests, with the catalog entry each justifies.

    A manifest's status comes from its (node, partition) catalog when the entry's
    token equals the listed one, else from the manifest itself (counted by group in
    ``missed``). Catalogs are read only for groups of at least
    ``CATALOG_MIN_MANIFESTS`` manifests (or ``every_group``): one manifest is
    cheaper to read than a catalog. ``run`` records the listings for the lists that
    join this one (:mod:`.joined`).
    """
    if use_catalog:
        # Where the catalog's shards are is asked while the manifests are listed.
        found, index = await both(
            partial(manifest_keys, ctx, wildcard, run),
            partial(ctx.catalog.shard_index, wildcard),
        )
    else:
        found, index = await manifest_keys(ctx, wildcard, run), NO_SHARDS
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

    def from_catalog(backup_id: BackupIdentifier, key: str, token: str) -> CatalogEntry | None:
        group = (backup_id.node_id, backup_id.partition_id)
        view = views.get(group)
        entry = None if view is None else view.entry(key, token, backup_id)
        if entry is None and missed is not None:
            missed[group] = missed.get(group, 0) + 1
        return entry

    return await statuses_of(ctx, found, from_catalog)


async def statuses_of(
    ctx: StoreContext,
    found: Mapping[BackupIdentifier, tuple[KeyLayout, ObjectMeta]],
    known: Callable[[BackupIdentifier, str, str], CatalogEntry | None],
) -> builtins.list[Listed]:
    """The status of each manifest found: ``known(id, key, listed token)`` where it
    knows that version of the manifest, else read (``LIST_CONCURRENCY`` at once)."""
    results: dict[BackupIdentifier, Listed] = {}
    to_read: builtins.list[tuple[BackupIdentifier, KeyLayout, str]] = []
    for backup_id, (layout, meta) in found.items():
        token = normal_token(meta.e_tag)
        entry = None if token is None else known(backup_id, meta.key, token)
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

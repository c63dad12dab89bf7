"""Writing the catalog: one shard read and written back compare-and-swap per
change, split when it grows past :data:`SHARD_ENTRIES`; never failing the verb.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from contextlib import suppress
from functools import partial

from backup_store.catalog.codec import (
    Bounds,
    CatalogEntry,
    RawEntries,
    checkpoint_of,
    encode_bounds,
    encode_catalog,
    encode_entry,
    in_range,
    merge_entries,
    owning_shard,
    split_shard,
    stored_entries,
)
from backup_store.catalog.reader import READ_CONCURRENCY, CatalogReader
from backup_store.concurrency import run_bounded
from backup_store.errors import BackupStoreError
from backup_store.format.keys import (
    Group,
    bounds_key,
    group_folder,
    legacy_catalog_key,
    parse_shard_key,
)
from backup_store.io import StoredObject, WriteConflict, until_swapped
from backup_store.model import (
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
)

log = logging.getLogger("backup_store.catalog")


UPDATE_ATTEMPTS = 20
"""Compare-and-swap attempts of one catalog update before giving up (logged)."""


class CatalogWriter(CatalogReader):
    """The catalog of one location as the store's writers keep it.

    Writers (save, mark failed, delete, the service's restart recovery and
    ``backup-store catalog rebuild``) read the bounds record, then the one shard a
    manifest falls in, and write it back compare-and-swap, retrying on conflict. A
    failed update never fails the verb: the next reader reads the manifest instead.
    """

    async def _until_written(
        self, what: str, attempt: Callable[[], Awaitable[None]], *, raising: bool = False
    ) -> None:
        """Run ``attempt`` (reads, a change and compare-and-swap writes) again on every
        :class:`WriteConflict`. When it cannot be done: logged, never raised (a
        catalog left behind is only slower), unless ``raising`` (an operator's
        rebuild must not say done when it was not)."""
        try:
            await until_swapped(
                attempt,
                attempts=UPDATE_ATTEMPTS,
                gave_up=lambda: BackupStoreError(f"{what} kept changing while it was rewritten"),
            )
        except BackupStoreError as error:
            if raising:
                raise
            log.warning("could not update %s: %s", what, error)

    async def update(
        self, backup_id: BackupIdentifier, change: Callable[[RawEntries], None]
    ) -> None:
        """Apply ``change`` to the entries as stored of the shard ``backup_id`` falls
        in and write the shard back compare-and-swap (split when it grows past
        :data:`SHARD_ENTRIES`), again on every conflict. A save costs the copy of one
        shard, whatever the number of backups of its partition.

        Never raises for the store's sake: a catalog left behind is only slower.
        """
        group = (backup_id.node_id, backup_id.partition_id)
        checkpoint = backup_id.checkpoint_id

        async def attempt() -> None:
            record, record_found = await self._read_bounds(group[1])
            bounds = record.get(group[0], [0])
            index = max(owning_shard(bounds, checkpoint), 0)
            bound = bounds[index]
            upper = bounds[index + 1] if index + 1 < len(bounds) else None
            found = await self.io.get(self._shard(group, bound))
            stored = stored_entries(found)
            # (What lies outside the range was copied by a split that stopped halfway.)
            entries = in_range(stored, bound, upper)
            change(entries)
            appended = all((checkpoint_of(r) or 0) <= checkpoint for r in entries.values())
            layout = split_shard(entries, bound, full=appended)
            await self._write(group, record, record_found, {bound: (found, stored)}, layout)

        await self._until_written(f"the catalog of {group}", attempt)

    async def rebuild(
        self,
        node_id: int,
        partition_id: int,
        scope: BackupIdentifierWildcard,
        found: Mapping[str, CatalogEntry],
        *,
        must_write: bool = True,
    ) -> None:
        """Make the group's shards say what a listing of ``scope`` found: entries of
        manifests in scope that were not found are dropped (damaged ones too), found
        ones set, and every shard laid out again (a version 1 catalog is removed).
        Raises when that cannot be done, unless not ``must_write`` (then logged)."""
        group = (node_id, partition_id)

        async def attempt() -> None:
            record, record_found = await self._read_bounds(partition_id)
            bounds = record.get(node_id, [0])
            read = await run_bounded(
                [partial(self.io.get, self._shard(group, b)) for b in bounds], READ_CONCURRENCY
            )
            current = {b: (f, stored_entries(f)) for b, f in zip(bounds, read, strict=True)}
            entries: RawEntries = {}
            for bound in bounds:  # ascending: where a split stopped halfway, the later wins
                entries.update(in_range(current[bound][1], 0, None))
            merge_entries(scope, found, entries)
            pieces: dict[int, RawEntries] = {b: {} for b in bounds}
            for key, raw in entries.items():
                pieces[bounds[max(owning_shard(bounds, checkpoint_of(raw) or 0), 0)]][key] = raw
            layout: dict[int, RawEntries] = {}
            for bound, piece in pieces.items():
                layout.update(split_shard(piece, bound, full=True))
            await self._write(group, record, record_found, current, layout)

        await self._until_written(f"the catalog of {group}", attempt, raising=must_write)
        with suppress(BackupStoreError):
            await self._remove_unnamed(group)

    async def _remove_unnamed(self, group: Group) -> None:
        """Remove the group's shards its bounds record does not name (left by writers
        that stopped halfway through a split; never read) and a version 1 catalog."""
        record, _ = await self._read_bounds(group[1])
        named = record.get(group[0], [0])
        folder = group_folder(self.base_path, *group)
        unnamed = [
            key
            for key in await self.io.list_keys(folder)
            if (parsed := parse_shard_key(key, self.folder)) is None or parsed[1] not in named
        ]
        await self.io.delete([legacy_catalog_key(self.base_path, *group), *unnamed])

    async def _write(
        self,
        group: Group,
        record: Bounds,
        record_found: StoredObject | None,
        current: Mapping[int, tuple[StoredObject | None, RawEntries | None]],
        layout: Mapping[int, RawEntries],
    ) -> None:
        """Make the group's shards hold ``layout`` (entries by bound) where the shards
        read held ``current`` (object and entries as stored, by bound). New shards
        first, then the bounds record, then the shards read (emptied ones deleted),
        so that a reader finds every entry at each step; :class:`WriteConflict` when
        the record or a shard read changed meanwhile."""
        node, partition = group
        old = record.get(node, [0])
        added = [b for b, entries in layout.items() if entries and b not in old]
        emptied = {b for b in current if not layout.get(b)} - {0}
        for bound in added:
            await self._create(self._shard(group, bound), layout[bound])
        bounds = sorted((set(old) - emptied) | set(added))
        if bounds != old:
            await self._write_bounds(partition, record, record_found, node, bounds)
        emptied_keys = []
        for bound, (found, stored) in current.items():
            key, entries = self._shard(group, bound), layout.get(bound, {})
            if entries == stored:
                continue
            if not entries:
                if found is not None:
                    emptied_keys.append(key)
            elif found is None:
                await self.io.put(key, encode_catalog(entries), create_only=True)
            else:
                await self.io.replace(key, encode_catalog(entries), found.version)
        # (A writer's entry added meanwhile to an emptied shard may go: only slower.)
        await self.io.delete(emptied_keys)

    async def _create(self, key: str, entries: RawEntries) -> None:
        """Write a new shard, not yet named by the bounds record."""
        try:
            await self.io.put(key, encode_catalog(entries), create_only=True)
        except WriteConflict:
            # Left by a writer that stopped halfway, or being written by one splitting
            # the same shard now: theirs are kept with ours.
            found = await self.io.get(key)
            if found is None:
                raise
            theirs = in_range(stored_entries(found), 0, None)
            await self.io.replace(key, encode_catalog({**theirs, **entries}), found.version)

    async def _write_bounds(
        self,
        partition_id: int,
        record: Bounds,
        found: StoredObject | None,
        node_id: int,
        bounds: list[int],
    ) -> None:
        changed = {**record, node_id: bounds}
        if bounds == [0]:
            del changed[node_id]  # (the default)
        key, data = bounds_key(self.base_path, partition_id), encode_bounds(changed)
        if found is None:
            await self.io.put(key, data, create_only=True)
        else:
            await self.io.replace(key, data, found.version)

    async def record(self, key: str, token: str | None, status: BackupStatus) -> None:
        """Record that the manifest at ``key`` now has ``token`` and ``status``."""

        def change(entries: RawEntries) -> None:
            if token is None:
                entries.pop(key, None)
            else:
                entries[key] = encode_entry(CatalogEntry(token, status))

        await self.update(status.id, change)

    async def forget(self, keys: Collection[str], backup_id: BackupIdentifier) -> None:
        """Drop the entries of a deleted backup's manifests (one shard update)."""

        def change(entries: RawEntries) -> None:
            for key in keys:
                entries.pop(key, None)

        await self.update(backup_id, change)

    # ------------------------------------------------------------ taken ids

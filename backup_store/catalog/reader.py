"""Reading the catalog: which shards a listing needs, read at once, kept in memory
while unchanged (bounded), damaged or oversized ones ignored (readers never write).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from functools import partial

from backup_store.catalog.codec import (
    Bounds,
    CatalogEntry,
    RawEntries,
    decode_bounds,
    decode_entry,
    normal_token,
    owning_shard,
    stored_entries,
)
from backup_store.concurrency import run_bounded
from backup_store.errors import BackupStoreError, ObjectTooLargeError
from backup_store.format.keys import Group, bounds_key, catalog_folder, parse_bounds_key, shard_key
from backup_store.io import ObjectIO, StoredObject
from backup_store.model import (
    BackupIdentifier,
    BackupIdentifierWildcard,
)

log = logging.getLogger("backup_store.catalog")


CACHED_ENTRIES = 250_000
"""At most this many catalog entries are kept in memory between listings (under
1 KB each once decoded): a long-lived store (``serve``) stays bounded however many
backups its location holds; shards beyond the bound are read again each time."""
READ_CONCURRENCY = 32
"""Shards read at once."""


class CatalogView:
    """One shard as read: its entries decoded one by one, when a listing asks for
    them (a prefix query uses a few entries of a shard), and kept decoded."""

    def __init__(self, raw: RawEntries) -> None:
        self._raw = raw
        self._decoded: dict[str, CatalogEntry | None] = {}

    def __len__(self) -> int:
        return len(self._raw)

    def entry(self, key: str, token: str, backup_id: BackupIdentifier) -> CatalogEntry | None:
        """The entry of the manifest at ``key`` when it was written for exactly the
        listed version (``token``) of the manifest of ``backup_id``; None when it was
        not, or is damaged (then the manifest is read)."""
        if key in self._decoded:
            entry = self._decoded[key]
        else:
            raw = self._raw.get(key)
            if raw is None:
                return None
            if not isinstance(raw, list) or not raw or raw[0] != token:
                return None  # another version of the manifest: not decoded at all
            try:
                entry = decode_entry(raw, backup_id)
            except (ValueError, KeyError, TypeError, BackupStoreError):
                entry = None  # only this entry is damaged: its manifest is read
            self._decoded[key] = entry
        if entry is None or entry.token != token or entry.status.id != backup_id:
            return None
        return entry


EMPTY = CatalogView({})


class GroupView:
    """The shards read of one (node, partition): an entry is looked up in the shard
    its checkpoint id falls in."""

    def __init__(self, shards: Mapping[int, CatalogView]) -> None:
        self._bounds = sorted(shards)
        self._views = [shards[bound] for bound in self._bounds]

    def entry(self, key: str, token: str, backup_id: BackupIdentifier) -> CatalogEntry | None:
        """As :meth:`CatalogView.entry`, from the shard ``backup_id`` falls in."""
        index = owning_shard(self._bounds, backup_id.checkpoint_id)
        return None if index < 0 else self._views[index].entry(key, token, backup_id)


@dataclass(frozen=True)
class ShardIndex:
    """Where the shards a listing may read are: each partition's bounds records, and,
    when the catalog folder was listed, each catalog object's token (a shard kept in
    memory is reused while its token is unchanged; one not listed does not exist).
    A shard not named by its bounds record (left by a writer that stopped halfway) is
    never read."""

    bounds: dict[int, Bounds] | None
    """Bounds by partition (a partition not named: one shard from 0); None: no shards."""
    tokens: dict[str, str | None] | None = None


NO_SHARDS = ShardIndex(None)


class CatalogReader:
    """The catalog of one location as listings read it, through its :class:`ObjectIO`."""

    def __init__(self, io: ObjectIO, base_path: str | None) -> None:
        self.io = io
        self.base_path = base_path
        self.folder = catalog_folder(base_path)
        self.cached_entries = CACHED_ENTRIES
        self._cached: dict[str, tuple[str, CatalogView]] = {}
        """Shards read, by key, with the token they were read at; at most
        :attr:`cached_entries` entries in all (:attr:`_held`)."""
        self._held = 0

    def _shard(self, group: Group, bound: int) -> str:
        return shard_key(self.base_path, group[0], group[1], bound)

    async def shard_index(self, wildcard: BackupIdentifierWildcard) -> ShardIndex:
        """Where the shards of what ``wildcard`` selects are, asked while the manifests
        are listed: for a checkpoint-prefix query of one partition, its bounds record
        (one small read: a prefix query needs a few shards); otherwise one listing of
        the catalog folder (also each shard's token) and the bounds records it holds."""
        partition = wildcard.partition_id
        if wildcard.exact_checkpoint is not None:
            return NO_SHARDS  # one manifest per group: cheaper to read than a shard
        if partition is not None and wildcard.checkpoint_prefix:
            return ShardIndex({partition: await self._bounds_or_none(partition)})
        tokens: dict[str, str | None] = {}
        async for page in self.io.list(self.folder):
            tokens.update((meta.key, normal_token(meta.e_tag)) for meta in page)
        for key in [k for k in self._cached if k not in tokens]:
            self._drop(key)  # gone from the store: not kept in memory either
        parsed = (parse_bounds_key(k, self.base_path) for k in tokens)
        recorded = sorted(p for p in parsed if p is not None)
        records = await run_bounded(
            [partial(self._bounds_or_none, p) for p in recorded], READ_CONCURRENCY
        )
        return ShardIndex(dict(zip(recorded, records, strict=True)), tokens)

    async def _bounds_or_none(self, partition_id: int) -> Bounds:
        """A partition's bounds as a reader takes them: none (one shard from 0) when
        the record cannot be read."""
        bounds, _ = await self._read_bounds(partition_id, self._get_as_reader)
        return bounds

    async def _get_as_reader(self, key: str) -> StoredObject | None:
        """A catalog object as readers take it: one too large to be ours is ignored
        (logged) as if missing. Writers get the error instead and leave the catalog
        as it is (only slower) rather than overwrite what they could not read."""
        try:
            return await self.io.get(key)
        except ObjectTooLargeError as error:
            log.warning("ignoring a catalog object: %s", error)
            return None

    async def read(
        self, index: ShardIndex, wanted: Mapping[Group, Collection[int]]
    ) -> dict[Group, GroupView]:
        """The shards that the listed checkpoint ids of each group fall in.

        A shard read before and unchanged since (its token, from the listing) is not
        read again. Even a stale shard could never make an answer wrong: an entry is
        used only for the manifest version it was written for.
        """
        if index.bounds is None:
            return {}
        jobs: dict[str, tuple[Group, int]] = {}
        for group, checkpoints in wanted.items():
            bounds = index.bounds.get(group[1], {}).get(group[0], [0])
            if len(checkpoints) > 8 * len(bounds):
                needed = bounds  # (a list of everything: every shard, no search)
            else:
                owners = (owning_shard(bounds, c) for c in checkpoints)
                needed = sorted({bounds[i] for i in owners if i >= 0})
            for bound in needed:
                key = self._shard(group, bound)
                if index.tokens is None or key in index.tokens:
                    jobs[key] = (group, bound)
        keys = list(jobs)
        tokens = index.tokens or {}
        views = await run_bounded(
            [partial(self._read_shard, key, tokens.get(key)) for key in keys], READ_CONCURRENCY
        )
        by_group: dict[Group, dict[int, CatalogView]] = {}
        for key, view in zip(keys, views, strict=True):
            group, bound = jobs[key]
            by_group.setdefault(group, {})[bound] = view
        return {group: GroupView(shards) for group, shards in by_group.items()}

    async def _read_shard(self, key: str, token: str | None) -> CatalogView:
        cached = self._cached.get(key)
        if cached is not None and token is not None and cached[0] == token:
            return cached[1]
        found = await self._get_as_reader(key)
        entries = stored_entries(found)
        if found is None or entries is None:
            if found is not None:
                log.warning("ignoring the damaged catalog shard %s", key)
            self._drop(key)
            return EMPTY
        view = CatalogView(entries)
        found_token = normal_token(found.version.e_tag)
        if found_token is not None:
            self._keep(key, found_token, view)
        return view

    def _keep(self, key: str, token: str, view: CatalogView) -> None:
        """Cache a shard just read if it fits under the bound. What is cached stays
        (dropped only when it changes): a listing reads the same shards each time,
        and evicting one to make room would only have it read again next time."""
        self._drop(key)
        if self._held + len(view) <= self.cached_entries:
            self._cached[key] = (token, view)
            self._held += len(view)

    def _drop(self, key: str) -> None:
        dropped = self._cached.pop(key, None)
        if dropped is not None:
            self._held -= len(dropped[1])

    async def _read_bounds(
        self,
        partition_id: int,
        get: Callable[[str], Awaitable[StoredObject | None]] | None = None,
    ) -> tuple[Bounds, StoredObject | None]:
        """A partition's bounds record (each node's bounds; a node not named has the
        one shard from 0), with the object read (None when missing), read by ``get``
        (default: the store's)."""
        key = bounds_key(self.base_path, partition_id)
        found = await (get or self.io.get)(key)
        if found is None:
            return {}, None
        try:
            return decode_bounds(found.data), found
        except (ValueError, KeyError, TypeError) as error:
            log.warning("ignoring the damaged bounds record %s: %s", key, error)
            return {}, found

"""The listing catalog: what each manifest said when our writers last wrote it.

Listing backups needs each manifest's status, and reading every manifest costs
one request per backup. The catalog keeps, for each manifest key, the manifest's
listing token (its e-tag, or on the filesystem its inode, nanosecond mtime and
size) and the fields :class:`BackupStatus` shows.

The manifest stays the only truth. A reader lists the manifest keys (listings
carry the tokens), reads the catalog shards those manifests fall in, and uses an
entry only when its token equals the listed one; any other manifest (no entry,
another token: written, rewritten or replaced by Zeebe, another node or a person)
is read. A shard that is missing or unreadable is ignored, never trusted. Readers
never write.

**Shards.** The entries of one (node, partition) are split by checkpoint id into
shards of at most :data:`SHARD_ENTRIES` entries, so that what a writer reads and
rewrites stays the same size however many backups the partition holds. A shard is
named by its lower bound and holds the entries from that checkpoint id up to the
next shard's bound; the first bound is 0. Each partition's bounds, by node, are in
one small *bounds record* beside the shards, rewritten only when a shard is split
off (every :data:`SHARD_ENTRIES` saves) or emptied.

Writers (save, mark failed, delete, the service's restart recovery and
``backup-store catalog rebuild``) read the bounds record, then the one shard a
manifest falls in, and write it back compare-and-swap (create-only when absent,
version-matched otherwise), retrying on conflict, so concurrent writers lose no
entry (but for one narrow race with a split, documented there: then a manifest is
read until it is next written). A shard that would grow past the bound is split:
the new shard is written first, then the bounds record names it, then the old
shard drops what moved, so a reader never misses an entry that was written. A
failed catalog update never fails the verb: the next reader reads the manifest
instead.

Where, under ``<base path>/.backup-store-catalog/`` (outside ``manifests/``,
``contents/``, the classic ``<partition>/`` folders and ``index/``; documented in
``docs/on-store-format.md``): shards at ``<node>/<partition>/<bound>.json``, the
bounds records at ``shards/<partition>.json``.

Beside them, one small record per partition, ``taken/<partition>.json``, keeps the
highest backup id each node's service accepted: the backup service checks a new id
against it (one read, whatever the store holds) instead of listing the partition.
It only ever grows (compare-and-swap like the catalogs) and is an extra: the
partition sources are the truth about which ids were taken.
"""

from __future__ import annotations

import json
import logging
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import Any

from backup_store.concurrency import run_bounded
from backup_store.errors import BackupStoreError, ObjectTooLargeError
from backup_store.format.instant import Instant
from backup_store.io import ObjectIO, StoredObject, WriteConflict
from backup_store.model import (
    BackupDescriptor,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
    BackupStatusCode,
)

log = logging.getLogger("backup_store.catalog")

CATALOG_FOLDER = ".backup-store-catalog"
CATALOG_VERSION = 2
"""Version 1 was one object per (node, partition), ``<node>/<partition>.json``: no
longer read, and removed by a rebuild."""
BOUNDS_FOLDER = "shards"
TAKEN_FOLDER = "taken"
TAKEN_VERSION = 1
SHARD_ENTRIES = 500
"""At most this many entries in one shard (about 80 KB) before it is split."""
UPDATE_ATTEMPTS = 20
"""Compare-and-swap attempts of one catalog update before giving up (logged)."""
CACHED_ENTRIES = 250_000
"""At most this many catalog entries are kept in memory between listings (under
1 KB each once decoded): a long-lived store (``serve``) stays bounded however many
backups its location holds; shards beyond the bound are read again each time."""
ENTRY_FIELDS = 9
"""An entry as stored: token, node, partition, checkpoint, status, descriptor (snapshot
id, checkpoint position, number of partitions, broker version; or null), failure
reason, created and last modified (nanoseconds since the epoch)."""
READ_CONCURRENCY = 32
"""Shards read at once."""

Group = tuple[int, int]
"""(node id, partition id)."""


def catalog_folder(base_path: str | None) -> str:
    """The folder of every catalog object of a location."""
    return f"{base_path}/{CATALOG_FOLDER}/" if base_path else f"{CATALOG_FOLDER}/"


def shard_key(base_path: str | None, node_id: int, partition_id: int, bound: int) -> str:
    """The catalog shard of one node's backups of one partition from checkpoint ``bound``."""
    return f"{catalog_folder(base_path)}{node_id}/{partition_id}/{bound}.json"


def bounds_key(base_path: str | None, partition_id: int) -> str:
    """The record of each node's shard bounds for one partition."""
    return f"{catalog_folder(base_path)}{BOUNDS_FOLDER}/{partition_id}.json"


def legacy_catalog_key(base_path: str | None, node_id: int, partition_id: int) -> str:
    """Where version 1 kept one node's whole catalog of a partition."""
    return f"{catalog_folder(base_path)}{node_id}/{partition_id}.json"


def taken_key(base_path: str | None, partition_id: int) -> str:
    """The record of the highest backup id each node's service accepted for a partition."""
    return f"{catalog_folder(base_path)}{TAKEN_FOLDER}/{partition_id}.json"


def _number(text: str) -> int | None:
    """A canonical decimal number (no sign, no leading zero), or None."""
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        return None
    return int(text)


def parse_shard_key(key: str, folder: str) -> tuple[Group, int] | None:
    """The group and bound of a shard key under ``folder`` (:func:`catalog_folder`)."""
    if not key.startswith(folder) or not key.endswith(".json"):
        return None
    parts = key[len(folder) : -len(".json")].split("/")
    if len(parts) != 3:
        return None
    node, partition, bound = (_number(p) for p in parts)
    if node is None or partition is None or bound is None:
        return None
    return (node, partition), bound


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One manifest as last written by us: its listing token and its status."""

    token: str
    status: BackupStatus


Entries = dict[str, CatalogEntry]
"""Catalog entries by manifest key."""
RawEntries = dict[str, Any]
"""Catalog entries by manifest key as stored, decoded one by one when used."""
Highest = dict[int, int]
"""The highest backup id accepted, by node id."""
Bounds = dict[int, list[int]]
"""Each node's shard bounds (ascending, from 0) in one partition."""


def encode_catalog(entries: RawEntries) -> bytes:
    """A shard of entries as stored (see :func:`raw_entries`), in key order."""
    body = {"version": CATALOG_VERSION, "entries": {k: entries[k] for k in sorted(entries)}}
    return json.dumps(body, separators=(",", ":")).encode()


def _json_field(data: bytes, version: int, field: str) -> dict[str, Any]:
    """The object ``field`` of a catalog object of ``version``, as parsed; ValueError
    (or TypeError) for any other shape (another program may have written it)."""
    try:
        body = json.loads(data)
    except RecursionError:
        raise ValueError("a catalog object nested too deeply") from None
    if not isinstance(body, dict) or body.get("version") != version:
        found = body.get("version") if isinstance(body, dict) else type(body).__name__
        raise ValueError(f"not a catalog object of version {version}: {found!r}")
    inner = body.get(field)
    if not isinstance(inner, dict):
        raise TypeError(f"a catalog object's {field!r} is not an object")
    return inner


def raw_entries(data: bytes) -> RawEntries:
    """A shard's entries by manifest key, not yet decoded; ValueError (or KeyError,
    TypeError) when the shard as a whole is damaged."""
    return _json_field(data, CATALOG_VERSION, "entries")


def decode_catalog(data: bytes) -> Entries:
    """The entries of a shard; ValueError (or KeyError, TypeError) when damaged."""
    return {key: _decode_entry(raw) for key, raw in raw_entries(data).items()}


def _checkpoint(raw: Any) -> int | None:
    """The checkpoint id of an entry as stored, or None when it is not shaped like one
    (a cheap check; readers refuse any other damage entry by entry)."""
    if not isinstance(raw, list) or len(raw) != ENTRY_FIELDS or not isinstance(raw[0], str):
        return None
    checkpoint = raw[3]
    return checkpoint if type(checkpoint) is int else None


def _stored(found: StoredObject | None) -> RawEntries | None:
    """A shard's entries as stored; None when it is missing or damaged."""
    if found is None:
        return None
    try:
        return raw_entries(found.data)
    except (ValueError, KeyError, TypeError):
        return None


def _in_range(entries: RawEntries | None, low: int, high: int | None) -> RawEntries:
    """The entries shaped like one whose checkpoint is in ``[low, high)``."""
    kept: RawEntries = {}
    for key, raw in (entries or {}).items():
        checkpoint = _checkpoint(raw)
        if checkpoint is not None and low <= checkpoint and (high is None or checkpoint < high):
            kept[key] = raw
    return kept


def _owner(bounds: Sequence[int], checkpoint: int) -> int:
    """The index of the shard (among ascending ``bounds``) holding ``checkpoint``; -1
    when it is below them all."""
    return bisect_right(bounds, checkpoint) - 1


def split_shard(entries: RawEntries, bound: int, *, full: bool) -> dict[int, RawEntries]:
    """One shard's entries laid out in shards of at most :data:`SHARD_ENTRIES`, by
    bound (``bound`` always among them, maybe empty); one checkpoint's entries are
    never split. ``full``: full shards and a short last one (appends of new highest
    ids, rebuilds); otherwise halves (an id inserted below others)."""
    if len(entries) <= SHARD_ENTRIES:
        return {bound: entries}
    ordered = sorted(entries.items(), key=lambda item: _checkpoint(item[1]) or 0)
    size = SHARD_ENTRIES if full else (len(ordered) + 1) // 2
    pieces: dict[int, RawEntries] = {}
    start = 0
    while start < len(ordered):
        end = min(start + size, len(ordered))
        while end < len(ordered) and _checkpoint(ordered[end][1]) == _checkpoint(
            ordered[end - 1][1]
        ):
            end += 1
        low = bound if start == 0 else _checkpoint(ordered[start][1]) or 0
        pieces[low] = dict(ordered[start:end])
        start = end
    return pieces


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
                entry = _decode_entry(raw, backup_id)
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
        index = _owner(self._bounds, backup_id.checkpoint_id)
        return None if index < 0 else self._views[index].entry(key, token, backup_id)


def encode_bounds(bounds: Bounds) -> bytes:
    body = {"version": CATALOG_VERSION, "bounds": {str(n): b for n, b in sorted(bounds.items())}}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_bounds(data: bytes) -> Bounds:
    """Each node's bounds of a bounds record; ValueError (or KeyError, TypeError) when
    damaged."""
    bounds: Bounds = {}
    for node, listed in _json_field(data, CATALOG_VERSION, "bounds").items():
        if not isinstance(listed, list) or any(type(b) is not int or b < 0 for b in listed):
            raise TypeError(f"the bounds of node {node} are not checkpoint ids")
        bounds[int(node)] = sorted({0, *listed})
    return bounds


def encode_taken(highest: Mapping[int, int]) -> bytes:
    body = {"version": TAKEN_VERSION, "highest": {str(n): i for n, i in sorted(highest.items())}}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_taken(data: bytes) -> Highest:
    """The highest ids by node of a taken-ids record; ValueError (or KeyError,
    TypeError) when damaged."""
    highest = {
        int(node): checkpoint
        for node, checkpoint in _json_field(data, TAKEN_VERSION, "highest").items()
    }
    for node, checkpoint in highest.items():
        # Checked as ids are: a node id and a checkpoint id in range.
        if type(checkpoint) is not int:
            raise TypeError(f"the highest id of node {node} is not an integer")
        BackupIdentifier(node, 1, checkpoint)
    return highest


_STATUS_CODES = {code.value: code for code in BackupStatusCode}


def _instant(nanos: int | None) -> Instant | None:
    return None if nanos is None else Instant(nanos)


def _encode_entry(entry: CatalogEntry) -> list[Any]:
    """An entry as stored: an array (parsed twice as fast as an object)."""
    status = entry.status
    descriptor = status.descriptor
    return [
        entry.token,
        status.id.node_id,
        status.id.partition_id,
        status.id.checkpoint_id,
        status.status_code.value,
        None
        if descriptor is None
        else [
            descriptor.snapshot_id,
            descriptor.checkpoint_position,
            descriptor.number_of_partitions,
            descriptor.broker_version,
        ],
        status.failure_reason,
        None if status.created is None else status.created.epoch_nanos,
        None if status.last_modified is None else status.last_modified.epoch_nanos,
    ]


def _decode_entry(raw: list[Any], listed: BackupIdentifier | None = None) -> CatalogEntry:
    """One entry; with ``listed`` (the id of the listed manifest), only when the entry
    names that very id (ValueError otherwise), which is then not built again."""
    token, node, partition, checkpoint, code, descriptor, reason, created, modified = raw
    if not isinstance(token, str) or not (reason is None or isinstance(reason, str)):
        raise ValueError("a catalog entry's token and reason are strings")
    if listed is None:
        backup_id = BackupIdentifier(node, partition, checkpoint)
    elif (
        node == listed.node_id
        and partition == listed.partition_id
        and checkpoint == listed.checkpoint_id
    ):
        backup_id = listed
    else:
        raise ValueError("the entry names another backup than its manifest key")
    status = BackupStatus(
        backup_id,
        _STATUS_CODES[code],  # (a KeyError for an unknown code: a damaged entry)
        None if descriptor is None else BackupDescriptor(*descriptor),
        reason,
        _instant(created),
        _instant(modified),
    )
    return CatalogEntry(token, status)


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


class Catalog:
    """The catalog of one location, read and updated through its :class:`ObjectIO`."""

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

    # ------------------------------------------------------------ reading

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
        recorded = sorted(p for p in (self._parse_bounds_key(k) for k in tokens) if p is not None)
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

    def _parse_bounds_key(self, key: str) -> int | None:
        """The partition of a bounds record's key, or None."""
        prefix = f"{self.folder}{BOUNDS_FOLDER}/"
        if not key.startswith(prefix) or not key.endswith(".json"):
            return None
        return _number(key[len(prefix) : -len(".json")])

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
                needed = sorted({bounds[i] for c in checkpoints if (i := _owner(bounds, c)) >= 0})
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
        entries = _stored(found)
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

    # ------------------------------------------------------------ writing

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

    async def _until_written(
        self, what: str, attempt: Callable[[], Awaitable[None]], *, raising: bool = False
    ) -> None:
        """Run ``attempt`` (reads, a change and compare-and-swap writes) again on every
        :class:`WriteConflict`. When it cannot be done: logged, never raised (a
        catalog left behind is only slower), unless ``raising`` (an operator's
        rebuild must not say done when it was not)."""
        try:
            for _attempt in range(UPDATE_ATTEMPTS):
                try:
                    await attempt()
                    return
                except WriteConflict:
                    continue
        except BackupStoreError as error:
            if raising:
                raise
            log.warning("could not update %s: %s", what, error)
            return
        if raising:
            raise BackupStoreError(f"{what} kept changing while it was rewritten")
        log.warning("%s kept changing; left as it is", what)

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
            index = max(_owner(bounds, checkpoint), 0)
            bound = bounds[index]
            upper = bounds[index + 1] if index + 1 < len(bounds) else None
            found = await self.io.get(self._shard(group, bound))
            stored = _stored(found)
            # (What lies outside the range was copied by a split that stopped halfway.)
            entries = _in_range(stored, bound, upper)
            change(entries)
            appended = all((_checkpoint(r) or 0) <= checkpoint for r in entries.values())
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
            current = {b: (f, _stored(f)) for b, f in zip(bounds, read, strict=True)}
            entries: RawEntries = {}
            for bound in bounds:  # ascending: where a split stopped halfway, the later wins
                entries.update(_in_range(current[bound][1], 0, None))
            merge_entries(scope, found, entries)
            pieces: dict[int, RawEntries] = {b: {} for b in bounds}
            for key, raw in entries.items():
                pieces[bounds[max(_owner(bounds, _checkpoint(raw) or 0), 0)]][key] = raw
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
        folder = f"{self.folder}{group[0]}/{group[1]}/"
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
            theirs = _in_range(_stored(found), 0, None)
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
                entries[key] = _encode_entry(CatalogEntry(token, status))

        await self.update(status.id, change)

    async def forget(self, keys: Collection[str], backup_id: BackupIdentifier) -> None:
        """Drop the entries of a deleted backup's manifests (one shard update)."""

        def change(entries: RawEntries) -> None:
            for key in keys:
                entries.pop(key, None)

        await self.update(backup_id, change)

    # ------------------------------------------------------------ taken ids

    async def read_taken(self, partition_id: int) -> Highest:
        """The highest backup id each node's service accepted for the partition; none
        when the record is missing or damaged (it is an extra, never the truth)."""
        key = taken_key(self.base_path, partition_id)
        found = await self._get_as_reader(key)
        if found is None:
            return {}
        try:
            return decode_taken(found.data)
        except (ValueError, KeyError, TypeError, BackupStoreError) as error:
            log.warning("ignoring the damaged taken-ids record %s: %s", key, error)
            return {}

    async def record_taken(self, backup_id: BackupIdentifier) -> None:
        """Raise the partition's record of the node's highest accepted id to ``backup_id``."""
        key = taken_key(self.base_path, backup_id.partition_id)

        async def attempt() -> None:
            found = await self.io.get(key)
            highest: Highest = {}
            if found is not None:
                # Damaged: rebuilt from what this writer knows.
                with suppress(ValueError, KeyError, TypeError, BackupStoreError):
                    highest = decode_taken(found.data)
            if highest.get(backup_id.node_id, 0) >= backup_id.checkpoint_id:
                return
            highest[backup_id.node_id] = backup_id.checkpoint_id
            if found is None:
                await self.io.put(key, encode_taken(highest), create_only=True)
            else:
                await self.io.replace(key, encode_taken(highest), found.version)

        await self._until_written(key, attempt)


def normal_token(e_tag: str | None) -> str | None:
    """An e-tag as compared: services quote it in some answers and not in others.

    ``W/`` marks a weak e-tag only before a quote: an unquoted e-tag may begin
    with it (GCS's are base64, one in 4,096 does)."""
    if not e_tag:
        return None
    if e_tag.startswith('W/"'):
        e_tag = e_tag[2:]
    return e_tag.strip('"') or None


def merge_entries(
    scope: BackupIdentifierWildcard, found: Mapping[str, CatalogEntry], entries: RawEntries
) -> None:
    """Make ``entries`` (as stored) say what a listing of ``scope`` found: entries of
    manifests in scope that were not found are dropped (damaged ones too), found
    ones set."""
    for key in [k for k, raw in entries.items() if k not in found and _in_scope(scope, raw)]:
        del entries[key]
    entries.update({key: _encode_entry(entry) for key, entry in found.items()})


def _in_scope(scope: BackupIdentifierWildcard, raw: Any) -> bool:
    """Whether a stored entry is of a backup ``scope`` selects; a damaged one is."""
    try:
        return scope.matches(BackupIdentifier(*raw[1:4]))
    except (ValueError, KeyError, TypeError, BackupStoreError):
        return True

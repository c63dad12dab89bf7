"""The listing catalog: what each manifest said when our writers last wrote it.

Listing backups needs each manifest's status, and reading every manifest costs
one request per backup. A catalog object per (node, partition) keeps, for each
manifest key, the manifest's listing token (its e-tag, or on the filesystem its
inode, nanosecond mtime and size) and the fields :class:`BackupStatus` shows.

The manifest stays the only truth. A reader lists the manifest keys (listings
carry the tokens), reads the catalogs, and uses an entry only when its token
equals the listed one; any other manifest (no entry, another token: written,
rewritten or replaced by Zeebe, another node or a person) is read. A catalog
that is missing or unreadable is ignored, never trusted. Readers never write.

Writers (save, mark failed, delete, the service's restart recovery and
``backup-store catalog rebuild``) update it with compare-and-swap writes
(create-only when absent, version-matched otherwise), retrying on conflict, so
concurrent writers lose no entry. A failed catalog update never fails the verb:
the next reader reads the manifest instead.

Where: ``<base path>/.backup-store-catalog/<node>/<partition>.json``, outside
``manifests/``, ``contents/``, the classic ``<partition>/`` folders and
``index/`` (documented in ``docs/on-store-format.md``).

Beside the catalogs, one small record per partition,
``.backup-store-catalog/taken/<partition>.json``, keeps the highest backup id
each node's service accepted: the backup service checks a new id against it
(one read, whatever the store holds) instead of listing the partition. It only
ever grows (compare-and-swap like the catalogs) and is an extra: the partition
sources are the truth about which ids were taken.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from backup_store.errors import BackupStoreError
from backup_store.instant import Instant
from backup_store.model import (
    BackupDescriptor,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
    BackupStatusCode,
)
from backup_store.objects import ObjectIO, WriteConflict

log = logging.getLogger("backup_store.catalog")

CATALOG_FOLDER = ".backup-store-catalog"
CATALOG_VERSION = 1
TAKEN_FOLDER = "taken"
TAKEN_VERSION = 1
UPDATE_ATTEMPTS = 20
"""Compare-and-swap attempts of one catalog update before giving up (logged)."""
CACHED_ENTRIES = 250_000
"""At most this many catalog entries are kept in memory between listings (under
1 KB each once decoded): a long-lived store (``serve``) stays bounded however many
backups its location holds; catalogs beyond the bound are read again each time."""


def catalog_key(base_path: str | None, node_id: int, partition_id: int) -> str:
    """The catalog object of one node's backups of one partition."""
    root = f"{base_path}/" if base_path else ""
    return f"{root}{CATALOG_FOLDER}/{node_id}/{partition_id}.json"


def taken_key(base_path: str | None, partition_id: int) -> str:
    """The record of the highest backup id each node's service accepted for a partition."""
    root = f"{base_path}/" if base_path else ""
    return f"{root}{CATALOG_FOLDER}/{TAKEN_FOLDER}/{partition_id}.json"


@dataclass(frozen=True)
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
V = TypeVar("V", RawEntries, Highest)


def encode_catalog(entries: RawEntries) -> bytes:
    """A catalog of entries as stored (see :func:`raw_entries`), in key order."""
    body = {"version": CATALOG_VERSION, "entries": {k: entries[k] for k in sorted(entries)}}
    return json.dumps(body, separators=(",", ":")).encode()


def raw_entries(data: bytes) -> RawEntries:
    """A catalog's entries by manifest key, not yet decoded; ValueError (or KeyError,
    TypeError) when the catalog as a whole is damaged."""
    body = json.loads(data)
    if body.get("version") != CATALOG_VERSION:
        raise ValueError(f"unknown catalog version {body.get('version')!r}")
    entries = body["entries"]
    if not isinstance(entries, dict):
        raise TypeError("a catalog's entries are an object")
    return entries


def _entries_to_keep(data: bytes) -> RawEntries:
    """A catalog's entries for a writer to update: those not even shaped like an
    entry are dropped (a cheap check; readers refuse any other damage entry by entry,
    and a rebuild drops it)."""
    return {
        key: raw
        for key, raw in raw_entries(data).items()
        if isinstance(raw, dict)
        and isinstance(raw.get("t"), str)
        and isinstance(raw.get("id"), list)
    }


def decode_catalog(data: bytes) -> Entries:
    """The entries of a catalog; ValueError (or KeyError, TypeError) when damaged."""
    return {key: _decode_entry(raw) for key, raw in raw_entries(data).items()}


class CatalogView:
    """One catalog as read: its entries decoded one by one, when a listing asks for
    them (a prefix query uses a few entries of a large catalog), and kept decoded."""

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
            if not isinstance(raw, dict) or raw.get("t") != token:
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


def encode_taken(highest: Mapping[int, int]) -> bytes:
    body = {"version": TAKEN_VERSION, "highest": {str(n): i for n, i in sorted(highest.items())}}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_taken(data: bytes) -> Highest:
    """The highest ids by node of a taken-ids record; ValueError (or KeyError,
    TypeError) when damaged."""
    body = json.loads(data)
    if body.get("version") != TAKEN_VERSION:
        raise ValueError(f"unknown taken-ids record version {body.get('version')!r}")
    highest = {int(node): checkpoint for node, checkpoint in body["highest"].items()}
    for node, checkpoint in highest.items():
        # Checked as ids are: a node id and a checkpoint id in range.
        if type(checkpoint) is not int:
            raise TypeError(f"the highest id of node {node} is not an integer")
        BackupIdentifier(node, 1, checkpoint)
    return highest


_STATUS_CODES = {code.value: code for code in BackupStatusCode}


def _instant(nanos: int | None) -> Instant | None:
    return None if nanos is None else Instant(nanos)


def _encode_entry(entry: CatalogEntry) -> dict[str, Any]:
    status = entry.status
    descriptor = status.descriptor
    return {
        "t": entry.token,
        "id": [status.id.node_id, status.id.partition_id, status.id.checkpoint_id],
        "s": status.status_code.value,
        "d": None
        if descriptor is None
        else [
            descriptor.snapshot_id,
            descriptor.checkpoint_position,
            descriptor.number_of_partitions,
            descriptor.broker_version,
        ],
        "r": status.failure_reason,
        "c": None if status.created is None else status.created.epoch_nanos,
        "m": None if status.last_modified is None else status.last_modified.epoch_nanos,
    }


def _decode_entry(raw: dict[str, Any], listed: BackupIdentifier | None = None) -> CatalogEntry:
    """One entry; with ``listed`` (the id of the listed manifest), only when the entry
    names that very id (ValueError otherwise), which is then not built again."""
    descriptor = raw["d"]
    if not isinstance(raw["t"], str) or not (raw["r"] is None or isinstance(raw["r"], str)):
        raise ValueError("a catalog entry's token and reason are strings")
    if listed is None:
        backup_id = BackupIdentifier(*raw["id"])
    elif raw["id"] == [listed.node_id, listed.partition_id, listed.checkpoint_id]:
        backup_id = listed
    else:
        raise ValueError("the entry names another backup than its manifest key")
    status = BackupStatus(
        backup_id,
        _STATUS_CODES[raw["s"]],  # (a KeyError for an unknown code: a damaged entry)
        None if descriptor is None else BackupDescriptor(*descriptor),
        raw["r"],
        _instant(raw["c"]),
        _instant(raw["m"]),
    )
    return CatalogEntry(raw["t"], status)


class Catalog:
    """The catalogs of one location, read and updated through its :class:`ObjectIO`."""

    def __init__(self, io: ObjectIO, base_path: str | None) -> None:
        self.io = io
        self.base_path = base_path
        self.cached_entries = CACHED_ENTRIES
        self._cached: dict[str, tuple[str, CatalogView]] = {}
        """Catalogs read, by key, with the token they were read at; at most
        :attr:`cached_entries` entries in all."""

    async def read(self, node_id: int, partition_id: int) -> CatalogView:
        """One catalog; empty when it is missing or damaged.

        A catalog read before and unchanged since (its e-tag, from one existence
        check) is not read again. Even a stale one could never make an answer wrong:
        an entry is used only for the manifest version it was written for.
        """
        key = catalog_key(self.base_path, node_id, partition_id)
        cached = self._cached.get(key)
        if cached is not None:
            meta = await self.io.head(key)
            if meta is not None and normal_token(meta.e_tag) == cached[0]:
                return cached[1]
            self._cached.pop(key, None)
        found = await self.io.get(key)
        if found is None:
            return EMPTY
        try:
            view = CatalogView(raw_entries(found.data))
        except (ValueError, KeyError, TypeError) as error:
            log.warning("ignoring the damaged catalog %s: %s", key, error)
            return EMPTY
        token = normal_token(found.version.e_tag)
        if token is not None:
            self._keep(key, token, view)
        return view

    def _keep(self, key: str, token: str, view: CatalogView) -> None:
        """Cache a catalog just read if it fits under the bound. What is cached stays
        (dropped only when it changes): a listing reads the same catalogs each time,
        and evicting one to make room would only have it read again next time."""
        held = sum(len(v) for k, (_, v) in self._cached.items() if k != key)
        if held + len(view) <= self.cached_entries:
            self._cached[key] = (token, view)

    async def update(
        self, node_id: int, partition_id: int, change: Callable[[RawEntries], bool]
    ) -> None:
        """Apply ``change`` to the current entries as stored (it returns whether it
        changed anything) and write them back compare-and-swap, again on every
        conflict. Entries it does not touch are not decoded: a save costs a copy of
        the catalog's bytes, not the decoding of every backup of its partition.

        Never raises for the store's sake: a catalog left behind is only slower.
        """
        key = catalog_key(self.base_path, node_id, partition_id)
        await self._update(key, _entries_to_keep, encode_catalog, change)

    async def read_taken(self, partition_id: int) -> Highest:
        """The highest backup id each node's service accepted for the partition; none
        when the record is missing or damaged (it is an extra, never the truth)."""
        key = taken_key(self.base_path, partition_id)
        found = await self.io.get(key)
        if found is None:
            return {}
        try:
            return decode_taken(found.data)
        except (ValueError, KeyError, TypeError, BackupStoreError) as error:
            log.warning("ignoring the damaged taken-ids record %s: %s", key, error)
            return {}

    async def record_taken(self, backup_id: BackupIdentifier) -> None:
        """Raise the partition's record of the node's highest accepted id to ``backup_id``."""

        def change(highest: Highest) -> bool:
            if highest.get(backup_id.node_id, 0) >= backup_id.checkpoint_id:
                return False
            highest[backup_id.node_id] = backup_id.checkpoint_id
            return True

        key = taken_key(self.base_path, backup_id.partition_id)
        await self._update(key, decode_taken, encode_taken, change)

    async def _update(
        self,
        key: str,
        decode: Callable[[bytes], V],
        encode: Callable[[V], bytes],
        change: Callable[[V], bool],
    ) -> None:
        """Read, change and write back one of our records compare-and-swap; logged,
        never raised, when it cannot be done (a record left behind is only slower)."""
        try:
            for _attempt in range(UPDATE_ATTEMPTS):
                found = await self.io.get(key)
                value: V | None = None
                if found is not None:
                    with suppress(ValueError, KeyError, TypeError, BackupStoreError):
                        value = decode(found.data)
                # Missing or damaged: rebuilt from what this writer knows.
                current = value if value is not None else cast(V, {})
                if not change(current):
                    return
                if not current:
                    # Nothing left (the last backup deleted): no object left behind. A
                    # writer's entry added meanwhile may go too, which costs only speed.
                    if found is not None:
                        await self.io.delete([key])
                    return
                data = encode(current)
                try:
                    if found is None:
                        await self.io.put(key, data, create_only=True)
                    else:
                        await self.io.replace(key, data, found.version)
                    return
                except WriteConflict:
                    continue
            log.warning("%s kept changing; left as it is", key)
        except BackupStoreError as error:
            log.warning("could not update %s: %s", key, error)

    async def record(self, key: str, token: str | None, status: BackupStatus) -> None:
        """Record that the manifest at ``key`` now has ``token`` and ``status``."""
        backup_id = status.id

        def change(entries: RawEntries) -> bool:
            if token is None:
                return entries.pop(key, None) is not None
            entry = _encode_entry(CatalogEntry(token, status))
            if entries.get(key) == entry:
                return False
            entries[key] = entry
            return True

        await self.update(backup_id.node_id, backup_id.partition_id, change)

    async def forget(self, keys: Collection[str], backup_id: BackupIdentifier) -> None:
        """Drop the entries of a deleted backup's manifests (one catalog update)."""

        def change(entries: RawEntries) -> bool:
            dropped = [key for key in keys if entries.pop(key, None) is not None]
            return bool(dropped)

        await self.update(backup_id.node_id, backup_id.partition_id, change)


def normal_token(e_tag: str | None) -> str | None:
    """An e-tag as compared: services quote it in some answers and not in others."""
    if not e_tag:
        return None
    return e_tag.removeprefix("W/").strip('"') or None


def merge_entries(
    scope: BackupIdentifierWildcard, found: Mapping[str, CatalogEntry], entries: RawEntries
) -> bool:
    """Make ``entries`` (as stored) say what a listing of ``scope`` found: entries of
    manifests in scope that were not found are dropped (damaged ones too), found
    ones set. Whether it changed."""
    before = dict(entries)
    for key in [k for k, raw in entries.items() if k not in found and _in_scope(scope, raw)]:
        del entries[key]
    entries.update({key: _encode_entry(entry) for key, entry in found.items()})
    return entries != before


def _in_scope(scope: BackupIdentifierWildcard, raw: Any) -> bool:
    """Whether a stored entry is of a backup ``scope`` selects; a damaged one is."""
    try:
        return scope.matches(BackupIdentifier(*raw["id"]))
    except (ValueError, KeyError, TypeError, BackupStoreError):
        return True

"""The engine: Zeebe's backup verbs and life cycle, once, over any :class:`ObjectIO`.

A backend gives the engine three values: its object I/O (the seam to the
service, :mod:`backup_store.objects`), its store kind (an identity) and its
on-store format (:mod:`backup_store.formats`). The engine never branches on
the kind; it implements :class:`~backup_store.store.BackupStore` and the tools
contract :class:`~backup_store.inspectable.InspectableStore`.

Life cycle of one backup (``store-format.md`` §5):

* save: create the IN_PROGRESS manifest create-only, upload every file and the
  integrity record (:mod:`backup_store.integrity`), then rewrite the manifest
  COMPLETED version-matched; on any failure rewrite it FAILED, then raise;
* mark failed, delete and restore as the contract documents.

Every verb stamps its errors with the store, the operation and the backup once
(:meth:`ObjectBackupStore._verb`); the seam has already named the key.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import TypeVar
from uuid import uuid4

from backup_store.catalog import NO_SHARDS, Catalog, CatalogEntry, Entries, Group, normal_token
from backup_store.concurrency import ByteBudget, both, run_bounded
from backup_store.errors import (
    BackupAlreadyExistsError,
    BackupStoreError,
    ConfigurationError,
    IntegrityError,
    InvalidBackupStateError,
    InvalidInputError,
    ManifestParseError,
    ObjectTooLargeError,
    RestoreTargetError,
    SourceFileNotFoundError,
    StoreClosedError,
    UnverifiedBackupError,
)
from backup_store.formats import StoreFormat
from backup_store.inspectable import (
    BeforeComplete,
    DamagedManifest,
    FileToStore,
    InspectableStore,
    ListedManifest,
    StoredManifest,
)
from backup_store.instant import Instant
from backup_store.integrity import (
    FileRecord,
    IntegrityRecord,
    decode_record,
    encode_record,
    record_name,
)
from backup_store.layout import KeyLayout, check_base_path
from backup_store.manifest import ZSTD, FileEntry, Manifest, WrongManifestFormError
from backup_store.model import (
    FILE_SETS,
    Backup,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
    BackupStatusCode,
    NamedFileSet,
    check_file_name,
)
from backup_store.objects import (
    NAME_MAX,
    ObjectIO,
    ObjectMeta,
    ObjectVersion,
    StoredObject,
    WriteConflict,
)
from backup_store.ownership import OwnershipMarker
from backup_store.store import DELETING_REASON
from backup_store.transfer import (
    CHUNK_SIZE,
    COMPRESSION_THRESHOLD,
    Chunk,
    Digest,
    FolderSync,
    StoredForm,
    blocking,
    compress_if_smaller,
    decompress,
    decompress_zstd,
    fsync_directory,
    hashed,
    in_transfer_thread,
    iterate_in_thread,
    read_file,
    source_size,
    write_file,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENCY = 8
"""Files (or manifests) transferred at once."""
DEFAULT_UPLOAD_MEMORY = 64 * 1024 * 1024
"""Bytes that a store's uploads may buffer at once (see :class:`ByteBudget`): with the
default part settings two large files, each ``(3 + 1) x 8 MiB`` (parts in flight and
the part filling)."""
MARK_FAILED_ATTEMPTS = 10
LIST_CONCURRENCY = 32
"""Manifests (small objects) read at once while listing."""
CATALOG_MIN_MANIFESTS = 2
"""A listing reads a (node, partition) catalog only for at least this many manifests:
fewer are cheaper to read one by one (the status of one id reads no catalog)."""
CANCELLED_REASON = "The backup was cancelled before it completed."
CONCURRENT_DELETE_REASON = "Files of the backup were removed by a concurrent delete."


class ObjectBackupStore(InspectableStore):
    """A :class:`BackupStore` over one :class:`ObjectIO`.

    Args:
        io: object I/O of the location.
        kind: the store kind (identity checked by the ownership marker).
        format: Zeebe's on-store format to read and write.
        base_path: key prefix of every object (``store-format.md`` §2).
        compression: ``"zstd"`` to compress files over 8 MiB (only where the
            format records it).
        max_concurrency: files transferred at once.
        upload_memory: bytes that uploads may buffer at once, whatever the number
            of files in flight (:meth:`ObjectIO.upload_memory` says what one file
            needs: for multipart uploads ``(io.part_concurrency + 1) x io.part_size``).
            Small files keep ``max_concurrency``; large files wait for room.
    """

    def __init__(
        self,
        io: ObjectIO,
        *,
        kind: str,
        format: StoreFormat,
        base_path: str | None = None,
        compression: str | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        upload_memory: int = DEFAULT_UPLOAD_MEMORY,
    ) -> None:
        if compression not in (None, "none", ZSTD):
            raise ConfigurationError(f"unknown compression {compression!r}: use 'zstd' or 'none'")
        if compression == ZSTD and not format.records_compression:
            raise ConfigurationError(
                f"compression is only recorded by the S3 manifest form, not by the {kind} store"
            )
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be at least 1")
        self.io = io
        self.kind = kind
        self.format = format
        self.base_path = check_base_path(base_path)
        self.description = io.description
        self.compression = ZSTD if compression == ZSTD else None
        self.max_concurrency = max_concurrency
        self._owner = OwnershipMarker(io, kind, self.base_path)
        self._upload_budget = ByteBudget(upload_memory)
        self._catalog = Catalog(io, self.base_path)
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"

    # ------------------------------------------------------------ shared steps

    @contextmanager
    def _verb(self, operation: str, backup_id: BackupIdentifier | None = None) -> Iterator[None]:
        """Stamp every error of one verb with the store, operation and backup."""
        if self._closed:
            raise StoreClosedError(
                "the store is closed", store=self.description, operation=operation
            )
        try:
            yield
        except BackupStoreError as error:
            raise error.with_context(
                store=self.description, operation=operation, backup_id=backup_id
            ) from None

    async def _bounded(self, jobs: Sequence[Callable[[], Awaitable[T]]]) -> builtins.list[T]:
        return await run_bounded(jobs, self.max_concurrency)

    async def _batched(
        self,
        count: int,
        small: Callable[[int], bool],
        job: Callable[[builtins.list[int]], Awaitable[builtins.list[T]]],
    ) -> builtins.list[T]:
        """``job`` of items ``0..count-1`` with bounded concurrency: each large item
        alone, small ones in batches (see :func:`_batches`); results in item order.

        A file transfer costs the event loop a task, a thread hop and their
        futures: for thousands of small files that, not the bytes, was the work.
        """
        smalls = [i for i in range(count) if small(i)]
        alone = sorted(set(range(count)) - set(smalls))
        jobs = [[i] for i in alone] + _batches(smalls, self.max_concurrency)
        results: dict[int, T] = {}
        done = await self._bounded([partial(job, batch) for batch in jobs])
        for batch, found in zip(jobs, done, strict=True):
            results.update(zip(batch, found, strict=True))
        return [results[i] for i in range(count)]

    def _decode(self, data: bytes, key: str) -> Manifest:
        try:
            return self.format.decode(data)
        except WrongManifestFormError as error:
            raise self._owner.foreign_form(error, key) from None
        except ManifestParseError as error:
            raise error.with_context(key=key) from None

    async def _get_manifest(self, key: str) -> StoredObject | None:
        """The manifest object at ``key``; :class:`ManifestParseError` (damaged) when it
        is too large to be one, and then not read."""
        try:
            return await self.io.get(key)
        except ObjectTooLargeError as error:
            raise ManifestParseError(f"not a manifest: {error.message}", key=key) from None

    async def _find_manifest(self, backup_id: BackupIdentifier) -> StoredManifest | None:
        for layout in self.format.read_layouts(self.base_path):
            key = layout.manifest_key(backup_id)
            found = await self._get_manifest(key)
            if found is not None:
                return StoredManifest(
                    self._decode_at(found.data, key, backup_id), layout, key, found.version
                )
        return None

    def _decode_at(self, data: bytes, key: str, backup_id: BackupIdentifier) -> Manifest:
        """The manifest at the key of ``backup_id``; one naming another backup is damaged."""
        manifest = self._decode(data, key)
        if manifest.id != backup_id:
            raise ManifestParseError(
                f"the manifest names backup {manifest.id}, not {backup_id} of its key", key=key
            )
        return manifest

    async def _manifest_keys(
        self, wildcard: BackupIdentifierWildcard
    ) -> dict[BackupIdentifier, tuple[KeyLayout, ObjectMeta]]:
        layouts = self.format.read_layouts(self.base_path)
        prefixes = [layout.list_prefix(wildcard) for layout in layouts]
        # A prefix inside another one's listing (the S3 classic layout's ``bp/``
        # holds ``bp/manifests/``) is not listed twice; the others are listed at once.
        listed = [
            p
            for p in dict.fromkeys(prefixes)
            if not any(o != p and p.startswith(o) and o.endswith("/") for o in prefixes)
        ]
        listings = await run_bounded(
            [partial(self._objects_with_prefix, p) for p in listed], len(listed)
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

    async def _objects_with_prefix(self, prefix: str) -> builtins.list[ObjectMeta]:
        """Objects whose keys start with ``prefix``, which may end inside a path segment.

        Listings take whole path segments, so a checkpoint prefix such as
        ``.../1/10`` cannot be listed as such. Where listings are ordered, one
        listing of the folder starting after ``prefix`` (server-side where the
        service supports it: S3 ``start-after``) ends as soon as keys leave the
        prefix. Elsewhere the folder's sub-folders are listed first and then only
        the matching ones (never every object of the partition).
        """
        if prefix == "" or prefix.endswith("/"):
            return await self._list_all(prefix)
        folder, _, _ = prefix.rpartition("/")
        if self.io.capabilities.ordered_listing:
            return await self._ordered_objects_with_prefix(folder, prefix)
        listing = await self.io.list_with_delimiter(folder)
        objects = [m for m in listing.objects if m.key.startswith(prefix)]
        matching = [p for p in listing.prefixes if p.startswith(prefix)]
        for found in await self._bounded([partial(self._list_all, p + "/") for p in matching]):
            objects.extend(found)
        return objects

    async def _list_all(self, prefix: str) -> builtins.list[ObjectMeta]:
        return [meta async for page in self.io.list(prefix) for meta in page]

    async def _ordered_objects_with_prefix(
        self, folder: str, prefix: str
    ) -> builtins.list[ObjectMeta]:
        objects: builtins.list[ObjectMeta] = []
        # Every key starting with ``prefix`` sorts after it (a key equal to it is
        # no manifest), so the listing starts there and stops at the first key past it.
        async for page in self.io.list(folder, offset=prefix):
            for meta in page:
                if meta.key.startswith(prefix):
                    objects.append(meta)
                elif meta.key > prefix:
                    return objects  # no further page is requested
        return objects

    # ------------------------------------------------------------ tools contract

    async def read_manifest(
        self, backup_id: BackupIdentifier, *, operation: str = "read manifest"
    ) -> StoredManifest | None:
        with self._verb(operation, backup_id):
            await self._owner.check(writing=False)
            return await self._find_manifest(backup_id)

    async def list_ids(
        self,
        wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard(),  # noqa: B008
    ) -> builtins.list[BackupIdentifier]:
        with self._verb("list"):
            await self._owner.check(writing=False)
            return builtins.list(await self._manifest_keys(wildcard))

    async def scan_manifests(
        self,
        wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard(),  # noqa: B008
    ) -> builtins.list[ListedManifest]:
        with self._verb("list"):
            await self._owner.check(writing=False)
            found = await self._manifest_keys(wildcard)

            async def load(
                backup_id: BackupIdentifier, layout: KeyLayout, key: str
            ) -> ListedManifest | None:
                try:
                    data = await self._get_manifest(key)
                    if data is None:  # deleted while listing
                        return None
                    manifest = self._decode_at(data.data, key, backup_id)
                except ManifestParseError as error:
                    return DamagedManifest(backup_id, layout, key, error)
                return StoredManifest(manifest, layout, key, data.version)

            results = await self._bounded(
                [
                    partial(load, backup_id, layout, meta.key)
                    for backup_id, (layout, meta) in found.items()
                ]
            )
            return [r for r in results if r is not None]

    async def list_partitions(self) -> builtins.list[int]:
        with self._verb("list"):
            await self._owner.check(writing=False)
            partitions: set[int] = set()
            for layout in self.format.read_layouts(self.base_path):
                listing = await self.io.list_with_delimiter(layout.partitions_folder.rstrip("/"))
                for prefix in listing.prefixes:
                    partition = layout.parse_partition_folder(prefix)
                    if partition is not None:
                        partitions.add(partition)
            return sorted(partitions)

    async def read_integrity(self, stored: StoredManifest) -> IntegrityRecord | None:
        key = stored.layout.integrity_key(stored.manifest.id)
        with self._verb("read integrity", stored.manifest.id):
            return self._integrity_of(stored, await self.io.get(key))

    def _integrity_of(
        self, stored: StoredManifest, found: StoredObject | None
    ) -> IntegrityRecord | None:
        """The integrity record read at ``stored``'s layout, if it belongs to its manifest."""
        if found is None:
            return None
        key = stored.layout.integrity_key(stored.manifest.id)
        with self._verb("read integrity", stored.manifest.id):
            try:
                record = decode_record(found.data)
            except IntegrityError as error:
                raise error.with_context(key=key) from None
        # Left by an earlier backup of the id (Zeebe's delete keeps it): never applied.
        return record if record.belongs_to(stored.manifest) else None

    async def _manifest_and_integrity(
        self, backup_id: BackupIdentifier
    ) -> tuple[StoredManifest | None, StoredObject | None]:
        """:meth:`_find_manifest`, and the integrity record beside the manifest found
        (not yet decoded: see :meth:`_integrity_of`), in one round trip: every read
        layout's manifest and record are requested at once (restore's fixed cost; the
        S3 classic layout is the second one looked in). The lookup order still decides
        which manifest is found, and only a failure a sequential lookup would have
        met is raised."""
        layouts = self.format.read_layouts(self.base_path)
        manifest_keys = [layout.manifest_key(backup_id) for layout in layouts]
        reads = [self._get_manifest(key) for key in manifest_keys]
        reads += [self.io.get(layout.integrity_key(backup_id)) for layout in layouts]
        results = await asyncio.gather(*reads, return_exceptions=True)
        for i, (layout, key) in enumerate(zip(layouts, manifest_keys, strict=True)):
            manifest, integrity = results[i], results[len(layouts) + i]
            if isinstance(manifest, BaseException):
                raise manifest
            if manifest is not None:
                if isinstance(integrity, BaseException):
                    raise integrity
                stored = StoredManifest(
                    self._decode_at(manifest.data, key, backup_id), layout, key, manifest.version
                )
                return stored, integrity
        return None, None

    async def is_claimed(self) -> bool:
        with self._verb("check location"):
            return await self._owner.check(writing=False)

    async def probe(self, *, writing: bool = False) -> None:
        # The store-kind marker: a small object; writing claims the location with it,
        # as the first write does anyway.
        with self._verb("check location"):
            await self.io.check_location(self._owner.key)
            await self._owner.check(writing=writing)

    def file_key(self, stored: StoredManifest, file_set: str, entry: FileEntry) -> str:
        return stored.layout.file_key(stored.manifest.id, file_set, entry.name)

    async def backup_keys(self, stored: StoredManifest) -> builtins.list[str]:
        with self._verb("list", stored.manifest.id):
            keys = await self.io.list_keys(stored.layout.contents_prefix(stored.manifest.id))
            return [key for key in keys if key != stored.key]

    async def stat(self, key: str) -> ObjectMeta | None:
        with self._verb("stat"):
            return await self.io.head(key)

    async def open_file(
        self, stored: StoredManifest, file_set: str, entry: FileEntry
    ) -> AsyncIterator[bytes]:
        key = self.file_key(stored, file_set, entry)
        with self._verb("read", stored.manifest.id):
            _check_compression(stored, entry)
            chunks = self.io.stream(key)
            if entry.compression == ZSTD:
                chunks = decompress_zstd(chunks, key=key)
            async for chunk in chunks:
                yield chunk

    # ------------------------------------------------------------ status, list

    async def get_status(self, backup_id: BackupIdentifier) -> BackupStatus:
        stored = await self.read_manifest(backup_id, operation="status")
        if stored is None:
            return BackupStatus(backup_id, BackupStatusCode.DOES_NOT_EXIST)
        return stored.manifest.to_status()

    async def list(
        self,
        wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard(),  # noqa: B008
    ) -> builtins.list[BackupStatus]:
        with self._verb("list"):
            await self._owner.check(writing=False)
            return [s for s, _ in await self._listed_statuses(wildcard)]

    async def rebuild_catalog(
        self,
        wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard(),  # noqa: B008
        *,
        must_write: bool = True,
    ) -> builtins.list[BackupStatus]:
        with self._verb("rebuild catalog"):
            await self._owner.check(writing=True)
            listed = await self._listed_statuses(wildcard, use_catalog=True, every_group=True)
            groups: dict[tuple[int, int], Entries] = {}
            for status, entry in listed:
                group = groups.setdefault((status.id.node_id, status.id.partition_id), {})
                if entry is not None:
                    group[entry[0]] = entry[1]
            highest: dict[tuple[int, int], BackupIdentifier] = {}
            for status, _ in listed:
                where = (status.id.node_id, status.id.partition_id)
                if where not in highest or status.id.checkpoint_id > highest[where].checkpoint_id:
                    highest[where] = status.id
            for (node_id, partition_id), entries in groups.items():
                await self._catalog.rebuild(
                    node_id, partition_id, wildcard, entries, must_write=must_write
                )
            # Ids found count as taken, also those written before the record existed.
            for backup_id in highest.values():
                await self._catalog.record_taken(backup_id)
            return [s for s, _ in listed]

    async def _listed_statuses(
        self,
        wildcard: BackupIdentifierWildcard,
        *,
        use_catalog: bool = True,
        every_group: bool = False,
    ) -> builtins.list[tuple[BackupStatus, tuple[str, CatalogEntry] | None]]:
        """Statuses of the listed manifests, with the catalog entry each justifies.

        A manifest's status comes from its (node, partition) catalog when the entry's
        token equals the listed one, else from the manifest itself. Catalogs are
        read only for groups of at least ``CATALOG_MIN_MANIFESTS`` manifests (or
        ``every_group``): one manifest is cheaper to read than a catalog.
        """
        if use_catalog:
            # Where the catalog's shards are is asked while the manifests are listed.
            found, index = await both(
                partial(self._manifest_keys, wildcard),
                partial(self._catalog.shard_index, wildcard),
            )
        else:
            found, index = await self._manifest_keys(wildcard), NO_SHARDS
        checkpoints: dict[Group, builtins.list[int]] = {}
        for backup_id in found:
            group = (backup_id.node_id, backup_id.partition_id)
            checkpoints.setdefault(group, []).append(backup_id.checkpoint_id)
        wanted = {
            g: c
            for g, c in checkpoints.items()
            if use_catalog and (every_group or len(c) >= CATALOG_MIN_MANIFESTS)
        }
        views = await self._catalog.read(index, wanted)
        results: dict[BackupIdentifier, tuple[BackupStatus, tuple[str, CatalogEntry] | None]] = {}
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
            [partial(self._read_status, *where) for where in to_read], LIST_CONCURRENCY
        ):
            if read_one is not None:
                results[read_one[0].id] = read_one
        return [results[i] for i in found if i in results]

    async def _read_status(
        self, backup_id: BackupIdentifier, layout: KeyLayout, key: str
    ) -> tuple[BackupStatus, tuple[str, CatalogEntry] | None] | None:
        try:
            found = await self._get_manifest(key)
            if found is None:  # deleted while listing
                return None
            manifest = self._decode_at(found.data, key, backup_id)
        except ManifestParseError as error:
            # Damaged: only this entry says so; it is never cached.
            return DamagedManifest(backup_id, layout, key, error).to_status(), None
        status = manifest.to_status()
        token = normal_token(found.version.e_tag)
        return status, None if token is None else (key, CatalogEntry(token, status))

    async def _record(self, key: str, version: ObjectVersion, manifest: Manifest) -> None:
        """Writers keep the catalog: the manifest at ``key`` now has ``version``."""
        await self._catalog.record(key, normal_token(version.e_tag), manifest.to_status())

    # ------------------------------------------------------------ save

    async def accept(self, manifest: Manifest) -> StoredManifest:
        with self._verb("accept", manifest.id):
            await self._owner.check(writing=True)
            accepted = await self._create(manifest.as_in_progress())
            await self._catalog.record_taken(manifest.id)  # never fails the accept
            return accepted

    async def highest_taken(self, partition_id: int) -> dict[int, int]:
        with self._verb("list"):
            await self._owner.check(writing=False)
            return await self._catalog.read_taken(partition_id)

    async def has_manifest(self, backup_id: BackupIdentifier) -> bool:
        with self._verb("status", backup_id):
            await self._owner.check(writing=False)
            for layout in self.format.read_layouts(self.base_path):
                if await self.io.head(layout.manifest_key(backup_id)) is not None:
                    return True
            return False

    async def save(self, backup: Backup, *, accepted: StoredManifest | None = None) -> None:
        with self._verb("save", backup.id):
            # Every source is checked (exists, regular file, long enough) before any write.
            files = []
            for file_set, named in zip(FILE_SETS, (backup.snapshot, backup.segments), strict=True):
                for name, source in named.sources.items():
                    size = source_size(source)
                    opener = partial(_read_async, source.path, size)
                    files.append(FileToStore(file_set, name, size, opener, source.path))
            snapshot, segments = (
                tuple(FileEntry(f.name) for f in files if f.file_set == file_set)
                for file_set in FILE_SETS
            )
            created = accepted.manifest.created_at if accepted else Instant.now()
            manifest = Manifest.in_progress(
                backup.id, backup.descriptor, snapshot, segments, created
            )
            await self.write_backup(manifest, files, operation="save", accepted=accepted)

    async def write_backup(
        self,
        manifest: Manifest,
        files: Sequence[FileToStore],
        *,
        operation: str = "save",
        before_complete: BeforeComplete | None = None,
        accepted: StoredManifest | None = None,
    ) -> None:
        backup_id = manifest.id
        with self._verb(operation, backup_id):
            broker_version = manifest.descriptor.broker_version if manifest.descriptor else None
            layout = (
                accepted.layout
                if accepted is not None
                else self.format.write_layout(self.base_path, broker_version)
            )
            self._check_keys(layout, backup_id, files)
            await self._owner.check(writing=True)
            # Offered to zstd; each file's upload says whether it was stored compressed.
            compress = {
                (f.file_set, f.name): self.compression is not None
                and f.size > COMPRESSION_THRESHOLD
                for f in files
            }
            planned = {
                file_set: tuple(
                    FileEntry(f.name, ZSTD if compress[(f.file_set, f.name)] else None)
                    for f in files
                    if f.file_set == file_set
                )
                for file_set in FILE_SETS
            }
            started = manifest.with_files(planned).as_in_progress()
            if accepted is None:
                held = await self._create(started)
            else:
                held = await self._adopt(accepted, started)
            layout, key, version = held.layout, held.key, held.version
            try:
                async with self.io.upload_group() as group:
                    uploaded = await self._batched(
                        len(files),
                        lambda i: (
                            files[i].local_path is not None
                            and files[i].size <= SMALL_FILE
                            and not compress[(files[i].file_set, files[i].name)]
                        ),
                        lambda batch: self._upload(
                            layout, backup_id, [files[i] for i in batch], compress
                        ),
                    )
                    # Every file durable before anything that names it (record, manifest).
                    await group.persist(
                        [layout.file_key(backup_id, f.file_set, f.name) for f in files]
                    )
                by_name = {
                    record_name(f.file_set, f.name): record
                    for f, (record, _) in zip(files, uploaded, strict=True)
                }
                # From here on every manifest (the hook's, the final one, a FAILED one)
                # names the files as they were stored: a file that zstd did not shrink
                # is stored plain (store-format.md §4).
                final = manifest.with_files(
                    {
                        file_set: tuple(
                            entry
                            for f, (_, entry) in zip(files, uploaded, strict=True)
                            if f.file_set == file_set
                        )
                        for file_set in FILE_SETS
                    }
                )
                started = final.as_in_progress()
                # Tied to this manifest: a record some later backup of the id finds is stale.
                integrity = IntegrityRecord(by_name, backup_id, final.created_at)
                await self.io.put(layout.integrity_key(backup_id), encode_record(integrity))
                if before_complete is not None:
                    await before_complete(StoredManifest(started, layout, key, version))
                # A save completes now; a migrated backup keeps its source's final state.
                in_progress = final.status_code is BackupStatusCode.IN_PROGRESS
                done = final.completed(Instant.now()) if in_progress else final
                try:
                    final_version = await self.io.replace(
                        key, self.format.encode(done, layout), version
                    )
                except WriteConflict:
                    raise InvalidBackupStateError(
                        f"backup {backup_id} was changed by another writer while it was saved",
                        key=key,
                    ) from None
                await self._record(key, final_version, done)
            except BaseException as error:
                await asyncio.shield(self._fail_after_error(layout, key, started, version, error))
                raise

    def _check_keys(
        self, layout: KeyLayout, backup_id: BackupIdentifier, files: Sequence[FileToStore]
    ) -> None:
        """Before anything is written: every object the backup needs can be stored,
        listed, restored and deleted by this store (its seam declares the limits)."""
        for f in files:
            key = layout.file_key(backup_id, f.file_set, f.name)
            check_file_name(f.name)
            problem = self.io.capabilities.key_problem(key)
            if problem is not None:
                raise InvalidInputError(
                    f"file name {f.name!r} ({f.file_set}) cannot be stored: {problem}", key=key
                )
        for key in (layout.manifest_key(backup_id), layout.integrity_key(backup_id)):
            problem = self.io.capabilities.key_problem(key)
            if problem is not None:
                raise InvalidInputError(f"the backup cannot be stored: {problem}", key=key)

    async def _create(self, started: Manifest) -> StoredManifest:
        """Step 1 of the life cycle: the IN_PROGRESS manifest, only if none exists."""
        backup_id = started.id
        broker_version = started.descriptor.broker_version if started.descriptor else None
        layout = self.format.write_layout(self.base_path, broker_version)
        for other in self.format.read_layouts(self.base_path):
            if other != layout:
                await self._refuse_existing(other, backup_id)
        key = layout.manifest_key(backup_id)
        try:
            version = await self.io.put(key, self.format.encode(started, layout), create_only=True)
        except WriteConflict:
            await self._refuse_existing(layout, backup_id)
            raise BackupAlreadyExistsError(
                f"backup {backup_id} was created concurrently by another writer", key=key
            ) from None
        return StoredManifest(started, layout, key, version)

    async def _adopt(self, accepted: StoredManifest, started: Manifest) -> StoredManifest:
        """Step 1 for an accepted backup: its IN_PROGRESS manifest, now with its files,
        in the layout chosen at acceptance, version-matched."""
        if accepted.manifest.id != started.id:
            raise InvalidInputError(f"the accepted manifest is of backup {accepted.manifest.id}")
        try:
            version = await self.io.replace(
                accepted.key, self.format.encode(started, accepted.layout), accepted.version
            )
        except WriteConflict:
            raise InvalidBackupStateError(
                f"backup {started.id} was marked failed or deleted after it was accepted",
                key=accepted.key,
            ) from None
        return StoredManifest(started, accepted.layout, accepted.key, version)

    async def _refuse_existing(self, layout: KeyLayout, backup_id: BackupIdentifier) -> None:
        key = layout.manifest_key(backup_id)
        found = await self._get_manifest(key)
        if found is not None:
            status = self._decode(found.data, key).status_code
            raise BackupAlreadyExistsError(
                f"backup {backup_id} already exists with status {status.value}",
                status=status,
                key=key,
            )

    async def _fail_after_error(
        self,
        layout: KeyLayout,
        key: str,
        started: Manifest,
        version: ObjectVersion,
        error: BaseException,
    ) -> None:
        """Step 4 of the life cycle: rewrite as FAILED; never mask the original error."""
        if isinstance(error, InvalidBackupStateError):
            return  # another writer owns the manifest now
        if isinstance(error, asyncio.CancelledError):
            reason = CANCELLED_REASON
        elif isinstance(error, BackupStoreError):
            reason = error.message
        else:
            reason = f"{type(error).__name__}: {error}"
        failed = started.failed(reason, Instant.now())
        with suppress(Exception):
            failed_version = await self.io.replace(key, self.format.encode(failed, layout), version)
            await self._record(key, failed_version, failed)

    async def _upload(
        self,
        layout: KeyLayout,
        backup_id: BackupIdentifier,
        batch: Sequence[FileToStore],
        compress: dict[tuple[str, str], bool],
    ) -> builtins.list[tuple[FileRecord, FileEntry]]:
        """Store files; their integrity records and manifest entries as stored.

        One file is read, hashed, compressed and sent in one transfer thread (see
        :meth:`ObjectIO.upload`), a local file straight from disk; a batch of small
        local files goes through :meth:`ObjectIO.upload_each`.
        """
        if len(batch) > 1:
            return await self._upload_small(layout, backup_id, batch)
        [file] = batch
        key = layout.file_key(backup_id, file.file_set, file.name)
        original = Digest()
        source: Iterator[Chunk] = (
            read_file(file.local_path, file.size)
            if file.local_path is not None
            else blocking(file.open(), asyncio.get_running_loop())
        )
        chunks = hashed(source, original)
        form = StoredForm(compressed=compress[(file.file_set, file.name)])
        if form.compressed:
            chunks = compress_if_smaller(chunks, form)
        # Small files: one request instead of a multipart upload.
        async with self._upload_budget.reserve(self.io.upload_memory(file.size)):
            await self.io.upload(
                key, chunks, one_request=file.size <= self.io.part_size and not form.compressed
            )
        return [_stored(file, key, original, form)]

    async def _upload_small(
        self, layout: KeyLayout, backup_id: BackupIdentifier, batch: Sequence[FileToStore]
    ) -> builtins.list[tuple[FileRecord, FileEntry]]:
        keys = [layout.file_key(backup_id, f.file_set, f.name) for f in batch]
        digests = [Digest() for _ in batch]
        uploads: builtins.list[tuple[str, Iterable[Chunk]]] = []
        for file, key, digest in zip(batch, keys, digests, strict=True):
            assert file.local_path is not None  # only local files are batched
            uploads.append((key, hashed(read_file(file.local_path, file.size), digest)))
        # One file of the batch is in flight at a time.
        async with self._upload_budget.reserve(max(self.io.upload_memory(f.size) for f in batch)):
            await self.io.upload_each(uploads)
        plain = StoredForm(compressed=False)
        return [_stored(f, k, d, plain) for f, k, d in zip(batch, keys, digests, strict=True)]

    # ------------------------------------------------------------ mark failed

    async def mark_failed(self, backup_id: BackupIdentifier, reason: str) -> BackupStatusCode:
        with self._verb("mark failed", backup_id):
            await self._owner.check(writing=True)
            for _attempt in range(MARK_FAILED_ATTEMPTS):
                stored = await self._find_manifest(backup_id)
                try:
                    if stored is None:
                        layout = self.format.write_layout(self.base_path, None)
                        manifest = Manifest.failed_never_saved(backup_id, reason, Instant.now())
                        key = layout.manifest_key(backup_id)
                        version = await self.io.put(
                            key, self.format.encode(manifest, layout), create_only=True
                        )
                        await self._record(key, version, manifest)
                    elif stored.manifest.status_code is not BackupStatusCode.FAILED:
                        failed = stored.manifest.failed(reason, Instant.now())
                        version = await self.io.replace(
                            stored.key, self.format.encode(failed, stored.layout), stored.version
                        )
                        await self._record(stored.key, version, failed)
                    return BackupStatusCode.FAILED
                except WriteConflict:
                    continue  # changed under us (e.g. just completed): read again
            raise InvalidBackupStateError(
                f"backup {backup_id} kept changing while it was marked failed"
            )

    # ------------------------------------------------------------ delete

    async def delete(self, backup_id: BackupIdentifier) -> None:
        """Delete as ``store-format.md`` §5 says: hold the manifest key from start to end.

        1. claim: make the manifest FAILED in every layout the store reads
           (create-only where none exists, version-matched where one does), so a
           save starting now fails as "already exists";
        2. remove every other object of the backup (data, leftovers, our record);
        3. remove the manifests last.
        A crash leaves a FAILED manifest or nothing; a second delete finishes.
        """
        with self._verb("delete", backup_id):
            await self._owner.check(writing=False)
            layouts = self.format.read_layouts(self.base_path)
            # Refuse before writing anything where the backup is IN_PROGRESS.
            for layout in layouts:
                await self._refuse_in_progress(layout, backup_id)
            created: builtins.list[str] = []
            try:
                for layout in layouts:
                    if await self._claim(layout, backup_id):
                        created.append(layout.manifest_key(backup_id))
            except InvalidBackupStateError:
                # A save started in another layout meanwhile: give back what we created.
                await self.io.delete(created)
                raise
            manifests = {layout.manifest_key(backup_id) for layout in layouts}
            for layout in layouts:
                keys = await self.io.list_keys(layout.contents_prefix(backup_id))
                await self.io.delete([k for k in keys if k not in manifests])
            # Our own records go before the manifest too: the catalog's entries.
            await self._catalog.forget(manifests, backup_id)
            held = [layout for layout in layouts if await self._still_held(layout, backup_id)]
            await self.io.delete([layout.manifest_key(backup_id) for layout in held])

    async def _refuse_in_progress(self, layout: KeyLayout, backup_id: BackupIdentifier) -> None:
        key = layout.manifest_key(backup_id)
        found = await self._get_manifest(key)
        if found is not None:
            self._refuse_if_in_progress(self._decode(found.data, key), key)

    @staticmethod
    def _refuse_if_in_progress(manifest: Manifest, key: str) -> None:
        if manifest.status_code is BackupStatusCode.IN_PROGRESS:
            raise InvalidBackupStateError(
                f"backup {manifest.id} is IN_PROGRESS; mark it failed before deleting it",
                status=BackupStatusCode.IN_PROGRESS,
                key=key,
            )

    async def _claim(self, layout: KeyLayout, backup_id: BackupIdentifier) -> bool:
        """Step 1 of delete in one layout: the manifest is FAILED when this returns.

        Returns whether the manifest was created here (none existed).
        """
        key = layout.manifest_key(backup_id)
        for _attempt in range(MARK_FAILED_ATTEMPTS):
            found = await self._get_manifest(key)
            try:
                if found is None:
                    claim = Manifest.failed_never_saved(backup_id, DELETING_REASON, Instant.now())
                    await self.io.put(key, self.format.encode(claim, layout), create_only=True)
                    return True
                manifest = self._decode(found.data, key)
                self._refuse_if_in_progress(manifest, key)
                if manifest.status_code is not BackupStatusCode.FAILED:
                    failed = manifest.failed(DELETING_REASON, Instant.now())
                    await self.io.replace(key, self.format.encode(failed, layout), found.version)
                return False  # a FAILED manifest only ever changes by being deleted
            except WriteConflict:
                continue  # changed under us: read again
        raise InvalidBackupStateError(f"backup {backup_id} kept changing while it was deleted")

    async def _still_held(self, layout: KeyLayout, backup_id: BackupIdentifier) -> bool:
        """Whether the manifest is still the FAILED one this delete holds.

        Only another delete removes a FAILED manifest; if one did while this one
        was removing files, a save may have started since and lost files to us:
        its manifest is then marked FAILED (and left in place), never COMPLETED.
        """
        key = layout.manifest_key(backup_id)
        for _attempt in range(MARK_FAILED_ATTEMPTS):
            found = await self._get_manifest(key)
            if found is None:
                return False
            manifest = self._decode(found.data, key)
            if manifest.status_code is BackupStatusCode.FAILED:
                return True
            failed = manifest.failed(CONCURRENT_DELETE_REASON, Instant.now())
            try:
                await self.io.replace(key, self.format.encode(failed, layout), found.version)
                return False
            except WriteConflict:
                continue
        raise InvalidBackupStateError(f"backup {backup_id} kept changing while it was deleted")

    # ------------------------------------------------------------ restore

    async def restore(
        self, backup_id: BackupIdentifier, target_dir: Path, *, allow_unverified: bool = False
    ) -> Backup:
        with self._verb("restore", backup_id):
            claimed = await self._owner.check(writing=False)
            stored, integrity = await self._manifest_and_integrity(backup_id)
            manifest = self._restorable(backup_id, stored)
            assert stored is not None and manifest.descriptor is not None  # checked above
            records = self._integrity_of(stored, integrity)
            files = manifest.files()
            names = [entry.name for _, entry in files]
            if records is None:
                self._accept_unverified(backup_id, stored, claimed, allow_unverified)
            target_dir = Path(target_dir)
            try:
                target_dir.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise InvalidInputError(
                    f"cannot restore into {target_dir}: {error.strerror}"
                ) from None
            _check_restorable_names(target_dir, names)
            # Short staging names: a long file name must not overflow NAME_MAX.
            staging = uuid4().hex[:12]
            in_flight = [target_dir / f".{staging}-{i}.restoring" for i in range(len(names))]
            published: builtins.list[Path] = []
            complete = False
            try:
                items = [(f, e, path) for (f, e), path in zip(files, in_flight, strict=True)]
                with FolderSync(target_dir) as sync:  # opened before the writes
                    await self._batched(
                        len(items),
                        lambda i: _small_stored(records, *files[i]),
                        lambda batch: self._download(stored, [items[i] for i in batch], records),
                    )
                    await in_transfer_thread(
                        lambda _stop: _publish(sync, in_flight, names, published)
                    )
                complete = True
            except OSError as error:
                for path in published:  # all or nothing
                    path.unlink(missing_ok=True)
                if isinstance(error, BackupStoreError):
                    raise
                raise RestoreTargetError(
                    f"cannot write into {target_dir}: {error.strerror or error}"
                ) from None
            finally:
                if not complete:  # (once published, no staging name is left)
                    for path in in_flight:
                        path.unlink(missing_ok=True)
            restored = [
                NamedFileSet({e.name: target_dir / e.name for f, e in files if f == file_set})
                for file_set in FILE_SETS
            ]
            return Backup(backup_id, manifest.descriptor, *restored)

    def _accept_unverified(
        self,
        backup_id: BackupIdentifier,
        stored: StoredManifest,
        claimed: bool,
        allow_unverified: bool,
    ) -> None:
        """The integrity table of ``docs/on-store-format.md`` for a backup without a record."""
        if not claimed:
            log.info("%s: backup %s was written by Zeebe: presence checks only", self, backup_id)
            return
        missing = (
            f"backup {backup_id} has no integrity record tied to its manifest (missing, or "
            "left by an earlier backup of the same id), so its bytes cannot be checked"
        )
        if not allow_unverified:
            raise UnverifiedBackupError(
                f"{missing}; restoring it needs allow_unverified=True (CLI: --allow-unverified)",
                key=stored.layout.integrity_key(backup_id),
            )
        log.warning("%s: %s; restoring UNVERIFIED data, presence checks only", self, missing)

    @staticmethod
    def _restorable(backup_id: BackupIdentifier, stored: StoredManifest | None) -> Manifest:
        """The manifest of a COMPLETED backup whose files can be restored flat."""
        status = stored.manifest.status_code if stored else BackupStatusCode.DOES_NOT_EXIST
        if stored is None or status is not BackupStatusCode.COMPLETED:
            raise InvalidBackupStateError(
                f"cannot restore backup {backup_id}: its status is {status.value}, not COMPLETED",
                status=status,
            )
        manifest = stored.manifest
        names = [entry.name for _, entry in manifest.files()]
        try:
            for name in names:
                check_file_name(name)
        except InvalidInputError as error:
            raise ManifestParseError(error.message, key=stored.key) from None
        if len(set(names)) != len(names):
            raise ManifestParseError("the manifest names one file twice", key=stored.key)
        if manifest.descriptor is None:
            raise ManifestParseError("a COMPLETED manifest has no descriptor", key=stored.key)
        return manifest

    async def _download(
        self,
        stored: StoredManifest,
        batch: Sequence[tuple[str, FileEntry, Path]],
        records: IntegrityRecord | None,
    ) -> builtins.list[None]:
        """Restore ``(file set, entry, target)`` files and check each against its
        record; a batch of small ones through :meth:`ObjectIO.download_each`."""
        receivers = [self._receiver(stored, *item) for item in batch]
        if len(receivers) == 1:
            [(key, write, _)] = receivers
            await self.io.download(key, write)
        else:
            await self.io.download_each([(key, write) for key, write, _ in receivers])
        if records is not None:
            for (file_set, entry, _), (key, _, digest) in zip(batch, receivers, strict=True):
                _check_restored(records, file_set, entry, key, digest)
        return [None] * len(batch)

    def _receiver(
        self, stored: StoredManifest, file_set: str, entry: FileEntry, target: Path
    ) -> tuple[str, Callable[[Iterator[Chunk]], None], Digest]:
        """An object's key, what writes it to ``target`` (in the transfer thread:
        fetch, decompress, hash, write) and the digest of what it wrote."""
        key = self.file_key(stored, file_set, entry)
        _check_compression(stored, entry)
        digest = Digest()

        def write(chunks: Iterator[Chunk]) -> None:
            if entry.compression == ZSTD:
                chunks = decompress(chunks, key=key)
            write_file(target, hashed(chunks, digest), sync=False)  # durable in _publish

        return key, write, digest

    # ------------------------------------------------------------ close

    async def close(self) -> None:
        self._closed = True


def _check_restorable_names(target_dir: Path, names: Sequence[str]) -> None:
    """Every name fits the target folder's filesystem (reading stays lenient: any
    name the folder can hold is restored, whatever wrote it)."""
    try:
        name_max = os.pathconf(target_dir, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = NAME_MAX
    for name in names:
        try:
            size = len(os.fsencode(name))
        except UnicodeEncodeError:
            raise RestoreTargetError(
                f"cannot restore {name!r} into {target_dir}: not a valid file name there"
            ) from None
        if size > name_max:
            raise RestoreTargetError(
                f"cannot restore {name!r} into {target_dir}: the name is {size} bytes, over "
                f"the folder's limit of {name_max} bytes per name"
            )


SMALL_FILE = CHUNK_SIZE
"""Files up to this size move in batches (:meth:`ObjectIO.upload_each`, ``download_each``)."""
BATCH_FILES = 64
"""At most this many small files per batch."""


def _batches(items: Sequence[int], lanes: int) -> builtins.list[builtins.list[int]]:
    """``items`` in consecutive batches of at most :data:`BATCH_FILES`, and at least
    ``lanes`` batches when there are that many items: batching never costs concurrency."""
    size = max(1, min(BATCH_FILES, -(-len(items) // lanes)))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _stored(
    file: FileToStore, key: str, original: Digest, form: StoredForm
) -> tuple[FileRecord, FileEntry]:
    """The integrity record of a stored file, and its manifest entry as stored."""
    if original.size != file.size:
        raise SourceFileNotFoundError(
            f"source of {file.file_set}/{file.name} gave {original.size} bytes, "
            f"expected {file.size}",
            key=key,
        )
    stored_size = form.size if form.compressed else original.size
    entry = FileEntry(file.name, ZSTD if form.compressed else None)
    return FileRecord(original.size, original.sha256, stored_size), entry


def _small_stored(records: IntegrityRecord | None, file_set: str, entry: FileEntry) -> bool:
    """Whether the record says the file is stored in at most :data:`SMALL_FILE` bytes
    (without a record, sizes are unknown: every file alone)."""
    record = None if records is None else records.get(record_name(file_set, entry.name))
    return record is not None and entry.compression is None and record.stored_size <= SMALL_FILE


def _check_restored(
    records: IntegrityRecord, file_set: str, entry: FileEntry, key: str, digest: Digest
) -> None:
    record = records.get(record_name(file_set, entry.name))
    if record is None:
        raise IntegrityError(f"no integrity record for {file_set}/{entry.name}", key=key)
    if (digest.size, digest.sha256) != (record.size, record.sha256):
        raise IntegrityError(
            f"{file_set}/{entry.name} does not match what was saved: "
            f"size {digest.size} (expected {record.size}), "
            f"sha256 {digest.sha256} (expected {record.sha256})",
            key=key,
        )


def _publish(
    sync: FolderSync, in_flight: Sequence[Path], names: Sequence[str], published: list[Path]
) -> None:
    """Give restored files their names once every one passed its checks. Blocking.

    The bytes are made durable first (one ``syncfs``, the work of ``sync -f``),
    then the renames (one fsync of the folder): after a crash a name holds its
    whole file or is absent.
    """
    sync.sync(in_flight)
    for path, name in zip(in_flight, names, strict=True):
        path.replace(sync.folder / name)
        published.append(sync.folder / name)
    fsync_directory(sync.folder)


def _check_compression(stored: StoredManifest, entry: FileEntry) -> None:
    if entry.compression not in (None, ZSTD):
        raise ManifestParseError(
            f"unknown compression {entry.compression!r} of {entry.name}", key=stored.key
        )


def _read_async(path: Path, size: int) -> AsyncIterator[bytes]:
    return iterate_in_thread(read_file(path, size))

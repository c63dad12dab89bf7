"""The backup store machinery, written once over any obstore store.

Each backend (S3, GCS, Azure, filesystem, memory) only turns its configuration
into an obstore ``ObjectStore`` and states its quirks (class attributes and a
few overridable low-level methods); everything of the life cycle, layout,
manifests, integrity records, ownership marker, streaming and error handling is
here.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import obstore
from obstore import exceptions as obstore_errors
from obstore.store import LocalStore

from backup_store.errors import (
    BackupAlreadyExistsError,
    BackupStoreError,
    ConfigurationError,
    ForeignStoreKindError,
    IntegrityError,
    InvalidBackupStateError,
    InvalidInputError,
    ManifestParseError,
    SourceFileNotFoundError,
    StoreClosedError,
    StoreUnavailableError,
    translate_obstore_error,
)
from backup_store.instant import Instant
from backup_store.layout import (
    KeyLayout,
    StoreKind,
    check_base_path,
    owner_marker_key,
    read_layouts,
    write_layout,
)
from backup_store.manifest import (
    ZSTD,
    FileEntry,
    Manifest,
    WrongManifestFormError,
    decode_manifest,
    encode_manifest,
)
from backup_store.model import (
    Backup,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
    BackupStatusCode,
    NamedFileSet,
    SourceFile,
    check_file_name,
)
from backup_store.store import BackupStore
from backup_store.tasks import run_bounded
from backup_store.transfer import (
    CHUNK_SIZE,
    COMPRESSION_THRESHOLD,
    Digest,
    compress_zstd,
    decompress_zstd,
    read_local,
    source_size,
    tap,
    write_local,
)

if TYPE_CHECKING:
    from obstore.store import ObjectStore

T = TypeVar("T")

DEFAULT_PART_SIZE = 8 * 1024 * 1024
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_PART_CONCURRENCY = 4


class WriteConflict(Exception):
    """A create-only or version-matched write lost against another writer."""


@dataclass(frozen=True)
class ObjectVersion:
    """What a conditional update must match: the backend's e-tag/version, or the bytes."""

    e_tag: str | None
    version: str | None
    sha256: str


@dataclass(frozen=True)
class FileRecord:
    """Integrity record of one stored file (original bytes and stored bytes)."""

    size: int
    sha256: str
    stored_size: int

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "sha256": self.sha256, "storedSize": self.stored_size}


@dataclass(frozen=True)
class StoredManifest:
    """A manifest as read from the store, with where it was and its version."""

    manifest: Manifest
    layout: KeyLayout
    key: str
    version: ObjectVersion


@dataclass(frozen=True)
class FileToStore:
    """One file of a backup being written: where its bytes come from."""

    file_set: str
    name: str
    size: int
    open: Callable[[], AsyncIterator[bytes]]


class ObjectBackupStore(BackupStore):
    """A :class:`BackupStore` over an obstore ``ObjectStore``.

    Args:
        object_store: where the bytes go.
        base_path: key prefix of every object (``store-format.md`` §2).
        description: how the store is named in errors and logs; never credentials.
        compression: ``"zstd"`` to compress files over 8 MiB (S3 only records it).
        max_concurrency: files transferred at once.
        part_size: bytes per multipart part; files up to this size go in one request.
        part_concurrency: parts of one file in flight at once. Peak buffered memory
            is about ``max_concurrency x part_concurrency x part_size``.
        batch_delete: delete many objects per request (off for S3-compatible
            services without DeleteObjects).
    """

    kind: ClassVar[StoreKind]

    def __init__(
        self,
        object_store: ObjectStore,
        *,
        base_path: str | None = None,
        description: str,
        compression: str | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        part_size: int = DEFAULT_PART_SIZE,
        part_concurrency: int = DEFAULT_PART_CONCURRENCY,
        batch_delete: bool = True,
    ) -> None:
        if compression not in (None, "none", ZSTD):
            raise ConfigurationError(f"unknown compression {compression!r}: use 'zstd' or 'none'")
        if compression == ZSTD and self.kind is not StoreKind.S3:
            raise ConfigurationError(
                f"compression is only recorded by the S3 manifest form, not by {self.kind.label}"
            )
        if max_concurrency < 1 or part_concurrency < 1:
            raise ConfigurationError("max_concurrency and part_concurrency must be at least 1")
        if part_size < 5 * 1024 * 1024:
            raise ConfigurationError(f"part_size must be at least 5 MiB, got {part_size}")
        self._store = object_store
        self.base_path = check_base_path(base_path)
        self.description = description
        self.compression = ZSTD if compression == ZSTD else None
        self.max_concurrency = max_concurrency
        self.part_size = part_size
        self.part_concurrency = part_concurrency
        self.batch_delete = batch_delete
        # LocalStore has no version-matched put; emulate it (compare bytes under a lock).
        self._conditional_updates = not isinstance(object_store, LocalStore)
        self._key_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._owner_confirmed = False
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"

    @property
    def object_store(self) -> ObjectStore:
        """The underlying obstore store (for tools that move raw bytes)."""
        return self._store

    # ------------------------------------------------------------ low level

    @contextmanager
    def _errors(
        self, operation: str, *, key: str | None = None, backup_id: BackupIdentifier | None = None
    ) -> Iterator[None]:
        try:
            yield
        except WriteConflict:
            raise
        except Exception as error:
            raise translate_obstore_error(
                error, store=self.description, operation=operation, key=key, backup_id=backup_id
            ) from error

    async def _write(
        self,
        key: str,
        data: bytes | AsyncIterator[bytes],
        *,
        create_only: bool = False,
        expected: ObjectVersion | None = None,
    ) -> ObjectVersion:
        """Write an object; raises :class:`WriteConflict` when a precondition fails."""
        mode: Any = "create" if create_only else "overwrite"
        if expected is not None:
            mode = {
                k: v for k, v in (("e_tag", expected.e_tag), ("version", expected.version)) if v
            }
        try:
            result = await obstore.put_async(
                self._store,
                key,
                data,
                mode=mode,
                chunk_size=self.part_size,
                max_concurrency=self.part_concurrency,
            )
        except (obstore_errors.AlreadyExistsError, obstore_errors.PreconditionError):
            raise WriteConflict(key) from None
        except (FileNotFoundError, obstore_errors.NotFoundError):  # no bucket/container
            raise StoreUnavailableError("the bucket or container does not exist", key=key) from None
        sha = hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else ""
        return ObjectVersion(result.get("e_tag"), result.get("version"), sha)

    async def _read(self, key: str) -> tuple[bytes, ObjectVersion] | None:
        """A small object's bytes and version, or None when it does not exist."""
        try:
            result = await obstore.get_async(self._store, key)
            data = bytes(await result.bytes_async())
        except (FileNotFoundError, obstore_errors.NotFoundError):
            return None
        meta = result.meta
        return data, ObjectVersion(meta["e_tag"], meta["version"], hashlib.sha256(data).hexdigest())

    async def _stream(self, key: str) -> AsyncIterator[bytes]:
        result = await obstore.get_async(self._store, key)
        async for chunk in result.stream(min_chunk_size=CHUNK_SIZE):
            yield bytes(chunk)

    async def _list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        async for batch in obstore.list(self._store, prefix.rstrip("/") or None, chunk_size=1000):
            keys.extend(meta["path"] for meta in batch)
        return keys

    async def _list_key_prefix(self, prefix: str) -> builtins.list[str]:
        """Keys starting with ``prefix``, which may end inside a path segment.

        obstore lists whole path segments only, so a checkpoint prefix such as
        ``.../1/10`` is pushed down by listing the folder's sub-folders first and
        then only the ones that match (never every object of the partition).
        """
        if prefix == "" or prefix.endswith("/"):
            return await self._list_keys(prefix)
        folder, _, _ = prefix.rpartition("/")
        try:
            listing = await obstore.list_with_delimiter_async(self._store, folder or None)
        except (FileNotFoundError, obstore_errors.NotFoundError):
            return []
        keys = [m["path"] for m in listing["objects"] if m["path"].startswith(prefix)]
        matching = [p for p in listing["common_prefixes"] if p.startswith(prefix)]
        for found in await self._bounded([partial(self._list_keys, p + "/") for p in matching]):
            keys.extend(found)
        return keys

    async def _delete_keys(self, keys: list[str]) -> None:
        if not keys:
            return
        if self.batch_delete:
            await obstore.delete_async(self._store, keys)
        else:
            await self._bounded([partial(obstore.delete_async, self._store, k) for k in keys])

    @asynccontextmanager
    async def _exclusive(self, key: str) -> AsyncIterator[None]:
        """Serialise read-compare-write cycles on one key (in this process)."""
        lock = self._key_locks.get(key)
        if lock is None:
            lock = self._key_locks[key] = asyncio.Lock()
        async with lock:
            yield

    async def _replace(self, key: str, data: bytes, expected: ObjectVersion) -> ObjectVersion:
        """Overwrite ``key`` only if it still holds the version ``expected``."""
        if self._conditional_updates and (expected.e_tag or expected.version):
            return await self._write(key, data, expected=expected)
        async with self._exclusive(key):
            current = await self._read(key)
            if current is None or current[1].sha256 != expected.sha256:
                raise WriteConflict(key)
            return await self._write(key, data)

    async def _bounded(self, jobs: Sequence[Callable[[], Awaitable[T]]]) -> builtins.list[T]:
        return await run_bounded(jobs, self.max_concurrency)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the store is closed", store=self.description)

    async def _prepare_location(self) -> None:
        """Before the first write to an unclaimed location (e.g. create a container)."""

    # ------------------------------------------------------------ ownership marker

    async def _check_owner(self, *, writing: bool, operation: str) -> None:
        """Refuse a location that another store kind owns; claim it before the first write."""
        if self._owner_confirmed:
            return
        key = owner_marker_key(self.base_path)
        with self._errors(operation, key=key):
            found = await self._read(key)
            if found is None and writing:
                await self._prepare_location()
                marker = json.dumps({"storeKind": self.kind.value, "format": 1}).encode()
                try:
                    await self._write(key, marker, create_only=True)
                    self._owner_confirmed = True
                    return
                except WriteConflict:
                    found = await self._read(key)
        if found is None:
            return  # nobody claimed it: empty, or written by Zeebe itself
        try:
            owner = str(json.loads(found[0])["storeKind"])
        except (ValueError, KeyError, TypeError):
            raise ManifestParseError(
                "the store-kind marker is unreadable", store=self.description, key=key
            ) from None
        if owner != self.kind.value:
            raise ForeignStoreKindError(
                f"this location holds backups written by the {owner} store kind; "
                f"the {self.kind.value} store does not read them",
                owner_kind=owner,
                store=self.description,
                key=key,
                operation=operation,
            )
        self._owner_confirmed = True

    def _foreign_form(self, error: WrongManifestFormError, key: str, operation: str) -> Exception:
        owner = "s3" if error.found.value == "s3" else "gcs, azure or filesystem"
        return ForeignStoreKindError(
            f"the manifest at this key was written by the {owner} store kind "
            f"({error.found.value} form); the {self.kind.value} store does not read it",
            owner_kind=owner,
            store=self.description,
            key=key,
            operation=operation,
        )

    # ------------------------------------------------------------ manifests

    def _decode(self, data: bytes, key: str, operation: str) -> Manifest:
        try:
            return decode_manifest(data, self.kind.manifest_form)
        except WrongManifestFormError as error:
            raise self._foreign_form(error, key, operation) from None
        except ManifestParseError as error:
            raise error.with_context(store=self.description, key=key, operation=operation) from None

    def _encode(self, manifest: Manifest, layout: KeyLayout) -> bytes:
        # Zeebe 8.9+ writes ISO dates in its (split) S3 layout.
        return encode_manifest(manifest, self.kind.manifest_form, iso_dates=layout.split)

    async def _find_manifest(
        self, backup_id: BackupIdentifier, operation: str
    ) -> StoredManifest | None:
        for layout in read_layouts(self.kind, self.base_path):
            key = layout.manifest_key(backup_id)
            with self._errors(operation, key=key, backup_id=backup_id):
                found = await self._read(key)
            if found is not None:
                manifest = self._decode(found[0], key, operation)
                if manifest.id != backup_id:
                    raise ManifestParseError(
                        f"the manifest names backup {manifest.id}, not the one at its key",
                        store=self.description,
                        key=key,
                        backup_id=backup_id,
                        operation=operation,
                    )
                return StoredManifest(manifest, layout, key, found[1])
        return None

    async def read_manifest(
        self, backup_id: BackupIdentifier, *, operation: str = "read manifest"
    ) -> StoredManifest | None:
        """The backup's manifest as stored, or None (for verify and migrate tools)."""
        self._check_open()
        await self._check_owner(writing=False, operation=operation)
        return await self._find_manifest(backup_id, operation)

    # ------------------------------------------------------------ contract: status, list

    async def get_status(self, backup_id: BackupIdentifier) -> BackupStatus:
        stored = await self.read_manifest(backup_id, operation="status")
        if stored is None:
            return BackupStatus(backup_id, BackupStatusCode.DOES_NOT_EXIST)
        return stored.manifest.to_status()

    async def list(
        self,
        wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard(),  # noqa: B008
    ) -> list[BackupStatus]:
        stored = await self.list_manifests(wildcard)
        return [s.manifest.to_status() for s in stored]

    async def list_ids(
        self,
        wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard(),  # noqa: B008
    ) -> builtins.list[BackupIdentifier]:
        """Ids of every backup with a manifest matching the wildcard, from keys alone."""
        self._check_open()
        await self._check_owner(writing=False, operation="list")
        return builtins.list(await self._manifest_keys(wildcard, "list"))

    async def _manifest_keys(
        self, wildcard: BackupIdentifierWildcard, operation: str
    ) -> dict[BackupIdentifier, tuple[KeyLayout, str]]:
        found: dict[BackupIdentifier, tuple[KeyLayout, str]] = {}
        for layout in read_layouts(self.kind, self.base_path):
            prefix = layout.list_prefix(wildcard)
            with self._errors(operation, key=prefix):
                keys = await self._list_key_prefix(prefix)
            for key in keys:
                backup_id = layout.parse_manifest_key(key)
                if backup_id is not None and wildcard.matches(backup_id):
                    found.setdefault(backup_id, (layout, key))
        return found

    async def list_manifests(
        self, wildcard: BackupIdentifierWildcard
    ) -> builtins.list[StoredManifest]:
        """Every stored manifest the wildcard matches (for verify and migrate tools)."""
        self._check_open()
        operation = "list"
        await self._check_owner(writing=False, operation=operation)
        found = await self._manifest_keys(wildcard, operation)

        async def load(backup_id: BackupIdentifier, layout: KeyLayout, key: str) -> Any:
            with self._errors(operation, key=key, backup_id=backup_id):
                data = await self._read(key)
            if data is None:  # deleted while listing
                return None
            return StoredManifest(self._decode(data[0], key, operation), layout, key, data[1])

        results = await self._bounded([partial(load, i, *lk) for i, lk in found.items()])
        return [r for r in results if r is not None]

    # ------------------------------------------------------------ contract: save

    async def save(self, backup: Backup) -> None:
        self._check_open()
        # Every source is checked (exists, regular file, long enough) before any write.
        files = []
        for file_set, named in (("snapshot", backup.snapshot), ("segments", backup.segments)):
            for name, source in named.sources.items():
                size = self._checked_size(source, backup.id)
                files.append(FileToStore(file_set, name, size, partial(read_local, source, size)))
        manifest = Manifest.in_progress(
            backup.id,
            backup.descriptor,
            tuple(FileEntry(f.name) for f in files if f.file_set == "snapshot"),
            tuple(FileEntry(f.name) for f in files if f.file_set == "segments"),
            Instant.now(),
        )
        await self.write_backup(manifest, files, operation="save")

    def _checked_size(self, source: SourceFile, backup_id: BackupIdentifier) -> int:
        try:
            return source_size(source)
        except SourceFileNotFoundError as error:
            raise error.with_context(
                store=self.description, backup_id=backup_id, operation="save"
            ) from None

    async def write_backup(
        self,
        manifest: Manifest,
        files: Sequence[FileToStore],
        *,
        operation: str = "save",
        before_complete: Callable[[StoredManifest], Awaitable[None]] | None = None,
    ) -> None:
        """Write a backup from any byte sources, keeping ``manifest``'s timestamps.

        The manifest given is the IN_PROGRESS one (``save``) or, for migration,
        the source's final manifest: its status is written last, after the data,
        and it is created exclusively first as IN_PROGRESS. ``before_complete``
        runs when every file and the integrity record are stored, before the
        final manifest (e.g. to read everything back); if it raises, the backup
        is marked FAILED like any other failure.
        """
        self._check_open()
        backup_id = manifest.id
        await self._check_owner(writing=True, operation=operation)
        layout = write_layout(
            self.kind,
            self.base_path,
            manifest.descriptor.broker_version if manifest.descriptor else None,
        )
        for other in read_layouts(self.kind, self.base_path):
            if other != layout:
                await self._refuse_existing(other, backup_id, operation)
        key = layout.manifest_key(backup_id)
        compress = {
            (f.file_set, f.name): self.compression is not None and f.size > COMPRESSION_THRESHOLD
            for f in files
        }

        def entries(
            file_set: str, declared: tuple[FileEntry, ...] | None
        ) -> tuple[FileEntry, ...] | None:
            found = tuple(
                FileEntry(f.name, ZSTD if compress[(f.file_set, f.name)] else None)
                for f in files
                if f.file_set == file_set
            )
            # A manifest without file sets (Zeebe's "failed before taken") keeps none.
            return None if declared is None and not found else found

        final = Manifest(
            backup_id,
            manifest.status_code,
            manifest.descriptor,
            entries("snapshot", manifest.snapshot_files),
            entries("segments", manifest.segment_files),
            manifest.created_at,
            manifest.modified_at,
            manifest.failure_reason,
        )
        started = Manifest(
            backup_id,
            BackupStatusCode.IN_PROGRESS,
            final.descriptor,
            final.snapshot_files,
            final.segment_files,
            final.created_at,
            final.created_at,
        )
        with self._errors(operation, key=key, backup_id=backup_id):
            try:
                version = await self._write(key, self._encode(started, layout), create_only=True)
            except WriteConflict:
                await self._refuse_existing(layout, backup_id, operation)
                raise BackupAlreadyExistsError(
                    f"backup {backup_id} was created concurrently by another writer",
                    store=self.description,
                    key=key,
                    backup_id=backup_id,
                    operation=operation,
                ) from None
        try:
            records = await self._bounded(
                [
                    partial(
                        self._upload,
                        layout,
                        backup_id,
                        f,
                        compress[(f.file_set, f.name)],
                        operation,
                    )
                    for f in files
                ]
            )
            integrity = {
                f"{f.file_set}/{f.name}": r.to_json() for f, r in zip(files, records, strict=True)
            }
            ikey = layout.integrity_key(backup_id)
            with self._errors(operation, key=ikey, backup_id=backup_id):
                await self._write(ikey, json.dumps({"format": 1, "files": integrity}).encode())
            if before_complete is not None:
                await before_complete(StoredManifest(started, layout, key, version))
            if manifest.status_code is BackupStatusCode.IN_PROGRESS:
                done = final.completed(Instant.now())
            else:
                done = final
            with self._errors(operation, key=key, backup_id=backup_id):
                try:
                    await self._replace(key, self._encode(done, layout), version)
                except WriteConflict:
                    raise InvalidBackupStateError(
                        f"backup {backup_id} was changed by another writer while it was saved",
                        store=self.description,
                        key=key,
                        backup_id=backup_id,
                        operation=operation,
                    ) from None
        except BaseException as error:
            await asyncio.shield(self._fail_after_error(layout, key, started, version, error))
            raise

    async def _refuse_existing(
        self, layout: KeyLayout, backup_id: BackupIdentifier, operation: str
    ) -> None:
        key = layout.manifest_key(backup_id)
        with self._errors(operation, key=key, backup_id=backup_id):
            found = await self._read(key)
        if found is not None:
            status = self._decode(found[0], key, operation).status_code
            raise BackupAlreadyExistsError(
                f"backup {backup_id} already exists with status {status.value}",
                status=status,
                store=self.description,
                key=key,
                backup_id=backup_id,
                operation=operation,
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
            reason = "The backup was cancelled before it completed."
        elif isinstance(error, BackupStoreError):
            reason = error.message
        else:
            reason = f"{type(error).__name__}: {error}"
        with suppress(Exception):
            await self._replace(
                key, self._encode(started.failed(reason, Instant.now()), layout), version
            )

    async def _upload(
        self,
        layout: KeyLayout,
        backup_id: BackupIdentifier,
        file: FileToStore,
        compress: bool,
        operation: str,
    ) -> FileRecord:
        key = layout.file_key(backup_id, file.file_set, file.name)
        original = Digest()
        chunks = tap(file.open(), original)
        stored = original  # unless compressed, the stored bytes are the original bytes
        if compress:
            stored = Digest()
            chunks = tap(compress_zstd(chunks), stored)
        with self._errors(operation, key=key, backup_id=backup_id):
            if file.size <= self.part_size and not compress:
                # Small files: one request instead of a multipart upload.
                await self._write(key, b"".join([c async for c in chunks]))
            else:
                await self._write(key, chunks)
        if original.size != file.size:
            raise SourceFileNotFoundError(
                f"source of {file.file_set}/{file.name} gave {original.size} bytes, "
                f"expected {file.size}",
                store=self.description,
                key=key,
                backup_id=backup_id,
                operation=operation,
            )
        return FileRecord(original.size, original.sha256, stored.size)

    # ------------------------------------------------------------ contract: mark failed

    async def mark_failed(self, backup_id: BackupIdentifier, reason: str) -> BackupStatusCode:
        self._check_open()
        operation = "mark failed"
        await self._check_owner(writing=True, operation=operation)
        for _attempt in range(10):
            stored = await self._find_manifest(backup_id, operation)
            with self._errors(operation, backup_id=backup_id):
                try:
                    if stored is None:
                        layout = write_layout(self.kind, self.base_path, None)
                        manifest = Manifest.failed_unknown(backup_id, reason, Instant.now())
                        await self._write(
                            layout.manifest_key(backup_id),
                            self._encode(manifest, layout),
                            create_only=True,
                        )
                    elif stored.manifest.status_code is not BackupStatusCode.FAILED:
                        failed = stored.manifest.failed(reason, Instant.now())
                        await self._replace(
                            stored.key, self._encode(failed, stored.layout), stored.version
                        )
                    return BackupStatusCode.FAILED
                except WriteConflict:
                    continue  # changed under us (e.g. just completed): read again
        raise InvalidBackupStateError(
            f"backup {backup_id} kept changing while it was marked failed",
            store=self.description,
            backup_id=backup_id,
            operation=operation,
        )

    # ------------------------------------------------------------ contract: delete

    async def delete(self, backup_id: BackupIdentifier) -> None:
        self._check_open()
        operation = "delete"
        await self._check_owner(writing=False, operation=operation)
        stored = await self._find_manifest(backup_id, operation)
        if stored is not None and stored.manifest.status_code is BackupStatusCode.IN_PROGRESS:
            raise InvalidBackupStateError(
                f"backup {backup_id} is IN_PROGRESS; mark it failed before deleting it",
                status=BackupStatusCode.IN_PROGRESS,
                store=self.description,
                key=stored.key,
                backup_id=backup_id,
                operation=operation,
            )
        for layout in read_layouts(self.kind, self.base_path):
            manifest_key = layout.manifest_key(backup_id)
            # Manifest first: a crash part-way leaves leftovers, never a manifest
            # that points at missing data. A second delete removes the leftovers.
            with self._errors(operation, key=manifest_key, backup_id=backup_id):
                if stored is not None and stored.layout == layout:
                    await self._delete_keys([manifest_key])
                prefix = layout.contents_prefix(backup_id)
                await self._delete_keys(await self._list_keys(prefix))

    # ------------------------------------------------------------ contract: restore

    async def restore(self, backup_id: BackupIdentifier, target_dir: Path) -> Backup:
        self._check_open()
        operation = "restore"
        await self._check_owner(writing=False, operation=operation)
        stored = await self._find_manifest(backup_id, operation)
        status = stored.manifest.status_code if stored else BackupStatusCode.DOES_NOT_EXIST
        if stored is None or status is not BackupStatusCode.COMPLETED:
            raise InvalidBackupStateError(
                f"cannot restore backup {backup_id}: its status is {status.value}, not COMPLETED",
                status=status,
                store=self.description,
                backup_id=backup_id,
                operation=operation,
            )
        manifest = stored.manifest
        problem = _unrestorable(manifest)
        if problem is not None or manifest.descriptor is None:
            raise ManifestParseError(
                problem or "a COMPLETED manifest has no descriptor",
                store=self.description,
                key=stored.key,
                backup_id=backup_id,
                operation=operation,
            )
        files = manifest.files()
        names = [entry.name for _, entry in files]
        records = await self.read_integrity(stored)
        target_dir = Path(target_dir)
        try:
            target_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InvalidInputError(
                f"cannot restore into {target_dir}: {error.strerror}",
                store=self.description,
                backup_id=backup_id,
                operation=operation,
            ) from None
        in_flight = [target_dir / f".{name}.restoring" for name in names]
        try:
            await self._bounded(
                [
                    partial(self._download, stored, fs, e, records, p)
                    for (fs, e), p in zip(files, in_flight, strict=True)
                ]
            )
            # Publish names only once every file passed its checks.
            for path, name in zip(in_flight, names, strict=True):
                path.replace(target_dir / name)
        finally:
            for path in in_flight:
                path.unlink(missing_ok=True)
        restored = {
            fs: NamedFileSet({e.name: target_dir / e.name for f, e in files if f == fs})
            for fs in ("snapshot", "segments")
        }
        return Backup(backup_id, manifest.descriptor, restored["snapshot"], restored["segments"])

    async def read_integrity(self, stored: StoredManifest) -> dict[str, FileRecord] | None:
        """The integrity records of a backup, or None for backups Zeebe wrote."""
        key = stored.layout.integrity_key(stored.manifest.id)
        with self._errors("read integrity", key=key, backup_id=stored.manifest.id):
            found = await self._read(key)
        if found is None:
            return None
        try:
            raw = json.loads(found[0])["files"]
            return {
                name: FileRecord(int(r["size"]), str(r["sha256"]), int(r["storedSize"]))
                for name, r in raw.items()
            }
        except (ValueError, KeyError, TypeError, AttributeError):
            raise IntegrityError(
                "the integrity record is unreadable",
                store=self.description,
                key=key,
                backup_id=stored.manifest.id,
            ) from None

    def file_key(self, stored: StoredManifest, file_set: str, entry: FileEntry) -> str:
        return stored.layout.file_key(stored.manifest.id, file_set, entry.name)

    async def open_file(
        self, stored: StoredManifest, file_set: str, entry: FileEntry
    ) -> AsyncIterator[bytes]:
        """The original bytes of one file of a backup, decompressed as recorded."""
        key = self.file_key(stored, file_set, entry)
        chunks: AsyncIterator[bytes] = self._stream(key)
        if entry.compression == ZSTD:
            chunks = decompress_zstd(chunks, key=key)
        elif entry.compression is not None:
            raise ManifestParseError(
                f"unknown compression {entry.compression!r} of {entry.name}",
                store=self.description,
                key=stored.key,
                backup_id=stored.manifest.id,
            )
        with self._errors("read", key=key, backup_id=stored.manifest.id):
            async for chunk in chunks:
                yield chunk

    async def _download(
        self,
        stored: StoredManifest,
        file_set: str,
        entry: FileEntry,
        records: dict[str, FileRecord] | None,
        target: Path,
    ) -> None:
        key = self.file_key(stored, file_set, entry)
        digest = Digest()
        await write_local(target, tap(self.open_file(stored, file_set, entry), digest))
        if records is None:
            return
        record = records.get(f"{file_set}/{entry.name}")
        if record is None:
            raise IntegrityError(
                f"no integrity record for {file_set}/{entry.name}",
                store=self.description,
                key=key,
                backup_id=stored.manifest.id,
                operation="restore",
            )
        if (digest.size, digest.sha256) != (record.size, record.sha256):
            raise IntegrityError(
                f"{file_set}/{entry.name} does not match what was saved: "
                f"size {digest.size} (expected {record.size}), "
                f"sha256 {digest.sha256} (expected {record.sha256})",
                store=self.description,
                key=key,
                backup_id=stored.manifest.id,
                operation="restore",
            )

    # ------------------------------------------------------------ contract: close

    async def close(self) -> None:
        self._closed = True


def _unrestorable(manifest: Manifest) -> str | None:
    """Why a manifest's file names cannot be restored flat into one folder, if so."""
    names = [entry.name for _, entry in manifest.files()]
    for name in names:
        try:
            check_file_name(name)
        except InvalidInputError as error:
            return error.message
    return "the manifest names one file twice" if len(set(names)) != len(names) else None

"""The engine: Zeebe's backup verbs and life cycle, once, over any :class:`ObjectIO`.

A backend gives the engine three values: its object I/O (the seam to the service,
:mod:`backup_store.io`), its store kind (an identity) and its on-store format
(:mod:`backup_store.format.formats`). The engine never branches on the kind; it
implements :class:`~backup_store.contract.store.BackupStore` and the tools contract
:class:`~backup_store.contract.inspectable.InspectableStore`.

This class only wires: each verb lives in its own module (:mod:`.save`,
:mod:`.restore`, :mod:`.delete`, :mod:`.listing`, :mod:`.inspect`, :mod:`.metadata`) over one
:class:`~.context.StoreContext`, and every verb stamps its errors with the store, the
operation and the backup once (:meth:`ObjectBackupStore._verb`); the seam has
already named the key.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from backup_store.concurrency import ByteBudget, FreshShared
from backup_store.contract.inspectable import (
    NO_PROGRESS,
    BeforeComplete,
    FileToStore,
    InspectableStore,
    ListedManifest,
    RestoreProgress,
    StoredManifest,
    TransferCounters,
)
from backup_store.engine import delete, inspect, listing, metadata, restore, save
from backup_store.engine import manifests as manifest_steps
from backup_store.engine.context import StoreContext
from backup_store.engine.joined import JoinedLists
from backup_store.errors import BackupStoreError, ConfigurationError, StoreClosedError
from backup_store.format.formats import StoreFormat
from backup_store.format.integrity import IntegrityRecord
from backup_store.format.keys import check_base_path
from backup_store.format.manifest import ZSTD, FileEntry, Manifest
from backup_store.io import ObjectIO, ObjectMeta
from backup_store.model import (
    Backup,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
    BackupStatusCode,
)

DEFAULT_MAX_CONCURRENCY = 8
"""Files (or manifests) transferred at once."""
DEFAULT_UPLOAD_MEMORY = 64 * 1024 * 1024
"""Bytes that a store's uploads may buffer at once (see :class:`ByteBudget`): with the
default part settings two large files, each ``(3 + 1) x 8 MiB`` (parts in flight and
the part filling)."""

ALL = BackupIdentifierWildcard()


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
        upload_memory: bytes that uploads and ranged downloads may buffer at once,
            whatever the number of files in flight (:meth:`ObjectIO.upload_memory`
            and :meth:`ObjectIO.download_memory` say what one file needs: for
            multipart uploads and ranged reads ``(io.part_concurrency + 1) x
            io.part_size``). Small files keep ``max_concurrency``; large files wait
            for room.
        incremental: a save makes each file that an earlier COMPLETED backup of the
            partition already holds (same name, size and SHA-256, its object
            unchanged) by copying that object inside the store instead of sending
            its bytes, where the seam declares copies (``False``: send every file).

    Every request of the store (verbs, marker, catalog) goes through :attr:`io`;
    setting it (or :meth:`wrap_io`) rebuilds everything that makes requests over the
    new one, so that a wrapper sees them all.
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
        incremental: bool = True,
    ) -> None:
        if compression not in (None, "none", ZSTD):
            raise ConfigurationError(f"unknown compression {compression!r}: use 'zstd' or 'none'")
        if compression == ZSTD and not format.records_compression:
            raise ConfigurationError(
                f"compression is only recorded by the S3 manifest form, not by the {kind} store"
            )
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be at least 1")
        self.kind = kind
        self.format = format
        self.base_path = check_base_path(base_path)
        self.compression = ZSTD if compression == ZSTD else None
        self.max_concurrency = max_concurrency
        self._memory_budget = ByteBudget(upload_memory)
        self._incremental = incremental
        self.counters = TransferCounters()
        """Bytes uploaded and files and bytes copied by this store's saves."""
        self._closed = False
        self.io = io

    @property
    def io(self) -> ObjectIO:
        """The location's object I/O: the one seam every request of the store takes."""
        return self._ctx.io

    @io.setter
    def io(self, io: ObjectIO) -> None:
        self._ctx = StoreContext(
            io,
            self.kind,
            self.format,
            self.base_path,
            self.compression,
            self.max_concurrency,
            self._memory_budget,
            self._incremental,
            self.counters,
        )
        self._lists = JoinedLists(self._ctx)
        self._partitions: FreshShared[None, builtins.list[int]] = FreshShared(
            lambda _: listing.list_partitions(self._ctx)
        )
        self.description = io.description

    @property
    def incremental(self) -> bool:
        """Whether saves copy unchanged files inside the store (see the class)."""
        return self._incremental

    @incremental.setter
    def incremental(self, incremental: bool) -> None:
        self._incremental = self._ctx.incremental = incremental

    def wrap_io(self, wrap: Callable[[ObjectIO], ObjectIO]) -> None:
        """Put ``wrap(io)`` (a :class:`~backup_store.io.wrapper.WrapperIO`) in front of
        every request the store makes from now on."""
        self.io = wrap(self.io)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"

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

    async def _checked(self, *, writing: bool) -> bool:
        return await self._ctx.owner.check(writing=writing)

    # Zeebe's verbs

    async def save(self, backup: Backup, *, accepted: StoredManifest | None = None) -> None:
        with self._verb("save", backup.id):
            await save.save(self._ctx, backup, accepted)

    async def get_status(self, backup_id: BackupIdentifier) -> BackupStatus:
        stored = await self.read_manifest(backup_id, operation="status")
        if stored is None:
            return BackupStatus(backup_id, BackupStatusCode.DOES_NOT_EXIST)
        return stored.manifest.to_status()

    async def list(self, wildcard: BackupIdentifierWildcard = ALL) -> builtins.list[BackupStatus]:
        """As the contract says; concurrent lists of one wildcard share the work and
        may be handed the same list (:mod:`backup_store.engine.joined`)."""
        with self._verb("list"):
            await self._checked(writing=False)
            return await self._lists(wildcard)

    async def delete(self, backup_id: BackupIdentifier) -> None:
        """Delete as ``store-format.md`` §5 says (see :mod:`backup_store.engine.delete`)."""
        with self._verb("delete", backup_id):
            await self._checked(writing=False)
            await delete.delete(self._ctx, backup_id)

    async def restore(
        self,
        backup_id: BackupIdentifier,
        target_dir: Path,
        *,
        allow_unverified: bool = False,
        progress: RestoreProgress = NO_PROGRESS,
    ) -> Backup:
        with self._verb("restore", backup_id):
            return await restore.restore(
                self._ctx,
                backup_id,
                target_dir,
                allow_unverified=allow_unverified,
                progress=progress,
            )

    async def mark_failed(self, backup_id: BackupIdentifier, reason: str) -> BackupStatusCode:
        with self._verb("mark failed", backup_id):
            await self._checked(writing=True)
            return await delete.mark_failed(self._ctx, backup_id, reason)

    async def store_backup_metadata(self, partition_id: int, content: bytes) -> None:
        with self._verb("store backup metadata"):
            await metadata.store(self._ctx, partition_id, content)

    async def load_backup_metadata(self, partition_id: int) -> bytes | None:
        with self._verb("load backup metadata"):
            return await metadata.load(self._ctx, partition_id)

    async def probe(self, *, writing: bool = False) -> None:
        # The store-kind marker: a small object; writing claims the location with it,
        # as the first write does anyway.
        with self._verb("check location"):
            await self._ctx.io.check_location(self.marker_key)
            await self._checked(writing=writing)

    async def close(self) -> None:
        self._closed = True

    # The tools contract

    async def accept(self, manifest: Manifest) -> StoredManifest:
        with self._verb("accept", manifest.id):
            await self._checked(writing=True)
            return await save.accept(self._ctx, manifest)

    async def write_backup(
        self,
        manifest: Manifest,
        files: Sequence[FileToStore],
        *,
        operation: str = "save",
        before_complete: BeforeComplete | None = None,
        accepted: StoredManifest | None = None,
    ) -> None:
        with self._verb(operation, manifest.id):
            await save.write_backup(
                self._ctx, manifest, files, before_complete=before_complete, accepted=accepted
            )

    async def read_manifest(
        self, backup_id: BackupIdentifier, *, operation: str = "read manifest"
    ) -> StoredManifest | None:
        with self._verb(operation, backup_id):
            await self._checked(writing=False)
            return await manifest_steps.find(self._ctx, backup_id)

    async def list_ids(
        self, wildcard: BackupIdentifierWildcard = ALL
    ) -> builtins.list[BackupIdentifier]:
        with self._verb("list"):
            await self._checked(writing=False)
            return builtins.list(await listing.manifest_keys(self._ctx, wildcard))

    async def scan_manifests(
        self, wildcard: BackupIdentifierWildcard = ALL
    ) -> builtins.list[ListedManifest]:
        with self._verb("list"):
            await self._checked(writing=False)
            return await listing.scan_manifests(self._ctx, wildcard)

    async def list_partitions(self) -> builtins.list[int]:
        with self._verb("list"):
            await self._checked(writing=False)
            return await self._partitions(None)

    async def rebuild_catalog(
        self, wildcard: BackupIdentifierWildcard = ALL, *, must_write: bool = True
    ) -> builtins.list[BackupStatus]:
        with self._verb("rebuild catalog"):
            await self._checked(writing=True)
            return await listing.rebuild_catalog(self._ctx, wildcard, must_write=must_write)

    async def highest_taken(self, partition_id: int) -> dict[int, int]:
        with self._verb("list"):
            await self._checked(writing=False)
            return await self._ctx.catalog.read_taken(partition_id)

    async def has_manifest(self, backup_id: BackupIdentifier) -> bool:
        with self._verb("status", backup_id):
            await self._checked(writing=False)
            return await inspect.has_manifest(self._ctx, backup_id)

    async def read_integrity(self, stored: StoredManifest) -> IntegrityRecord | None:
        with self._verb("read integrity", stored.manifest.id):
            return await inspect.read_integrity(self._ctx, stored)

    async def is_claimed(self) -> bool:
        with self._verb("check location"):
            return await self._checked(writing=False)

    def file_key(self, stored: StoredManifest, file_set: str, entry: FileEntry) -> str:
        return inspect.file_key(stored, file_set, entry)

    def metadata_key(self, partition_id: int) -> str:
        return metadata.metadata_key(self._ctx, partition_id)

    async def backup_keys(self, stored: StoredManifest) -> builtins.list[str]:
        with self._verb("list", stored.manifest.id):
            return await inspect.backup_keys(self._ctx, stored)

    async def stat(self, key: str) -> ObjectMeta | None:
        with self._verb("stat"):
            return await self._ctx.io.head(key)

    async def open_file(
        self, stored: StoredManifest, file_set: str, entry: FileEntry
    ) -> AsyncIterator[bytes]:
        with self._verb("read", stored.manifest.id):
            async for chunk in inspect.open_file(self._ctx, stored, file_set, entry):
                yield chunk

"""The tools contract: what verify, migrate, the CLI and the service may use.

:class:`~backup_store.store.BackupStore` has Zeebe's verbs and nothing else.
Tools need a little more: the manifest as stored (with its key and version),
cheap listings of ids, the integrity records, one file's stored object and its
original bytes, and a way to write a backup from any byte source (migration).
:class:`InspectableStore` is that extension, in the way Rust ``object_store``
separates its required trait from its convenience extension. Every store of
this package implements it (:class:`~backup_store.object_backup_store.ObjectBackupStore`);
tools are typed against it, never against the concrete engine.
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from backup_store.formats import StoreFormat
from backup_store.integrity import FileRecord, IntegrityRecord
from backup_store.layout import KeyLayout
from backup_store.manifest import FileEntry, Manifest
from backup_store.model import BackupIdentifier, BackupIdentifierWildcard, BackupStatus
from backup_store.objects import ObjectIO, ObjectMeta, ObjectVersion
from backup_store.store import BackupStore


@dataclass(frozen=True)
class StoredManifest:
    """A manifest as read from the store: its content, layout, key and version."""

    manifest: Manifest
    layout: KeyLayout
    key: str
    version: ObjectVersion


@dataclass(frozen=True)
class FileToStore:
    """One file of a backup being written: its set, name, size and byte source.

    ``open`` is called once and must yield exactly ``size`` bytes.
    """

    file_set: str
    name: str
    size: int
    open: Callable[[], AsyncIterator[bytes]]


BeforeComplete = Callable[[StoredManifest], Awaitable[None]]
"""Hook of :meth:`InspectableStore.write_backup`, run when every file and the
integrity record are stored, before the final manifest; raising fails the backup."""


class InspectableStore(BackupStore):
    """A :class:`BackupStore` that tools can look into.

    Attributes:
        kind: the store kind (``"s3"``, ``"gcs"``, ``"azure"``, ``"filesystem"``,
            ``"memory"``, or a registered outside kind): the identity that keeps
            one kind from reading another's backups.
        format: the on-store format (:mod:`backup_store.formats`).
        base_path: the configured key prefix, or None.
        description: the location, for messages (never credentials).
        max_concurrency: how many requests tools should run at once on it.
        compression: ``"zstd"`` when the store compresses large files, else None.
        io: the location's object I/O, for tools that examine the location itself
            (``backup-store analyze``); everything else goes through the verbs.
    """

    kind: str
    format: StoreFormat
    base_path: str | None
    description: str
    max_concurrency: int
    compression: str | None
    io: ObjectIO

    @abc.abstractmethod
    async def read_manifest(
        self, backup_id: BackupIdentifier, *, operation: str = "read manifest"
    ) -> StoredManifest | None:
        """The backup's manifest as stored, or None when there is none.

        Raises:
            ManifestParseError: the manifest is unreadable or names another id.
            ForeignStoreKindError: another store kind owns the location.
        """

    @abc.abstractmethod
    async def list_manifests(
        self, wildcard: BackupIdentifierWildcard
    ) -> builtins.list[StoredManifest]:
        """Every stored manifest the wildcard matches (read with bounded concurrency)."""

    @abc.abstractmethod
    async def list_ids(self, wildcard: BackupIdentifierWildcard) -> builtins.list[BackupIdentifier]:
        """Ids of every manifest the wildcard matches, from the keys alone (no reads)."""

    @abc.abstractmethod
    async def rebuild_catalog(
        self,
        wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard(),  # noqa: B008
    ) -> builtins.list[BackupStatus]:
        """List like :meth:`list` and, as a writer, bring the listing catalogs of what
        was listed up to date (see :mod:`backup_store.catalog`). Stores without a
        catalog only list."""
        return await self.list(wildcard)

    async def read_integrity(self, stored: StoredManifest) -> IntegrityRecord | None:
        """The backup's integrity records, or None for a backup Zeebe wrote.

        Raises:
            IntegrityError: the record exists but is unreadable.
        """

    @abc.abstractmethod
    def file_key(self, stored: StoredManifest, file_set: str, entry: FileEntry) -> str:
        """The object key of one file of the backup."""

    @abc.abstractmethod
    async def stat(self, key: str) -> ObjectMeta | None:
        """The stored object at ``key`` (size, modification time), or None."""

    @abc.abstractmethod
    def open_file(
        self, stored: StoredManifest, file_set: str, entry: FileEntry
    ) -> AsyncIterator[bytes]:
        """The original bytes of one file, decompressed as the manifest records.

        Raises:
            ObjectNotFoundError: the object is missing.
            IntegrityError: compressed bytes are damaged or truncated.
        """

    @abc.abstractmethod
    async def write_backup(
        self,
        manifest: Manifest,
        files: Sequence[FileToStore],
        *,
        operation: str = "save",
        before_complete: BeforeComplete | None = None,
    ) -> None:
        """Write a backup from any byte sources, keeping ``manifest``'s timestamps.

        ``manifest`` is the IN_PROGRESS one (a save) or, for migration, the
        source's final manifest. The manifest is created exclusively as
        IN_PROGRESS first, then every file and the integrity record are stored,
        then ``before_complete`` runs, then the final manifest is written
        version-matched. Any failure leaves the backup FAILED.

        Raises:
            BackupAlreadyExistsError: a manifest exists for the id.
        """


__all__ = [
    "BeforeComplete",
    "FileRecord",
    "FileToStore",
    "InspectableStore",
    "IntegrityRecord",
    "StoredManifest",
]

"""The tools contract: what verify, migrate, the CLI and the service may use.

:class:`~backup_store.store.BackupStore` has Zeebe's verbs and nothing else.
Tools need a little more: the manifest as stored (with its key and version),
cheap listings of ids, the integrity records, one file's stored object and its
original bytes, and a way to write a backup from any byte source (migration).
:class:`InspectableStore` is that extension, in the way Rust ``object_store``
separates its required trait from its convenience extension. Every store of
this package implements it (:class:`~backup_store.engine.ObjectBackupStore`);
tools are typed against it, never against the concrete engine.
"""

from __future__ import annotations

import abc
import builtins
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import partial
from pathlib import Path

from backup_store.contract.store import BackupStore
from backup_store.errors import ManifestParseError, ObjectTooLargeError
from backup_store.format.formats import StoreFormat
from backup_store.format.integrity import FileRecord, IntegrityRecord
from backup_store.format.keys import KeyLayout, owner_marker_key, partition_metadata_key
from backup_store.format.manifest import FileEntry, Manifest
from backup_store.format.partition_metadata import PartitionMetadata, read_partition_metadata
from backup_store.io import CopyReach, ObjectIO, ObjectMeta, ObjectVersion
from backup_store.model import Backup, BackupIdentifier, BackupIdentifierWildcard, BackupStatus

log = logging.getLogger(__name__)


@dataclass
class TransferCounters:
    """What the saves of one store sent and copied since it was opened (the metrics
    read them): bytes uploaded (as stored) and, for files made inside the store from
    an earlier backup's objects (incremental saves), files and bytes copied."""

    bytes_uploaded: int = 0
    bytes_copied: int = 0
    files_copied: int = 0

    def since(self, earlier: TransferCounters) -> TransferCounters:
        """What was counted after ``earlier`` (a copy of these counters) was taken."""
        return TransferCounters(
            self.bytes_uploaded - earlier.bytes_uploaded,
            self.bytes_copied - earlier.bytes_copied,
            self.files_copied - earlier.files_copied,
        )


@dataclass(frozen=True)
class StoredManifest:
    """A manifest as read from the store: its content, layout, key and version."""

    manifest: Manifest
    layout: KeyLayout
    key: str
    version: ObjectVersion

    def to_status(self) -> BackupStatus:
        return self.manifest.to_status()


@dataclass(frozen=True)
class DamagedManifest:
    """A manifest object that exists but cannot be trusted, as found by a listing.

    Unparsable, naming another backup than the one at its key, or stating
    values out of range (``numberOfPartitions`` above
    :data:`~backup_store.model.MAX_PARTITIONS`). It affects only its own entry:
    listings report it, nothing treats it as a FAILED backup.

    Attributes:
        backup_id: the backup its key names.
        layout: the layout its key belongs to.
        key: the manifest's object key.
        error: why it cannot be read (message and key).
    """

    backup_id: BackupIdentifier
    layout: KeyLayout
    key: str
    error: ManifestParseError

    def to_status(self) -> BackupStatus:
        """A FAILED status flagged :attr:`~backup_store.model.BackupStatus.damaged`."""
        return BackupStatus.of_damaged(self.backup_id, self.error.message)


ListedManifest = StoredManifest | DamagedManifest
"""One entry of :meth:`InspectableStore.scan_manifests`."""


@dataclass(frozen=True)
class StoredCopy:
    """A stored object that holds a file's bytes as its store wrote them: a store whose
    I/O reaches it (:meth:`ObjectIO.reach`) may copy it inside the service instead of
    sending the bytes (:attr:`FileToStore.copy_from`).

    Attributes:
        key: the object's key.
        record: the file's integrity record there, naming the object's identity.
        entry: the file's manifest entry there: how the object is stored (compression),
            which a copy keeps.
        stat: the object's current metadata, read through its own store: the copy is
            made only while it still has the recorded identity.
        reach: where the object lives; None for the writing store's own location.
    """

    key: str
    record: FileRecord
    entry: FileEntry
    stat: Callable[[], Awaitable[ObjectMeta | None]]
    reach: CopyReach | None = None


@dataclass(frozen=True)
class FileToStore:
    """One file of a backup being written: its set, name, size and byte source.

    ``open`` is called once and must yield exactly ``size`` bytes. When
    ``local_path`` is given, stores may instead read the first ``size`` bytes of
    that local file directly (the fast path of a save). When ``copy_from`` is given
    (a migration), a store may instead copy that object inside the service; the
    record's size and SHA-256 are the file's.
    """

    file_set: str
    name: str
    size: int
    open: Callable[[], AsyncIterator[bytes]]
    local_path: Path | None = None
    copy_from: StoredCopy | None = None


class Verification(Enum):
    """How a restore checks the backup's bytes (the integrity table of
    ``docs/on-store-format.md``)."""

    CHECKED = "checked"
    """Sizes and SHA-256 checked against the integrity record tied to the manifest."""
    UNVERIFIED = "unverified"
    """A location our stores claimed, but no record belongs to the manifest: restored
    with presence checks only, because ``allow_unverified`` was given."""
    NOT_RECORDED = "not recorded"
    """Written by Zeebe at a location our stores never claimed: Zeebe records no sizes
    or checksums, so only presence is checked."""


class RestoreProgress:
    """What a restore reports while it runs, on the event loop; the defaults do nothing.

    A front end renders it (the CLI draws a progress bar); the restore itself is the
    same for every caller.
    """

    def started(
        self, backup_id: BackupIdentifier, total: int | None, verification: Verification
    ) -> None:
        """The backup is found and its files are about to be written: ``total`` bytes
        (None when no integrity record says), checked as ``verification`` says."""

    def advanced(self, amount: int) -> None:
        """``amount`` more bytes were written into the target folder."""


NO_PROGRESS = RestoreProgress()


BeforeComplete = Callable[[StoredManifest], Awaitable[None]]
"""Hook of :meth:`InspectableStore.write_backup`, run when every file and the
integrity record are stored, before the final manifest; raising fails the backup.
It is given the IN_PROGRESS manifest with each file's entry as stored (compressed
or plain), at the key and version of the manifest object."""


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
        incremental: whether a save copies, inside the store, each file that the
            latest earlier COMPLETED backup of its partition holds unchanged
            (settable; only where the I/O declares copies).
        counters: bytes uploaded and files and bytes copied by this store's saves.
    """

    kind: str
    format: StoreFormat
    base_path: str | None
    description: str
    max_concurrency: int
    compression: str | None
    io: ObjectIO
    incremental: bool
    counters: TransferCounters

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
    async def scan_manifests(
        self, wildcard: BackupIdentifierWildcard
    ) -> builtins.list[ListedManifest]:
        """Every stored manifest the wildcard matches (read with bounded concurrency),
        each one readable or :class:`DamagedManifest`: one damaged manifest never
        hides the others."""

    async def list_manifests(
        self, wildcard: BackupIdentifierWildcard
    ) -> builtins.list[StoredManifest]:
        """Every stored manifest the wildcard matches, all readable.

        Raises:
            ManifestParseError: one of them is damaged (use :meth:`scan_manifests`
                to get the others).
        """
        readable = []
        for entry in await self.scan_manifests(wildcard):
            if isinstance(entry, DamagedManifest):
                raise entry.error
            readable.append(entry)
        return readable

    @abc.abstractmethod
    async def list_partitions(self) -> builtins.list[int]:
        """Partition ids that have any manifest, from the keys (one delimiter listing
        per layout, no reads), in ascending order."""

    @abc.abstractmethod
    async def list_ids(self, wildcard: BackupIdentifierWildcard) -> builtins.list[BackupIdentifier]:
        """Ids of every manifest the wildcard matches, from the keys alone (no reads)."""

    @abc.abstractmethod
    async def rebuild_catalog(
        self,
        wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard(),  # noqa: B008
        *,
        must_write: bool = True,
    ) -> builtins.list[BackupStatus]:
        """List like :meth:`list` and, as a writer, bring the listing catalogs of what
        was listed up to date, and the records of the highest ids taken
        (:meth:`highest_taken`) up to the ids found (see :mod:`backup_store.catalog`).
        Stores without a catalog only list.

        Raises:
            BackupStoreError: a catalog could not be written (a store error, or it
                kept changing), unless ``must_write`` is false: then that is logged
                and the catalog left as it is (only slower to list), as a service's
                restart recovery wants.
        """
        return await self.list(wildcard)

    async def highest_taken(self, partition_id: int) -> dict[int, int]:
        """The highest backup id of the partition accepted (:meth:`accept`) by each node,
        or found by :meth:`rebuild_catalog`, as the store recorded it: one small read
        whatever the store holds. An extra for the backup service's id check, never
        the truth (the partition sources are); empty where nothing was recorded.
        Stores without such a record answer from the keys (:meth:`list_ids`)."""
        highest: dict[int, int] = {}
        for backup_id in await self.list_ids(BackupIdentifierWildcard(partition_id=partition_id)):
            node = backup_id.node_id
            highest[node] = max(highest.get(node, 0), backup_id.checkpoint_id)
        return highest

    async def read_partition_metadata(self, partition_id: int) -> PartitionMetadata | None:
        """Zeebe 8.9+'s metadata file of the partition
        (:mod:`backup_store.format.partition_metadata`), or None when there is none or it
        cannot be used: damaged, of an unknown shape, larger than any Zeebe writes, or
        naming another partition (logged: the metadata is a hint, the manifests the truth).
        """
        key = partition_metadata_key(self.base_path, partition_id)
        try:
            stored = await self.io.get(key)
        except ObjectTooLargeError as error:
            log.warning("ignoring partition metadata %s: %s", key, error.message)
            return None
        metadata = read_partition_metadata(stored.data if stored is not None else None, key)
        if metadata is not None and metadata.partition_id != partition_id:
            log.warning(
                "ignoring partition metadata %s: it describes partition %d",
                key,
                metadata.partition_id,
            )
            return None
        return metadata

    async def has_manifest(self, backup_id: BackupIdentifier) -> bool:
        """Whether a manifest exists for the id in any layout the store reads (one
        existence check per layout, nothing read or parsed)."""
        exact = BackupIdentifierWildcard(
            backup_id.node_id, backup_id.partition_id, backup_id.checkpoint_id
        )
        return bool(await self.list_ids(exact))

    @abc.abstractmethod
    async def read_integrity(self, stored: StoredManifest) -> IntegrityRecord | None:
        """The backup's integrity record, or None when it has none that belongs to
        this manifest: missing (Zeebe wrote the backup, or the record was lost), or
        stale (left by an earlier backup of the same id, never applied).

        Raises:
            IntegrityError: the record exists but is unreadable.
        """

    @abc.abstractmethod
    async def is_claimed(self) -> bool:
        """Whether our store-kind marker claims the location (our stores wrote here).

        At a claimed location every COMPLETED backup should carry an integrity
        record tied to its manifest; an unclaimed one holds backups only Zeebe
        wrote, which have none (``docs/on-store-format.md``).

        Raises:
            ForeignStoreKindError: another store kind owns the location.
        """

    @property
    def marker_key(self) -> str:
        """The key of the store-kind marker (present once our stores wrote here)."""
        return owner_marker_key(self.base_path)

    @abc.abstractmethod
    def file_key(self, stored: StoredManifest, file_set: str, entry: FileEntry) -> str:
        """The object key of one file of the backup."""

    @abc.abstractmethod
    def metadata_key(self, partition_id: int) -> str:
        """The object key of the partition's backup metadata
        (:meth:`~backup_store.contract.store.BackupStore.store_backup_metadata`).

        Raises:
            InvalidInputError: ``partition_id`` is not 1 to 2^31-1.
        """

    def copies_from(self, other: InspectableStore) -> bool:
        """Whether this store's writes may copy objects of ``other`` inside one service
        (:attr:`FileToStore.copy_from`): its I/O copies, ``incremental`` is on, and both
        locations are within what its copies reach (one bucket of S3 or GCS, one Azure
        account, one filesystem device)."""
        here, there = self.io.reach(), other.io.reach()
        return (
            self.incremental
            and self.io.capabilities.server_side_copy
            and here is not None
            and there is not None
            and here.scope == there.scope
        )

    def stored_copy(
        self, stored: StoredManifest, file_set: str, entry: FileEntry, record: FileRecord | None
    ) -> StoredCopy | None:
        """The file's object as a :class:`StoredCopy`, which a store of the same service
        may copy (migrate passes it to the target's :meth:`write_backup`); None where
        its record names no identity or the I/O's copies reach no other location."""
        reach = self.io.reach()
        if reach is None or record is None or record.identity is None:
            return None
        key = self.file_key(stored, file_set, entry)
        return StoredCopy(key, record, entry, partial(self.stat, key), reach)

    @abc.abstractmethod
    async def backup_keys(self, stored: StoredManifest) -> builtins.list[str]:
        """Every object key under the backup's folder but its manifest: its files,
        its integrity record, and anything else left there."""

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
    async def accept(self, manifest: Manifest) -> StoredManifest:
        """Durably accept a backup before its content is known.

        Creates ``manifest`` as IN_PROGRESS (create-only, in the layout its
        descriptor's broker version selects), typically with no files yet: from
        now on the backup exists, and a process that dies before saving it leaves
        an IN_PROGRESS backup that a restart marks FAILED (never a missing one).
        Pass the result to :meth:`save` or :meth:`write_backup` as ``accepted``.

        Raises:
            BackupAlreadyExistsError: a manifest exists for the id.
        """

    @abc.abstractmethod
    async def save(self, backup: Backup, *, accepted: StoredManifest | None = None) -> None:
        """:meth:`BackupStore.save`; with ``accepted`` (from :meth:`accept`), the
        accepted manifest is taken over version-matched instead of created, keeping
        its ``createdAt`` and layout.

        Raises:
            InvalidBackupStateError: the accepted manifest was changed meanwhile
                (marked failed or deleted).
        """

    @abc.abstractmethod
    async def restore(
        self,
        backup_id: BackupIdentifier,
        target_dir: Path,
        *,
        allow_unverified: bool = False,
        progress: RestoreProgress = NO_PROGRESS,
    ) -> Backup:
        """:meth:`BackupStore.restore`, by the integrity table of ``docs/on-store-format.md``.

        Args:
            allow_unverified: restore a backup whose integrity record is missing or
                stale at a location our stores claimed, with presence checks only
                (logged as a warning). Without it, such a backup is refused.
            progress: told how the backup is checked and how many bytes are written.

        Raises:
            UnverifiedBackupError: no integrity record belongs to the backup at a
                claimed location, and ``allow_unverified`` is False.
        """

    @abc.abstractmethod
    async def write_backup(
        self,
        manifest: Manifest,
        files: Sequence[FileToStore],
        *,
        operation: str = "save",
        before_complete: BeforeComplete | None = None,
        accepted: StoredManifest | None = None,
    ) -> None:
        """Write a backup from any byte sources, keeping ``manifest``'s timestamps.

        ``manifest`` is the IN_PROGRESS one (a save) or, for migration, the
        source's final manifest. The manifest is created exclusively as
        IN_PROGRESS first, then every file and the integrity record are stored,
        then ``before_complete`` runs, then the final manifest is written
        version-matched. Any failure leaves the backup FAILED. With ``accepted``
        (from :meth:`accept`), that IN_PROGRESS manifest is rewritten
        version-matched instead of created.

        Raises:
            BackupAlreadyExistsError: a manifest exists for the id.
        """


__all__ = [
    "NO_PROGRESS",
    "BeforeComplete",
    "DamagedManifest",
    "FileRecord",
    "FileToStore",
    "InspectableStore",
    "IntegrityRecord",
    "ListedManifest",
    "RestoreProgress",
    "StoredCopy",
    "StoredManifest",
    "Verification",
]

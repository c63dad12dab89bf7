"""The backup store contract.

A :class:`BackupStore` keeps, per backup id ``(node, partition, checkpoint)``, a
manifest (the status marker) and the backup's snapshot and segment files. Its
verbs are those of Zeebe's ``BackupStore``; anything more convenient (aggregating
partitions, verifying, migrating) lives in the service layer on top.

Life cycle of one backup (``store-format.md`` §5)::

    save ─▶ IN_PROGRESS ─▶ COMPLETED ─▶ (mark_failed) FAILED
                  └──────(error / mark_failed)──────▶ FAILED

Besides the backups, a store keeps what Zeebe 8.9+ brokers store per partition
(:meth:`BackupStore.store_backup_metadata`): the broker's own record of its
checkpoints and backup ranges, opaque bytes to the store.

Implementations must be safe to use from concurrent tasks of one event loop.
"""

from __future__ import annotations

import abc
from pathlib import Path

from backup_store.model import (
    Backup,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
    BackupStatusCode,
)
from backup_store.resources import AsyncResource

DELETING_REASON = "The backup is being deleted."
"""Failure reason of a backup being deleted (Zeebe's words): of an IN_PROGRESS one
marked failed before its delete, and of the manifest a delete holds meanwhile."""

PROBE_ID = BackupIdentifier(0, 1, 1)
"""The id the default :meth:`BackupStore.probe` reads the status of."""


class BackupStore(AsyncResource):
    """Abstract asynchronous backup store. Use as ``async with store: ...``."""

    @abc.abstractmethod
    async def save(self, backup: Backup) -> None:
        """Store a new backup: manifest IN_PROGRESS, every file, then COMPLETED.

        Raises:
            InvalidInputError: the backup is malformed (nothing is written).
            SourceFileNotFoundError: a local file is missing or not a regular file;
                the message names it. Detected before writing when possible,
                otherwise the backup is marked FAILED.
            BackupAlreadyExistsError: a manifest exists for the id, in any state;
                it is left untouched.
            BackupStoreError: any other failure; the backup is left FAILED, never
                COMPLETED without its data.
        """

    @abc.abstractmethod
    async def get_status(self, backup_id: BackupIdentifier) -> BackupStatus:
        """The backup's status; ``DOES_NOT_EXIST`` when there is none (not an error).

        Raises:
            ManifestParseError: the manifest exists but cannot be read.
        """

    @abc.abstractmethod
    async def list(
        self,
        wildcard: BackupIdentifierWildcard = BackupIdentifierWildcard(),  # noqa: B008
    ) -> list[BackupStatus]:
        """Statuses of every backup the wildcard matches, in no particular order."""

    @abc.abstractmethod
    async def delete(self, backup_id: BackupIdentifier) -> None:
        """Remove the manifest and every object of the backup.

        A missing backup is a success; leftovers of a partial backup whose
        manifest is gone are removed too. The delete holds the manifest key from
        start to end (it is FAILED with :data:`DELETING_REASON` meanwhile, so a
        save of the same id fails as already existing) and removes it last: a
        crash leaves a FAILED backup or nothing, and deleting again finishes.

        Raises:
            InvalidBackupStateError: the backup is IN_PROGRESS (mark it failed first).
        """

    @abc.abstractmethod
    async def restore(self, backup_id: BackupIdentifier, target_dir: Path) -> Backup:
        """Write every file of a COMPLETED backup flat into ``target_dir``.

        Returns the backup with file paths pointing into ``target_dir``. Never
        writes outside ``target_dir``. Sizes and SHA-256 are checked against the
        backup's integrity record; a backup only Zeebe wrote (at a location our
        stores never claimed) has none and gets presence checks only. Stores of
        this package also take ``allow_unverified``
        (:meth:`~backup_store.contract.inspectable.InspectableStore.restore`).

        Raises:
            InvalidBackupStateError: the backup does not exist or is not COMPLETED.
            IntegrityError: a stored file's size or checksum differs from what was saved.
            UnverifiedBackupError: no integrity record belongs to the backup at a
                location our stores claimed.
        """

    @abc.abstractmethod
    async def mark_failed(self, backup_id: BackupIdentifier, reason: str) -> BackupStatusCode:
        """Mark the backup FAILED with ``reason``; returns the resulting status code.

        A FAILED backup is left unchanged; a missing one gets a FAILED manifest; a
        DELETED one (Zeebe 8.9+'s tombstone) is left unchanged and DELETED is returned.
        """

    @abc.abstractmethod
    async def store_backup_metadata(self, partition_id: int, content: bytes) -> None:
        """Store a partition's backup metadata, replacing what is there (Zeebe 8.9+'s
        ``storeBackupMetadata``).

        ``content`` is opaque to the store (a broker writes the JSON of
        :mod:`backup_store.format.partition_metadata`); it is stored as given, at
        ``[base path/]metadata/{partition_id}/metadata.json`` as Zeebe's stores keep
        it, and a reader sees either the earlier bytes or these, never a mix. Only the
        broker leading the partition writes it, from its runtime state: tools and
        services never call this where a broker writes (``backup-store catalog
        rebuild --metadata`` is the one exception, for locations no broker writes).

        Raises:
            InvalidInputError: ``partition_id`` is not 1 to 2^31-1, or ``content``
                is not bytes (nothing is written).
            BackupStoreError: the write failed; the earlier content is unchanged.
        """

    @abc.abstractmethod
    async def load_backup_metadata(self, partition_id: int) -> bytes | None:
        """The partition's backup metadata as stored, or None when there is none (a
        fresh location, or a broker before 8.9); Zeebe 8.9+'s ``loadBackupMetadata``.

        The bytes are returned as stored, unchecked: decode them with
        :func:`~backup_store.format.partition_metadata.read_partition_metadata`.

        Raises:
            InvalidInputError: ``partition_id`` is not 1 to 2^31-1.
        """

    async def probe(self, *, writing: bool = False) -> None:
        """Check, with one or two cheap requests (never a listing), that the store's
        location exists and answers; with ``writing``, also that this store may write
        there. Readiness asks it, and the service asks it (``writing``) before it takes
        a backup id, so that a store it cannot use leaves the id free.

        This default reads the status of one backup id (it cannot tell a missing
        location from an empty one); stores override it.

        Raises:
            StoreUnavailableError: the location does not exist or cannot be reached
                (the message says which); other :class:`BackupStoreError` subclasses
                when the location is not usable (e.g. another store kind owns it).
        """
        await self.get_status(PROBE_ID)

    @abc.abstractmethod
    async def close(self) -> None:
        """Release resources; the store must not be used afterwards."""

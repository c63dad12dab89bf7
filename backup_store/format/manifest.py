"""The manifest value and its life-cycle transitions.

A manifest is a backup's status marker: its id, descriptor, state, the names of
its files, and when it was created and last modified (``store-format.md`` §3).
Its JSON forms are read and written by :mod:`backup_store.format.manifest_json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from backup_store.errors import InvalidBackupStateError, ManifestParseError
from backup_store.format.instant import Instant
from backup_store.format.keys import broker_release
from backup_store.model import (
    SEGMENTS,
    SNAPSHOT,
    BackupDescriptor,
    BackupIdentifier,
    BackupStatus,
    BackupStatusCode,
)

ZSTD = "zstd"
"""The one compression algorithm Zeebe records (``compressionAlgorithm``)."""


class ManifestForm(Enum):
    """The two JSON forms of Zeebe's manifests."""

    COMMON = "common"
    S3 = "s3"


@dataclass(frozen=True)
class FileEntry:
    """A file of a backup as its manifest names it."""

    name: str
    compression: str | None = None


@dataclass(frozen=True)
class JsonShape:
    """The optional keys a manifest's JSON carried, ``null`` or not.

    Zeebe's mappers differ in what they write for an absent value: the common
    form omits it, the 8.9+ S3 form writes ``null``, 8.7 writes neither key. A
    manifest read keeps the keys it had, so written back untouched it is the
    same bytes. ``id_keys``: ``zone``; ``descriptor_keys``: ``firstLogPosition``,
    ``checkpointTimestamp``, ``checkpointType``.
    """

    id_keys: frozenset[str] = frozenset()
    descriptor_keys: frozenset[str] = frozenset()
    java_map_order: bool = False
    """The S3 form's file maps go in the iteration order of Java's ``HashMap``, as
    Zeebe 8.9+'s S3 store builds them; otherwise in the manifest's order (as read)."""

    @classmethod
    def written_by(cls, broker_version: str | None) -> JsonShape:
        """The shape Zeebe of ``broker_version`` gives a new manifest: 8.9 writes the
        three newer descriptor fields (``null`` in the S3 form when absent), 8.10 and
        later also the id's ``zone``; earlier versions (and an unknown one) neither."""
        release = broker_release(broker_version)
        if release is None or release < (8, 9):
            return cls()
        zone = frozenset({"zone"}) if release >= (8, 10) else frozenset()
        return cls(zone, NEWER_DESCRIPTOR_KEYS, java_map_order=True)


NEWER_DESCRIPTOR_KEYS = frozenset({"firstLogPosition", "checkpointTimestamp", "checkpointType"})
"""The descriptor fields Zeebe 8.9 added."""


@dataclass(frozen=True)
class Manifest:
    """One backup's manifest.

    ``snapshot_files``/``segment_files`` are ``None`` when the manifest has no
    file sets at all (Zeebe writes such a FAILED manifest when a backup that was
    never saved is marked failed).
    """

    id: BackupIdentifier
    status_code: BackupStatusCode
    descriptor: BackupDescriptor | None
    snapshot_files: tuple[FileEntry, ...] | None
    segment_files: tuple[FileEntry, ...] | None
    created_at: Instant
    modified_at: Instant
    failure_reason: str | None = None
    shape: JsonShape = JsonShape()

    @classmethod
    def in_progress(
        cls,
        backup_id: BackupIdentifier,
        descriptor: BackupDescriptor,
        snapshot_files: tuple[FileEntry, ...],
        segment_files: tuple[FileEntry, ...],
        now: Instant,
    ) -> Manifest:
        return cls(
            backup_id,
            BackupStatusCode.IN_PROGRESS,
            descriptor,
            snapshot_files,
            segment_files,
            now,
            now,
            shape=JsonShape.written_by(descriptor.broker_version),
        )

    @classmethod
    def failed_never_saved(cls, backup_id: BackupIdentifier, reason: str, now: Instant) -> Manifest:
        """The FAILED manifest of a backup that was never saved."""
        return cls(backup_id, BackupStatusCode.FAILED, None, None, None, now, now, reason)

    def completed(self, now: Instant) -> Manifest:
        """This IN_PROGRESS manifest as COMPLETED; ``modified_at`` moves strictly forward.

        Raises:
            InvalidBackupStateError: the manifest is not IN_PROGRESS.
        """
        if self.status_code is not BackupStatusCode.IN_PROGRESS:
            raise InvalidBackupStateError(
                f"backup {self.id} is {self.status_code.value}; only IN_PROGRESS can complete",
                status=self.status_code,
                backup_id=self.id,
            )
        return replace(
            self,
            status_code=BackupStatusCode.COMPLETED,
            created_at=self.created_at.canonical(),  # a rewrite uses Zeebe's own date form
            modified_at=_after(self.modified_at, now),
        )

    def failed(self, reason: str, now: Instant) -> Manifest:
        """This manifest as FAILED; ``modified_at`` moves strictly forward.

        A FAILED manifest stays as it is (reason and ``modified_at`` kept).
        """
        if self.status_code is BackupStatusCode.FAILED:
            return self
        return replace(
            self,
            status_code=BackupStatusCode.FAILED,
            failure_reason=reason,
            created_at=self.created_at.canonical(),  # a rewrite uses Zeebe's own date form
            modified_at=_after(self.modified_at, now),
        )

    def deleted(self, now: Instant) -> Manifest:
        """This manifest as Zeebe 8.9+'s DELETED tombstone: descriptor, files and
        ``created_at`` kept, the failure reason dropped, ``modified_at`` moved strictly
        forward. A DELETED manifest stays as it is."""
        if self.status_code is BackupStatusCode.DELETED:
            return self
        return replace(
            self,
            status_code=BackupStatusCode.DELETED,
            failure_reason=None,
            created_at=self.created_at.canonical(),
            modified_at=_after(self.modified_at, now),
        )

    def with_files(self, entries: Mapping[str, tuple[FileEntry, ...]]) -> Manifest:
        """This manifest with the file sets given per file set name.

        A manifest without file sets (Zeebe's "failed before it was taken") keeps
        none where none are given.
        """

        def entries_of(file_set: str, declared: tuple[FileEntry, ...] | None) -> Any:
            found = entries.get(file_set, ())
            return None if declared is None and not found else found

        return replace(
            self,
            snapshot_files=entries_of(SNAPSHOT, self.snapshot_files),
            segment_files=entries_of(SEGMENTS, self.segment_files),
        )

    def as_in_progress(self) -> Manifest:
        """The IN_PROGRESS manifest a writer creates first for this one (same dates)."""
        return replace(
            self,
            status_code=BackupStatusCode.IN_PROGRESS,
            modified_at=self.created_at,
            failure_reason=None,
        )

    def files(self) -> list[tuple[str, FileEntry]]:
        """Every file as ``(file set, entry)``, file set ``snapshot`` or ``segments``."""
        return [(SNAPSHOT, f) for f in self.snapshot_files or ()] + [
            (SEGMENTS, f) for f in self.segment_files or ()
        ]

    def to_status(self) -> BackupStatus:
        return BackupStatus(
            id=self.id,
            status_code=self.status_code,
            descriptor=self.descriptor,
            failure_reason=self.failure_reason,
            created=self.created_at,
            last_modified=self.modified_at,
        )


def _after(previous: Instant, now: Instant) -> Instant:
    return now if now.epoch_nanos > previous.epoch_nanos else Instant(previous.epoch_nanos + 1)


class WrongManifestFormError(ManifestParseError):
    """The manifest is valid JSON in the *other* form (written by another store kind)."""

    def __init__(self, message: str, *, found: ManifestForm) -> None:
        super().__init__(message)
        self.found = found

"""Errors of the backup service, under the library's :class:`BackupStoreError` root.

The HTTP API maps them to status codes: :class:`BackupIdConflictError` → 409,
:class:`SourceUnavailableError` → 502, other :class:`SourceError` → 500.
"""

from __future__ import annotations

from backup_store.errors import BackupStoreError


class BackupIdConflictError(BackupStoreError):
    """The requested backup id is not greater than the latest one ever taken.

    Ids of completed, failed, in-progress and deleted backups all count: an id is
    never reused.

    Attributes:
        requested: the id asked for.
        latest: the latest id taken before.
    """

    def __init__(self, requested: int, latest: int, *, partition_id: int | None = None) -> None:
        super().__init__(
            f"Requested backup has ID {requested}. The latest backup has ID {latest}. "
            "The backup ID must be greater than the ID of previous backups that are "
            "completed, failed, or deleted."
        )
        self.requested = requested
        self.latest = latest
        self.partition_id = partition_id


class SourceError(BackupStoreError):
    """A partition source cannot provide what a backup needs (bad layout, bad state file)."""


class SourceUnavailableError(SourceError):
    """A partition source could not be reached or read (a missing or unreadable directory)."""

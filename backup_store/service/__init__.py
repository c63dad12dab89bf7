"""The backup service: backups of an engine's partitions, behind the management API.

* :class:`PartitionSource` — what an engine provides per partition (record a
  checkpoint, hand over its files); :class:`DirectorySource` is the one shipped.
* :class:`BackupService` — takes, queries, lists and deletes backups over a
  :class:`~backup_store.BackupStore`; usable from Python without HTTP.
* ``backup-store serve`` (:mod:`backup_store.cli.serve`) serves it over HTTP
  (:mod:`backup_store.api`).

Example::

    async with open_store("file:///var/backups") as store:
        sources = DirectorySource.discover("/var/zeebe/data")
        async with BackupService(store, sources, node_id=0) as service:
            await service.take_backup(100)
            await service.wait_for_backups()
            info = await service.get_backup(100)
            print(info.state, info.to_json())
"""

from backup_store.aggregate import BackupInfo, BackupState, PartitionBackupInfo
from backup_store.contract.store import DELETING_REASON
from backup_store.service.directory import DirectoryCheckpoint, DirectorySource
from backup_store.service.errors import (
    BackupIdConflictError,
    SourceError,
    SourceUnavailableError,
)
from backup_store.service.service import (
    CANCELLED_REASON,
    RESTART_REASON,
    BackupService,
)
from backup_store.service.source import Checkpoint, CheckpointContent, PartitionSource

__all__ = [
    "CANCELLED_REASON",
    "DELETING_REASON",
    "RESTART_REASON",
    "BackupIdConflictError",
    "BackupInfo",
    "BackupService",
    "BackupState",
    "Checkpoint",
    "CheckpointContent",
    "DirectoryCheckpoint",
    "DirectorySource",
    "PartitionBackupInfo",
    "PartitionSource",
    "SourceError",
    "SourceUnavailableError",
]

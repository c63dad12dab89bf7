"""backup-store: Zeebe-compatible backup stores on obstore.

Quick start::

    import asyncio
    from pathlib import Path
    from backup_store import (Backup, BackupDescriptor, BackupIdentifier,
                              NamedFileSet, open_store)

    async def main() -> None:
        async with open_store("file:///tmp/backups") as store:
            ...

See ``README.md`` for the full example.
"""

from backup_store import exit_guard, registry
from backup_store.contract.inspectable import InspectableStore, StoredManifest
from backup_store.contract.store import BackupStore
from backup_store.engine import ObjectBackupStore
from backup_store.errors import (
    BackupAlreadyExistsError,
    BackupStoreError,
    ConfigurationError,
    ForeignStoreKindError,
    IntegrityError,
    InvalidBackupStateError,
    InvalidInputError,
    ManifestParseError,
    ObjectNotFoundError,
    RestoreTargetError,
    SourceFileNotFoundError,
    StoreClosedError,
    StoreUnavailableError,
    UnverifiedBackupError,
)
from backup_store.format.formats import ZEEBE_COMMON, ZEEBE_S3, StoreFormat
from backup_store.format.instant import Instant
from backup_store.format.manifest import FileEntry, Manifest, ManifestForm
from backup_store.format.manifest_json import decode_manifest, encode_manifest
from backup_store.model import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
    BackupStatusCode,
    NamedFileSet,
    SourceFile,
)
from backup_store.registry import open_config, open_store, register
from backup_store.stores.azure import AzureBackupStore, AzureConfig
from backup_store.stores.filesystem import FilesystemBackupStore, FilesystemConfig
from backup_store.stores.gcs import GcsBackupStore, GcsConfig
from backup_store.stores.memory import MemoryBackupStore
from backup_store.stores.s3 import S3BackupStore, S3Config

# obstore's async calls can abort the interpreter at exit (code 134); see exit_guard.
exit_guard.install()

ZEEBE_VERSION = "8.7.0"
"""The Zeebe version whose on-store format this library writes."""

__all__ = [
    "ZEEBE_COMMON",
    "ZEEBE_S3",
    "ZEEBE_VERSION",
    "AzureBackupStore",
    "AzureConfig",
    "Backup",
    "BackupAlreadyExistsError",
    "BackupDescriptor",
    "BackupIdentifier",
    "BackupIdentifierWildcard",
    "BackupStatus",
    "BackupStatusCode",
    "BackupStore",
    "BackupStoreError",
    "ConfigurationError",
    "FileEntry",
    "FilesystemBackupStore",
    "FilesystemConfig",
    "ForeignStoreKindError",
    "GcsBackupStore",
    "GcsConfig",
    "InspectableStore",
    "Instant",
    "IntegrityError",
    "InvalidBackupStateError",
    "InvalidInputError",
    "Manifest",
    "ManifestForm",
    "ManifestParseError",
    "MemoryBackupStore",
    "NamedFileSet",
    "ObjectBackupStore",
    "ObjectNotFoundError",
    "RestoreTargetError",
    "S3BackupStore",
    "S3Config",
    "SourceFile",
    "SourceFileNotFoundError",
    "StoreClosedError",
    "StoreFormat",
    "StoreUnavailableError",
    "StoredManifest",
    "UnverifiedBackupError",
    "decode_manifest",
    "encode_manifest",
    "open_config",
    "open_store",
    "register",
    "registry",
]

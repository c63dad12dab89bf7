"""Deprecated: re-exports :mod:`backup_store.engine`, where the engine lives."""

from backup_store.engine.context import BATCH_FILES, SMALL_FILE
from backup_store.engine.delete import CONCURRENT_DELETE_REASON
from backup_store.engine.listing import CATALOG_MIN_MANIFESTS, LIST_CONCURRENCY
from backup_store.engine.manifests import CHANGE_ATTEMPTS as MARK_FAILED_ATTEMPTS
from backup_store.engine.save import CANCELLED_REASON
from backup_store.engine.store import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_UPLOAD_MEMORY,
    ObjectBackupStore,
)

__all__ = [
    "BATCH_FILES",
    "CANCELLED_REASON",
    "CATALOG_MIN_MANIFESTS",
    "CONCURRENT_DELETE_REASON",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_UPLOAD_MEMORY",
    "LIST_CONCURRENCY",
    "MARK_FAILED_ATTEMPTS",
    "SMALL_FILE",
    "ObjectBackupStore",
]

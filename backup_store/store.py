"""Deprecated: re-exports :mod:`backup_store.contract.store`."""

from backup_store.contract.store import (
    DELETING_REASON,
    BackupStore,
)

__all__ = [
    "DELETING_REASON",
    "BackupStore",
]

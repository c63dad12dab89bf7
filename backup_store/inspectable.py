"""Deprecated: re-exports :mod:`backup_store.contract.inspectable`."""

from backup_store.contract.inspectable import (
    BeforeComplete,
    DamagedManifest,
    FileToStore,
    InspectableStore,
    ListedManifest,
    StoredManifest,
)

__all__ = [
    "BeforeComplete",
    "DamagedManifest",
    "FileToStore",
    "InspectableStore",
    "ListedManifest",
    "StoredManifest",
]

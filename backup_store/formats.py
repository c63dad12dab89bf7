"""Deprecated: re-exports :mod:`backup_store.format.formats`."""

from backup_store.format.formats import (
    ZEEBE_COMMON,
    ZEEBE_S3,
    StoreFormat,
)

__all__ = [
    "ZEEBE_COMMON",
    "ZEEBE_S3",
    "StoreFormat",
]

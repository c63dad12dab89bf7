"""Deprecated: re-exports :mod:`backup_store.engine.ownership`."""

from backup_store.engine.ownership import (
    MARKER_FORMAT,
    OwnershipMarker,
)

__all__ = [
    "MARKER_FORMAT",
    "OwnershipMarker",
]

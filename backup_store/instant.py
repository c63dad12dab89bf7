"""Deprecated: re-exports :mod:`backup_store.format.instant`."""

from backup_store.format.instant import (
    MAX_EPOCH_NANOS,
    MIN_EPOCH_NANOS,
    Instant,
    InstantForm,
)

__all__ = [
    "MAX_EPOCH_NANOS",
    "MIN_EPOCH_NANOS",
    "Instant",
    "InstantForm",
]

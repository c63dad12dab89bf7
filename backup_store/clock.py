"""Deprecated: re-exports :mod:`backup_store.service.clock`."""

from backup_store.service.clock import (
    LONGEST_SLEEP_SECONDS,
    Clock,
    ManualClock,
    SystemClock,
)

__all__ = [
    "LONGEST_SLEEP_SECONDS",
    "Clock",
    "ManualClock",
    "SystemClock",
]

"""Deprecated: re-exports :mod:`backup_store.units`."""

from backup_store.units import SIZE_UNITS as UNITS
from backup_store.units import human_size

__all__ = ["UNITS", "human_size"]

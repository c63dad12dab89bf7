"""Deprecated: re-exports :mod:`backup_store.units`."""

from backup_store.units import format_age, format_duration, parse_duration

__all__ = ["format_age", "format_duration", "parse_duration"]

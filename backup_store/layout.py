"""Deprecated: re-exports :mod:`backup_store.format.keys`."""

from backup_store.format.keys import (
    INTEGRITY_NAME,
    MANIFEST_NAME,
    OWNER_MARKER_NAME,
    KeyLayout,
    check_base_path,
    owner_marker_key,
    uses_zeebe_89_layout,
)

__all__ = [
    "INTEGRITY_NAME",
    "MANIFEST_NAME",
    "OWNER_MARKER_NAME",
    "KeyLayout",
    "check_base_path",
    "owner_marker_key",
    "uses_zeebe_89_layout",
]

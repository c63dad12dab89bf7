"""Deprecated: re-exports :mod:`backup_store.format.integrity`."""

from backup_store.format.integrity import (
    RECORD_FORMAT,
    FileRecord,
    IntegrityRecord,
    decode_record,
    encode_record,
    record_name,
)

__all__ = [
    "RECORD_FORMAT",
    "FileRecord",
    "IntegrityRecord",
    "decode_record",
    "encode_record",
    "record_name",
]

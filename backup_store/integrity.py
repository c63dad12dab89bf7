"""Integrity records: size and SHA-256 of every file of a backup.

One ``backup-store-integrity.json`` per backup, next to its files, written
before the manifest turns COMPLETED. Zeebe reads only ``manifest.json`` and the
files it names, so it never opens this object (``docs/on-store-format.md``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backup_store.errors import IntegrityError

RECORD_FORMAT = 1


@dataclass(frozen=True)
class FileRecord:
    """What was saved of one file: original size and SHA-256, and stored size
    (differs when the stored bytes are compressed)."""

    size: int
    sha256: str
    stored_size: int

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "sha256": self.sha256, "storedSize": self.stored_size}


IntegrityRecord = Mapping[str, FileRecord]
"""File records of one backup, keyed ``<file set>/<name>``."""


def record_name(file_set: str, name: str) -> str:
    return f"{file_set}/{name}"


def encode_record(records: IntegrityRecord) -> bytes:
    files = {name: record.to_json() for name, record in records.items()}
    return json.dumps({"format": RECORD_FORMAT, "files": files}).encode()


def decode_record(data: bytes) -> dict[str, FileRecord]:
    """Parse an integrity record.

    Raises:
        IntegrityError: the record is unreadable.
    """
    try:
        raw = json.loads(data)["files"]
        return {
            str(name): FileRecord(int(r["size"]), str(r["sha256"]), int(r["storedSize"]))
            for name, r in raw.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise IntegrityError("the integrity record is unreadable") from None

"""Integrity records: size and SHA-256 of every file of a backup, tied to its manifest.

One ``backup-store-integrity.json`` per backup, next to its files, written
before the manifest turns COMPLETED. Zeebe reads only ``manifest.json`` and the
files it names, so it never opens this object (``docs/on-store-format.md``).

A record names the manifest it belongs to (backup id and the exact
``createdAt``): Zeebe's own filesystem delete leaves our record behind, and a
later backup of the same id by Zeebe must not be checked against it. A record
that does not belong to the manifest at hand is stale and never applied.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from backup_store.errors import IntegrityError
from backup_store.format.instant import Instant
from backup_store.format.manifest import Manifest
from backup_store.model import BackupIdentifier

RECORD_FORMAT = 3
"""Format 2 ties the record to its manifest (format 1 records, which did not, are
never applied); format 3 adds each stored object's identity."""
IDENTITY_FORMAT = 3
"""The first format whose records name their objects' identities: only such a
record lets a later backup copy a file from its backup."""


@dataclass(frozen=True)
class StoredIdentity:
    """Which stored object a backup wrote for a file: the service's e-tag (on a
    filesystem inode, mtime in nanoseconds and size) and its stored size. An object
    that no longer has this identity was changed since and is never copied from."""

    e_tag: str
    size: int


@dataclass(frozen=True)
class FileRecord:
    """What was saved of one file: original size and SHA-256, stored size (differs
    when the stored bytes are compressed) and, from format 3, the stored object's
    identity (None where it is not known)."""

    size: int
    sha256: str
    stored_size: int
    identity: StoredIdentity | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "size": self.size,
            "sha256": self.sha256,
            "storedSize": self.stored_size,
        }
        if self.identity is not None:
            out["object"] = {"eTag": self.identity.e_tag, "size": self.identity.size}
        return out


def _file_record(raw: Any, with_identity: bool) -> FileRecord:
    found = raw.get("object") if with_identity else None
    identity = None if found is None else StoredIdentity(str(found["eTag"]), int(found["size"]))
    return FileRecord(int(raw["size"]), str(raw["sha256"]), int(raw["storedSize"]), identity)


class IntegrityRecord(Mapping[str, FileRecord]):
    """File records of one backup, keyed ``<file set>/<name>``, and the manifest
    they belong to (its backup id and exact ``createdAt``; None in a record of
    an older format, which belongs to no manifest)."""

    def __init__(
        self,
        files: Mapping[str, FileRecord],
        backup_id: BackupIdentifier | None,
        created_at: Instant | None,
        record_format: int = RECORD_FORMAT,
    ) -> None:
        self.files = dict(files)
        self.backup_id = backup_id
        self.created_at = created_at
        self.record_format = record_format

    def __getitem__(self, name: str) -> FileRecord:
        return self.files[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return f"IntegrityRecord({self.backup_id}, {self.created_at}, {len(self.files)} files)"

    def belongs_to(self, manifest: Manifest) -> bool:
        """Whether this record was written for ``manifest`` (not an earlier backup of its id)."""
        return self.backup_id == manifest.id and self.created_at == manifest.created_at


def record_name(file_set: str, name: str) -> str:
    return f"{file_set}/{name}"


def encode_record(record: IntegrityRecord) -> bytes:
    out: dict[str, Any] = {"format": RECORD_FORMAT}
    if record.backup_id is not None:
        out["backupId"] = {
            "nodeId": record.backup_id.node_id,
            "partitionId": record.backup_id.partition_id,
            "checkpointId": record.backup_id.checkpoint_id,
        }
    if record.created_at is not None:
        out["createdAt"] = record.created_at.iso()  # exact: every nanosecond digit kept
    out["files"] = {name: file.to_json() for name, file in record.items()}
    return json.dumps(out).encode()


def decode_record(data: bytes) -> IntegrityRecord:
    """Parse an integrity record (of any format; from format 2 it names its manifest,
    from format 3 its objects' identities).

    Raises:
        IntegrityError: the record is unreadable.
    """
    try:
        raw = json.loads(data)
        record_format = int(raw.get("format", 1))
        with_identity = record_format >= IDENTITY_FORMAT
        files = {str(name): _file_record(r, with_identity) for name, r in raw["files"].items()}
        backup_id = created_at = None
        if "backupId" in raw or "createdAt" in raw:
            ids = raw["backupId"]
            backup_id = BackupIdentifier(
                int(ids["nodeId"]), int(ids["partitionId"]), int(ids["checkpointId"])
            )
            created_at = Instant.parse_iso(str(raw["createdAt"]))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise IntegrityError("the integrity record is unreadable") from None
    return IntegrityRecord(files, backup_id, created_at, record_format)

"""Test data of the conformance scenarios (``conformance.md``, "Test data")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from backup_store.format.formats import ZEEBE_COMMON, ZEEBE_S3, StoreFormat
from backup_store.format.instant import Instant
from backup_store.model import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    BackupStatusCode,
    NamedFileSet,
)

FIXTURES_DIR = Path(__file__).parent / "fixtures"
BROKER_VERSION = "8.7.0"


def make_backup(
    folder: Path,
    backup_id: BackupIdentifier,
    *,
    with_snapshot: bool = True,
    minimal: bool = False,
    sizes: dict[str, int] | None = None,
) -> Backup:
    """The scenario backup: 2 snapshot + 2 segment files of 1024 random bytes.

    ``with_snapshot=False``: segments only, no snapshot id. ``minimal``: one 1-byte
    segment file. ``sizes`` overrides file names and sizes (segments only).
    """
    folder = folder / f"{backup_id.node_id}-{backup_id.partition_id}-{backup_id.checkpoint_id}"
    folder.mkdir(parents=True, exist_ok=True)

    def files(sizes: dict[str, int]) -> NamedFileSet:
        for name, size in sizes.items():
            (folder / name).write_bytes(os.urandom(size))
        return NamedFileSet({name: folder / name for name in sizes})

    if sizes is not None:
        snapshot, segments, snapshot_id = NamedFileSet(), files(sizes), None
    elif minimal:
        snapshot, segments, snapshot_id = NamedFileSet(), files({"segment-file-1": 1}), None
    else:
        segments = files({"segment-file-1": 1024, "segment-file-2": 1024})
        if with_snapshot:
            snapshot = files({"snapshot-file-1": 1024, "snapshot-file-2": 1024})
            snapshot_id = "test-snapshot-id"
        else:
            snapshot, snapshot_id = NamedFileSet(), None
    descriptor = BackupDescriptor(snapshot_id, 4, 5, BROKER_VERSION)
    return Backup(backup_id, descriptor, snapshot, segments)


@dataclass(frozen=True)
class FixtureExpectation:
    """How a fixture of ``store-format.md`` must read (fixtures/README.md)."""

    file: str
    formats: tuple[StoreFormat, ...]
    key: str
    backup_id: BackupIdentifier
    status: BackupStatusCode
    snapshot_id: str | None = None
    has_descriptor: bool = True
    failure_reason: str | None = None
    modified: Instant | None = None
    created: Instant | None = None
    same_created_modified: bool = False
    snapshot_files: tuple[str, ...] | None = None
    segment_files: tuple[str, ...] | None = None
    compressed: tuple[str, ...] = ()


_COMMON = (ZEEBE_COMMON,)
# The jackson-* fixtures (written by Zeebe's own classes) in each form, and where they go.
_JACKSON_PLACES = (
    ("common", _COMMON, "manifests/2/43/1/manifest.json"),
    ("s3", (ZEEBE_S3,), "2/43/1/manifest.json"),
)


def _jackson(
    name: str,
    status: BackupStatusCode,
    created: Instant,
    modified: Instant,
    *,
    reason: str | None = None,
    forms: tuple[str, ...] = ("common", "s3"),
) -> list[FixtureExpectation]:
    """The ``jackson-NAME.FORM.json`` fixtures: backup 43 of node 1, partition 2."""
    return [
        FixtureExpectation(
            f"jackson-{name}.{form}.json",
            formats,
            key,
            BackupIdentifier(1, 2, 43),
            status,
            snapshot_id="1-1-5-4",
            failure_reason=reason,
            created=created,
            modified=modified,
            snapshot_files=("snapshotFile1", "CURRENT"),
            segment_files=("segmentFile1",),
        )
        for form, formats, key in _JACKSON_PLACES
        if form in forms
    ]


FIXTURES = [
    FixtureExpectation(
        "common-completed.json",
        _COMMON,
        "manifests/2/43/1/manifest.json",
        BackupIdentifier(1, 2, 43),
        BackupStatusCode.COMPLETED,
        snapshot_id="1-1-5-4",
        modified=Instant.parse_iso("2023-03-14T10:45:09.123456789Z"),
        snapshot_files=("snapshotFile1", "snapshotFile2"),
        segment_files=("segmentFile1",),
    ),
    FixtureExpectation(
        "common-in-progress.json",
        _COMMON,
        "manifests/1/100/0/manifest.json",
        BackupIdentifier(0, 1, 100),
        BackupStatusCode.IN_PROGRESS,
        same_created_modified=True,
    ),
    FixtureExpectation(
        "common-failed.json",
        _COMMON,
        "manifests/2/43/1/manifest.json",
        BackupIdentifier(1, 2, 43),
        BackupStatusCode.FAILED,
        failure_reason="expected failure reason",
        modified=Instant.parse_iso("2023-03-14T10:45:08.500Z"),
    ),
    FixtureExpectation(
        "common-failed-without-descriptor.json",
        _COMMON,
        "manifests/3/44/1/manifest.json",
        BackupIdentifier(1, 3, 44),
        BackupStatusCode.FAILED,
        has_descriptor=False,
    ),
    FixtureExpectation(
        "filesystem-trailing-bytes.json",
        _COMMON,  # every common-form reader ignores trailing bytes
        "manifests/2/43/1/manifest.json",
        BackupIdentifier(1, 2, 43),
        BackupStatusCode.COMPLETED,
    ),
    FixtureExpectation(
        "s3-8.7-completed.json",
        (ZEEBE_S3,),
        "1/100/0/manifest.json",
        BackupIdentifier(0, 1, 100),
        BackupStatusCode.COMPLETED,
        snapshot_id="2-1-3-2",
        created=Instant.parse_decimal_seconds("1668519689.290560717"),
        snapshot_files=("CURRENT", "000140.sst"),
        segment_files=("raft-partition-partition-1-1.log",),
        compressed=("000140.sst",),
    ),
    FixtureExpectation(
        "s3-8.7-in-progress.json",
        (ZEEBE_S3,),
        "1/101/0/manifest.json",
        BackupIdentifier(0, 1, 101),
        BackupStatusCode.IN_PROGRESS,
    ),
    FixtureExpectation(
        "s3-8.7-failed.json",
        (ZEEBE_S3,),
        "1/102/0/manifest.json",
        BackupIdentifier(0, 1, 102),
        BackupStatusCode.FAILED,
        has_descriptor=False,
        failure_reason="Backup was marked as failed before it was taken",
    ),
    FixtureExpectation(
        "s3-8.1-failed.json",
        (ZEEBE_S3,),
        "1/1668519689/0/manifest.json",
        BackupIdentifier(0, 1, 1668519689),
        BackupStatusCode.FAILED,
        snapshot_id="1204500-1-2549184-2548356",
        failure_reason="Some error occurred",
        snapshot_files=("000143.log", "CURRENT"),
        segment_files=("raft-partition-partition-1-49.log",),
    ),
    FixtureExpectation(
        "s3-8.9-completed-iso-dates.json",
        (ZEEBE_S3,),
        "manifests/3/1700000000000/2/manifest.json",
        BackupIdentifier(2, 3, 1700000000000),
        BackupStatusCode.COMPLETED,
        snapshot_id="5-1-10-9",
        created=Instant.parse_iso("2023-11-14T22:13:20.5Z"),
        modified=Instant.parse_iso("2023-11-14T22:13:21Z"),
    ),
    *_jackson(
        "failed-emoji",
        BackupStatusCode.FAILED,
        Instant.parse_iso("2023-03-14T10:45:08Z"),
        Instant.parse_iso("2023-03-14T10:45:09.123456789Z"),
        reason="boom \U0001f4a5 \U0001f680 \U0001f469\u200d\U0001f4bb",
    ),
    *_jackson("epoch-zero", BackupStatusCode.COMPLETED, Instant(0), Instant(0), forms=("s3",)),
    *_jackson(
        "pre-epoch",
        BackupStatusCode.COMPLETED,
        Instant.parse_iso("1969-12-31T23:59:59.500Z"),
        Instant.parse_iso("1969-12-31T00:00:00Z"),
    ),
]

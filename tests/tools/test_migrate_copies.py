"""Migrating between two locations that one service's copies reach (two base paths of
one S3 or GCS bucket, two containers of one Azure account, two folders of one device)
copies each object inside the service: nothing is sent through the seam, the result
verifies and restores byte for byte, and the source is never written. A copy whose
source disappears at the copy request is streamed instead; other locations stream.
"""

from __future__ import annotations

import builtins
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from backup_store.engine import ObjectBackupStore
from backup_store.io import HookedIO, ObjectIO, Request
from backup_store.model import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    BackupStatusCode,
    NamedFileSet,
)
from backup_store.stores.filesystem import FilesystemBackupStore
from backup_store.tools.migrate import migrate
from backup_store.tools.migration_plan import Outcome
from backup_store.tools.verify import VerifyLevel, verify_store
from testbed.cloud_stores import azure_store, gcs_store, s3_store
from testbed.emulators import AzureEmulator, S3Bucket, S3Emulator
from tests.support.counting import CountingIO, counting

BACKUPS = [BackupIdentifier(0, 1, 10), BackupIdentifier(0, 2, 10)]
SIZE = 300_000
NAMES = [f"{n:06d}.sst" for n in range(3)]
FILES = len(BACKUPS) * len(NAMES)


@dataclass
class Pair:
    """A source store holding saved backups, and a target of the same service."""

    source: ObjectBackupStore
    target: ObjectBackupStore
    contents: dict[BackupIdentifier, dict[str, bytes]]
    written: builtins.list[Request]
    """Every request through the source's I/O that changed stored objects."""
    source_io: ObjectIO
    """The source's I/O under the recording wrapper (for staging only)."""


def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[ObjectBackupStore, ...]:
    backend = request.param
    if backend == "filesystem":
        return FilesystemBackupStore(tmp_path / "source"), FilesystemBackupStore(tmp_path / "to")
    if backend in ("s3", "gcs"):
        bucket = request.getfixturevalue(f"{backend}_bucket")
        make = s3_store if backend == "s3" else gcs_store
        return make(bucket, "source"), make(bucket, "target")
    emulator: AzureEmulator = request.getfixturevalue("azure_emulator")
    return azure_store(emulator.create_bucket()), azure_store(emulator.create_bucket())


@pytest.fixture(params=["filesystem", "s3", "gcs", "azure"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Pair:
    source, target = stores(request, tmp_path)
    contents = {}
    for backup_id in BACKUPS:
        folder = tmp_path / f"partition-{backup_id.partition_id}"
        folder.mkdir()
        files = {name: os.urandom(SIZE) for name in NAMES}
        for name, data in files.items():
            (folder / name).write_bytes(data)
        descriptor = BackupDescriptor("1-1-1-1", backup_id.checkpoint_id, 2, "8.7.0")
        named = NamedFileSet({name: folder / name for name in files})
        await source.save(Backup(backup_id, descriptor, NamedFileSet({}), named))
        contents[backup_id] = files
    written: builtins.list[Request] = []

    async def record(seen: Request) -> None:
        if seen.writes:
            written.append(seen)

    source_io = source.io
    source.wrap_io(lambda io: HookedIO(io, record))
    return Pair(source, target, contents, written, source_io)


def read_folder(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


async def check_target(pair: Pair, tmp_path: Path) -> None:
    report = await verify_store(pair.target, level=VerifyLevel.CHECKSUM)
    assert not report.all_problems
    for backup_id in BACKUPS:
        to = tmp_path / f"restored-{backup_id.partition_id}"
        await pair.target.restore(backup_id, to)
        assert read_folder(to) == pair.contents[backup_id]


async def test_a_migration_within_one_service_copies_every_file_inside_it(
    pair: Pair, tmp_path: Path
) -> None:
    counter = counting(pair.target)
    report = await migrate(pair.source, pair.target, wildcard=None)
    assert report.ok and report.count(Outcome.MIGRATED) == len(BACKUPS)
    assert report.copies and report.to_json()["copiesInsideService"]
    assert counter.sent == 0
    assert (report.transfers.files_copied, report.transfers.bytes_copied) == (FILES, FILES * SIZE)
    assert report.transfers.bytes_uploaded == 0
    assert len(counter.copies) == FILES
    await check_target(pair, tmp_path)
    assert pair.written == []


class SourceGoneAtFirstCopy(CountingIO):
    """At the target's first copy request the source object is deleted; once that
    copy failed it is written back with the same bytes (a new object)."""

    def __init__(self, inner: ObjectIO, source_io: ObjectIO) -> None:
        super().__init__(inner)
        self.source_io = source_io
        self.failed: builtins.list[str] = []

    async def start_copy(
        self, source: str, key: str, *, source_location: str | None = None
    ) -> bool:
        if self.failed:
            return await super().start_copy(source, key, source_location=source_location)
        self.failed.append(source)
        held = await self.source_io.get(source)
        assert held is not None
        await self.source_io.delete([source])
        try:
            return await super().start_copy(source, key, source_location=source_location)
        finally:
            await self.source_io.put(source, held.data)


async def test_a_copy_whose_source_is_gone_is_streamed_instead(pair: Pair, tmp_path: Path) -> None:
    staged = SourceGoneAtFirstCopy(pair.target.io, pair.source_io)
    pair.target.io = staged
    report = await migrate(pair.source, pair.target, wildcard=None)
    assert report.ok and report.count(Outcome.MIGRATED) == len(BACKUPS), report.to_json()
    assert len(staged.failed) == 1
    assert staged.sent == SIZE
    assert report.transfers.files_copied == FILES - 1
    await check_target(pair, tmp_path)
    assert pair.written == []


async def test_a_migration_to_another_bucket_streams_and_says_so(
    s3_bucket: S3Bucket, s3_emulator: S3Emulator, tmp_path: Path
) -> None:
    source, target = s3_store(s3_bucket, "source"), s3_store(s3_emulator.create_bucket())
    folder = tmp_path / "partition"
    folder.mkdir()
    (folder / NAMES[0]).write_bytes(os.urandom(SIZE))
    backup = Backup(
        BACKUPS[0],
        BackupDescriptor("1-1-1-1", 10, 1, "8.7.0"),
        NamedFileSet({}),
        NamedFileSet({NAMES[0]: folder / NAMES[0]}),
    )
    await source.save(backup)
    report = await migrate(source, target, wildcard=None)
    assert report.ok and not report.copies
    assert report.to_json()["copiesInsideService"] is False
    assert (report.transfers.bytes_uploaded, report.transfers.files_copied) == (SIZE, 0)
    assert (await target.get_status(BACKUPS[0])).status_code is BackupStatusCode.COMPLETED

"""What a zstd S3 store stores, and what its manifest says it stored, on every write path.

A save, a backup taken by the service and a migration all write files through
``write_backup``; for each, files below, at and over the compression threshold,
compressible or not, on both sides of the multipart threshold, are written to a
``compression=zstd`` S3 store (moto), then restored byte for byte. The manifest
marks ``zstd`` exactly the objects that hold a zstd frame; the others hold the
file's own bytes (``store-format.md`` §4).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import obstore
import pytest

from backup_store import Backup, BackupDescriptor, BackupIdentifier, NamedFileSet, open_store
from backup_store.service import BackupService, BackupState, Checkpoint, CheckpointContent
from backup_store.transfer.files import CHUNK_SIZE
from backup_store.transfer.zstd import COMPRESSION_THRESHOLD
from testbed.cloud_stores import s3_url
from testbed.emulators import S3Bucket
from tests.support.filesystem_stores import invoke, invoke_json
from tests.support.services import MemorySource

BACKUP = BackupIdentifier(0, 1, 7)
PART_SIZE = 5 * 1024 * 1024  # the smallest S3 allows: files over it go in parts
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def compressible(size: int) -> bytes:
    line = b"2026-12-07 INFO exported record position 1234567 to partition 1\n"
    return (line * (size // len(line) + 1))[:size]


def sample_files() -> dict[str, bytes]:
    over = COMPRESSION_THRESHOLD + CHUNK_SIZE
    return {
        "small.log": compressible(10_000),
        "random-multipart": os.urandom(PART_SIZE + CHUNK_SIZE),  # below the threshold
        "random-at-threshold": os.urandom(COMPRESSION_THRESHOLD),
        "random-over.sst": os.urandom(over),  # what RocksDB's SST files look like
        "log-over.log": compressible(over),
        # The probe (first chunk) compresses; the rest does not: still one zstd frame.
        "log-then-random": compressible(CHUNK_SIZE) + os.urandom(over - CHUNK_SIZE),
    }


COMPRESSED = {"log-over.log", "log-then-random"}
"""What zstd shrinks among files over the threshold; every other file is stored plain."""


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


async def save(url: str, folder: Path, files: dict[str, bytes]) -> None:
    async with open_store(url) as store:
        await store.save(
            Backup(
                BACKUP,
                BackupDescriptor("1-2-3-4", 99, 2, "8.7.0"),
                NamedFileSet({"small.log": folder / "small.log"}),
                NamedFileSet({name: folder / name for name in files if name != "small.log"}),
            )
        )


class SampleSource(MemorySource):
    """Partition 1 of a broker, whose backup content is the sample files."""

    def __init__(self, folder: Path, names: list[str]) -> None:
        super().__init__(BACKUP.partition_id, folder)
        self.names = names

    async def backup_content(self, checkpoint: Checkpoint) -> CheckpointContent:
        return CheckpointContent(
            f"{checkpoint.position}-1-1-1",
            checkpoint.position,
            snapshot=NamedFileSet({"small.log": self.files / "small.log"}),
            segments=NamedFileSet({n: self.files / n for n in self.names if n != "small.log"}),
        )


async def take_backup(url: str, folder: Path, files: dict[str, bytes]) -> None:
    async with (
        open_store(url) as store,
        BackupService(store, [SampleSource(folder, list(files))], node_id=0) as service,
    ):
        await service.take_backup(BACKUP.checkpoint_id)
        await service.wait_for_backups()
        taken = await service.get_backup(BACKUP.checkpoint_id)
        assert taken.state is BackupState.COMPLETED, taken


async def stored_objects(url: str) -> dict[str, tuple[str | None, str]]:
    """Each file's recorded compression and its object's key."""
    async with open_store(url) as store:
        stored = await store.read_manifest(BACKUP)
        assert stored is not None
        return {
            entry.name: (entry.compression, store.file_key(stored, file_set, entry))
            for file_set, entry in stored.manifest.files()
        }


def check_store(url: str, bucket: S3Bucket, files: dict[str, bytes], tmp: Path) -> None:
    # The manifest records what was stored, object by object.
    objects = asyncio.run(stored_objects(url))
    assert objects.keys() == files.keys()
    assert {name for name, (how, _) in objects.items() if how == "zstd"} == COMPRESSED
    assert {how for how, _ in objects.values()} <= {"zstd", None}
    for name, (_, key) in objects.items():
        start = bytes(obstore.get(bucket.store(), key, options={"range": (0, 4)}).bytes())
        assert start == (ZSTD_MAGIC if name in COMPRESSED else files[name][:4]), name
    verified = invoke("verify", url, "--level", "checksum")
    assert verified.exit_code == 0, verified.output
    restored = tmp / "restored"
    result = invoke(
        "restore", url, str(BACKUP.checkpoint_id), "--partition", "1", "--to", str(restored)
    )
    assert result.exit_code == 0, result.output
    got = {path.name: path.read_bytes() for path in restored.iterdir()}
    assert got.keys() == files.keys()
    for name, data in files.items():
        assert got[name] == data, name


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return sample_files()


def test_a_save_records_what_it_stored(
    s3_bucket: S3Bucket, files: dict[str, bytes], tmp_path: Path
) -> None:
    write_files(tmp_path / "data", files)
    url = s3_url(s3_bucket, "saved", compression="zstd", part_size=str(PART_SIZE))
    asyncio.run(save(url, tmp_path / "data", files))
    check_store(url, s3_bucket, files, tmp_path)


def test_a_backup_taken_by_the_service_records_what_it_stored(
    s3_bucket: S3Bucket, files: dict[str, bytes], tmp_path: Path
) -> None:
    write_files(tmp_path / "data", files)
    url = s3_url(s3_bucket, "served", compression="zstd", part_size=str(PART_SIZE))
    asyncio.run(take_backup(url, tmp_path / "data", files))
    check_store(url, s3_bucket, files, tmp_path)


def test_a_migration_records_what_it_stored(
    s3_bucket: S3Bucket, files: dict[str, bytes], tmp_path: Path
) -> None:
    write_files(tmp_path / "data", files)
    source = (tmp_path / "filesystem").as_uri()
    asyncio.run(save(source, tmp_path / "data", files))
    target = s3_url(s3_bucket, "migrated", compression="zstd", part_size=str(PART_SIZE))
    result, report = invoke_json("migrate", source, target, "--all")
    assert (report["migrated"], report["failed"]) == (1, 0), result.output
    assert result.exit_code == 0, result.output
    check_store(target, s3_bucket, files, tmp_path)

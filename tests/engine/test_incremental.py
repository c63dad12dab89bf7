"""Incremental saves: a file that the latest earlier COMPLETED backup of the partition
holds unchanged is copied inside the store instead of sent, on every backend.

Bytes are counted at the seam (:class:`CountingIO`: every byte an upload takes from
its source, every copy request), so a test sees whether a file was copied or sent.
Each backup is restored and compared byte for byte. Azure's copies wait until the
service says they are done (Copy Blob may answer while the copy is pending).
"""

from __future__ import annotations

import builtins
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from backup_store.contract.inspectable import StoredManifest
from backup_store.engine import ObjectBackupStore
from backup_store.io.wrapper import HookedIO, Request
from backup_store.model import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    BackupStatusCode,
    NamedFileSet,
)
from backup_store.service import BackupService, BackupState, Checkpoint, CheckpointContent
from backup_store.service.metrics import BackupMetrics
from backup_store.stores.filesystem import FilesystemBackupStore
from backup_store.tools.verify import VerifyLevel, verify_store
from backup_store.transfer.zstd import COMPRESSION_THRESHOLD
from testbed.cloud_stores import azure_store, gcs_store, s3_store
from testbed.emulators import AzureContainer, GcsBucket, S3Bucket
from tests.support.counting import CountingIO, counting
from tests.support.services import MemorySource

FIRST = BackupIdentifier(0, 1, 10)
SECOND = BackupIdentifier(0, 1, 20)
SIZE = 300_000
"""Bytes per file: over the small-file batch size, so each file moves alone."""
NAMES = [f"{n:06d}.sst" for n in range(5)]


@pytest.fixture(params=["filesystem", "s3", "gcs", "azure"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectBackupStore:
    backend = request.param
    if backend == "filesystem":
        return FilesystemBackupStore(tmp_path / "store")
    if backend == "s3":
        bucket: S3Bucket = request.getfixturevalue("s3_bucket")
        return s3_store(bucket, "bp")
    if backend == "gcs":
        gcs: GcsBucket = request.getfixturevalue("gcs_bucket")
        return gcs_store(gcs)
    container: AzureContainer = request.getfixturevalue("azure_container")
    return azure_store(container)


def write_partition(folder: Path, files: dict[str, bytes]) -> Backup:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return backup_of(FIRST, folder, files)


def backup_of(backup_id: BackupIdentifier, folder: Path, files: dict[str, bytes]) -> Backup:
    return Backup(
        backup_id,
        BackupDescriptor(f"{backup_id.checkpoint_id}-1-1-1", backup_id.checkpoint_id, 1, "8.7.0"),
        NamedFileSet({}),
        NamedFileSet({name: folder / name for name in files}),
    )


def first_files() -> dict[str, bytes]:
    return {name: os.urandom(SIZE) for name in NAMES}


async def first_saved(
    store: ObjectBackupStore, tmp_path: Path
) -> tuple[dict[str, bytes], StoredManifest]:
    """The first backup saved, its files and its stored manifest."""
    first = first_files()
    await store.save(write_partition(tmp_path / "first", first))
    stored = await store.read_manifest(FIRST)
    assert stored is not None
    return first, stored


def changed(files: dict[str, bytes], names: Iterable[str]) -> dict[str, bytes]:
    """The partition with ``names`` rewritten (same size, other bytes)."""
    return {name: os.urandom(SIZE) if name in names else data for name, data in files.items()}


def read_folder(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


async def restored(
    store: ObjectBackupStore, backup_id: BackupIdentifier, to: Path
) -> dict[str, bytes]:
    await store.restore(backup_id, to)
    return read_folder(to)


async def save_again(store: ObjectBackupStore, tmp_path: Path, files: dict[str, bytes]) -> None:
    """The second backup of the partition, with ``files`` as they are now."""
    folder = tmp_path / "second"
    write_partition(folder, files)
    await store.save(backup_of(SECOND, folder, files))


async def save_two(
    store: ObjectBackupStore, tmp_path: Path, names_changed: Iterable[str]
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The first backup of the partition, then the second with ``names_changed`` rewritten."""
    first = first_files()
    await store.save(write_partition(tmp_path / "first", first))
    second = changed(first, names_changed)
    folder = tmp_path / "second"
    write_partition(folder, second)
    await store.save(backup_of(SECOND, folder, second))
    return first, second


async def test_a_second_backup_copies_its_unchanged_files_and_restores_alone(
    store: ObjectBackupStore, tmp_path: Path
) -> None:
    counter = counting(store)
    first, second = await save_two(store, tmp_path, NAMES[:1])
    assert (await store.get_status(SECOND)).status_code is BackupStatusCode.COMPLETED
    # Only the changed file's bytes were sent the second time.
    assert counter.sent == len(first) * SIZE + SIZE
    assert sorted(source.rsplit("/", 1)[-1] for source, _ in counter.copies) == NAMES[1:]
    assert store.counters.files_copied == len(NAMES) - 1
    assert store.counters.bytes_copied == (len(NAMES) - 1) * SIZE
    assert store.counters.bytes_uploaded == counter.sent
    assert await restored(store, SECOND, tmp_path / "r1") == second
    # Deleting the first backup never affects the second.
    await store.delete(FIRST)
    assert await restored(store, SECOND, tmp_path / "r2") == second


async def test_incremental_false_sends_every_file(store: ObjectBackupStore, tmp_path: Path) -> None:
    store.incremental = False
    counter = counting(store)
    _, second = await save_two(store, tmp_path, [])
    assert counter.copies == []
    assert counter.sent == 2 * len(NAMES) * SIZE
    assert await restored(store, SECOND, tmp_path / "r") == second


async def test_a_backup_saved_with_copies_off_does_not_hide_an_earlier_source(
    store: ObjectBackupStore, tmp_path: Path
) -> None:
    first = first_files()
    await store.save(write_partition(tmp_path / "first", first))
    store.incremental = False  # the second backup's record names no object identities
    await save_again(store, tmp_path, first)
    store.incremental = True
    counter = counting(store)
    third = BackupIdentifier(0, 1, 30)
    await store.save(backup_of(third, tmp_path / "second", first))
    assert counter.sent == 0
    assert len(counter.copies) == len(NAMES)
    assert await restored(store, third, tmp_path / "r") == first


async def test_a_copy_with_its_sources_e_tag_needs_no_second_look_at_the_source(
    store: ObjectBackupStore, tmp_path: Path
) -> None:
    # One round trip and one request to the service less per copied file where the
    # copy's e-tag is the source's (S3's and GCS's MD5 of a one-part object, a hard
    # link's inode); Azure gives every blob a new one, so its source is asked again.
    first, stored = await first_saved(store, tmp_path)
    sources = {store.file_key(stored, fs, e) for fs, e in stored.manifest.files()}
    seen: builtins.list[Request] = []

    async def record(request: Request) -> None:
        seen.append(request)

    store.wrap_io(lambda io: HookedIO(io, record))
    await save_again(store, tmp_path, first)
    assert store.counters.files_copied == len(NAMES)
    looks = [r.key for r in seen if r.operation == "head" and r.key in sources]
    expected = 2 if store.kind == "azure" else 1
    assert sorted(looks) == sorted(list(sources) * expected)
    assert await restored(store, SECOND, tmp_path / "r") == first


async def test_a_source_rewritten_in_the_store_is_not_copied(
    store: ObjectBackupStore, tmp_path: Path
) -> None:
    first, stored = await first_saved(store, tmp_path)
    # The first backup's object of NAMES[0] rewritten behind its record's back:
    # same size, other bytes.
    [entry] = [e for _, e in stored.manifest.files() if e.name == NAMES[0]]
    raw = store.io
    await raw.upload(store.file_key(stored, "segments", entry), [os.urandom(SIZE)])
    counter = counting(store)
    await save_again(store, tmp_path, first)
    copied = {source.rsplit("/", 1)[-1] for source, _ in counter.copies}
    assert NAMES[0] not in copied
    assert counter.sent >= SIZE
    assert await restored(store, SECOND, tmp_path / "r") == first


async def test_a_source_deleted_during_its_copy_is_uploaded_instead(
    store: ObjectBackupStore, tmp_path: Path
) -> None:
    first, stored = await first_saved(store, tmp_path)
    sources = {e.name: store.file_key(stored, "segments", e) for _, e in stored.manifest.files()}
    raw = store.io
    deleted: builtins.list[str] = []

    async def delete_the_source(request: Request) -> None:
        # Between the check of the source and its copy: the copy finds nothing.
        if request.operation == "copy" and request.key.endswith(NAMES[2]) and not deleted:
            deleted.append(request.key)
            await raw.delete([sources[NAMES[2]]])

    counter = CountingIO(raw)
    store.io = HookedIO(counter, delete_the_source)
    await save_again(store, tmp_path, first)
    assert (await store.get_status(SECOND)).status_code is BackupStatusCode.COMPLETED
    assert deleted, "the copy of the file was never requested"
    assert counter.sent == SIZE  # only the file whose source vanished
    assert await restored(store, SECOND, tmp_path / "r") == first


async def test_a_backup_whose_record_names_no_identities_is_never_a_source(
    store: ObjectBackupStore, tmp_path: Path
) -> None:
    first, stored = await first_saved(store, tmp_path)
    # The first backup's record as an older version wrote it: format 2, no identities.
    record = await store.read_integrity(stored)
    assert record is not None
    older = {
        "format": 2,
        "backupId": {"nodeId": 0, "partitionId": 1, "checkpointId": FIRST.checkpoint_id},
        "createdAt": stored.manifest.created_at.iso(),
        "files": {
            name: {"size": r.size, "sha256": r.sha256, "storedSize": r.stored_size}
            for name, r in record.items()
        },
    }
    await store.io.put(stored.layout.integrity_key(FIRST), json.dumps(older).encode())
    counter = counting(store)
    await save_again(store, tmp_path, first)
    assert counter.copies == []
    assert counter.sent == len(NAMES) * SIZE
    assert await restored(store, SECOND, tmp_path / "r") == first


async def test_a_failed_backup_is_never_a_source(store: ObjectBackupStore, tmp_path: Path) -> None:
    first = first_files()
    raw = store.io
    failed: builtins.list[str] = []

    async def fail_completion(request: Request) -> None:
        # Every file and the integrity record are stored; the manifest's turn to
        # COMPLETED fails, and the save rewrites it FAILED.
        if request.operation == "replace" and not failed:
            failed.append(request.key)
            raise OSError("the store went away")

    store.io = HookedIO(raw, fail_completion)
    with pytest.raises(OSError):
        await store.save(write_partition(tmp_path / "first", first))
    assert (await store.get_status(FIRST)).status_code is BackupStatusCode.FAILED
    store.io = raw
    counter = counting(store)
    await save_again(store, tmp_path, first)
    assert counter.copies == []
    assert counter.sent == len(NAMES) * SIZE
    assert await restored(store, SECOND, tmp_path / "r") == first


async def test_a_copy_keeps_its_sources_zstd_bytes_whatever_the_setting(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    line = b"2026-12-07 INFO exported record position 1234567 to partition 1\n"
    size = COMPRESSION_THRESHOLD + 1024
    files = {"log.log": (line * (size // len(line) + 1))[:size], "plain.sst": os.urandom(SIZE)}
    zstd = s3_store(s3_bucket, "bp", compression="zstd")
    await zstd.save(write_partition(tmp_path / "first", files))
    # The second backup is taken by a store that does not compress.
    plain = s3_store(s3_bucket, "bp")
    counter = counting(plain)
    folder = tmp_path / "second"
    write_partition(folder, files)
    await plain.save(backup_of(SECOND, folder, files))
    assert counter.sent == 0
    assert len(counter.copies) == 2
    stored = await plain.read_manifest(SECOND)
    assert stored is not None
    assert {e.name: e.compression for _, e in stored.manifest.files()} == {
        "log.log": "zstd",
        "plain.sst": None,
    }
    assert await restored(plain, SECOND, tmp_path / "r") == files


class PartitionFiles(MemorySource):
    """Partition 1, whose backup content is the files of a folder."""

    async def backup_content(self, checkpoint: Checkpoint) -> CheckpointContent:
        return CheckpointContent(
            f"{checkpoint.position}-1-1-1",
            checkpoint.position,
            segments=NamedFileSet({name: self.files / name for name in NAMES}),
        )


async def test_the_service_shows_what_was_copied_in_its_metrics_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_partition(tmp_path / "partition", first_files())
    store = FilesystemBackupStore(tmp_path / "store")
    metrics = BackupMetrics(process=False)
    caplog.set_level(logging.INFO)
    async with BackupService(
        store, [PartitionFiles(1, tmp_path / "partition")], node_id=0, metrics=metrics
    ) as service:
        for checkpoint in (FIRST.checkpoint_id, SECOND.checkpoint_id):
            await service.take_backup(checkpoint)
            await service.wait_for_backups()
            assert (await service.get_backup(checkpoint)).state is BackupState.COMPLETED
    value = metrics.registry.get_sample_value
    assert value("backup_store_copied_files_total") == len(NAMES)
    assert value("backup_store_copied_bytes_total") == len(NAMES) * SIZE
    assert value("backup_store_uploaded_bytes_total") == len(NAMES) * SIZE
    assert any(
        f"backup {SECOND}: 0 files uploaded (0 bytes), {len(NAMES)} copied in the store" in line
        for line in caplog.messages
    ), caplog.messages


def test_serve_offers_the_switch_and_its_variable() -> None:
    from click.testing import CliRunner

    from backup_store.cli.serve import INCREMENTAL_ENV, serve

    shown = CliRunner().invoke(serve, ["--help"], terminal_width=200)
    assert "--incremental / --no-incremental" in shown.output
    assert INCREMENTAL_ENV in shown.output


async def test_on_a_filesystem_damage_to_a_shared_file_is_found_in_both_backups(
    tmp_path: Path,
) -> None:
    store = FilesystemBackupStore(tmp_path / "store")
    await save_two(store, tmp_path, NAMES[:1])
    stored = await store.read_manifest(FIRST)
    assert stored is not None
    [entry] = [e for _, e in stored.manifest.files() if e.name == NAMES[1]]
    # Damage written in place into the first backup's file (the second links to it).
    path = tmp_path / "store" / store.file_key(stored, "segments", entry)
    with path.open("r+b") as damaged:
        damaged.write(b"\xff" * 16)
    report = await verify_store(store, level=VerifyLevel.CHECKSUM)
    assert {problem.backup_id for problem in report.all_problems} == {FIRST, SECOND}


class ShortCopies(CountingIO):
    """A service whose copies come out short (what a check after the copy must catch)."""

    async def copy(self, source: str, key: str, *, source_location: str | None = None) -> None:
        await super().copy(source, key, source_location=source_location)
        await self.inner.upload(key, [b"short"], one_request=True)


async def test_a_copy_that_is_not_its_sources_size_is_uploaded_instead(
    store: ObjectBackupStore, tmp_path: Path
) -> None:
    first = first_files()
    await store.save(write_partition(tmp_path / "first", first))
    counter = ShortCopies(store.io)
    store.io = counter
    await save_again(store, tmp_path, first)
    assert counter.sent == len(NAMES) * SIZE  # every copy was replaced by an upload
    assert store.counters.files_copied == 0
    assert await restored(store, SECOND, tmp_path / "r") == first

"""Integrity records tied to their manifest.

The table of ``docs/on-store-format.md``: at a location our stores claimed, a
backup whose record is missing or stale is a verify problem ("no integrity
record", exit 1) and restore refuses it unless unverified data is accepted
explicitly; at a location only Zeebe wrote, presence checks, noted. A record
left by an earlier backup of the same id (Zeebe's own filesystem delete keeps
it) is never applied.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from obstore.store import MemoryStore

from backup_store import (
    Backup,
    BackupIdentifier,
    FileEntry,
    FilesystemBackupStore,
    Instant,
    Manifest,
    ObjectBackupStore,
    S3BackupStore,
    S3Config,
    UnverifiedBackupError,
)
from backup_store.format.integrity import (
    FileRecord,
    IntegrityRecord,
    StoredIdentity,
    decode_record,
    encode_record,
)
from backup_store.format.keys import owner_marker_key
from backup_store.model import FILE_SETS
from backup_store.tools.verify import ProblemKind, VerifyLevel, verify_store
from tests.support.filesystem_stores import invoke, invoke_json
from tests.support.races import same_files_again

BACKUP_ID = BackupIdentifier(1, 2, 3)
StoreFactory = Callable[[], ObjectBackupStore]


@pytest.fixture(params=["filesystem", "s3"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Fresh instances over one location (the S3 format over shared memory)."""
    if request.param == "filesystem":
        return lambda: FilesystemBackupStore(tmp_path / "store")
    shared = MemoryStore()
    return lambda: S3BackupStore(S3Config(bucket="b", base_path="zeebe"), object_store=shared)


def record_key(store: ObjectBackupStore, backup_id: BackupIdentifier = BACKUP_ID) -> str:
    return store.format.write_layout(store.base_path, "8.7.0").integrity_key(backup_id)


async def flip_a_byte(store: ObjectBackupStore, backup: Backup) -> None:
    stored = await store.read_manifest(backup.id)
    assert stored is not None
    file_set, entry = stored.manifest.files()[0]
    key = store.file_key(stored, file_set, entry)
    found = await store.io.get(key)
    assert found is not None
    await store.io.put(key, bytes([found.data[0] ^ 0x01]) + found.data[1:])


async def zeebe_deletes_then_saves_again(store: ObjectBackupStore, backup: Backup) -> Backup:
    """Zeebe's filesystem delete (manifest, ``snapshot/`` and ``segments/`` only), then
    Zeebe's save of the same id with other bytes: our record stays behind, stale."""
    stored = await store.read_manifest(backup.id)
    assert stored is not None
    data_prefix = stored.layout.contents_prefix(backup.id)
    data = [k for k in await store.io.list_keys(data_prefix) if k.split("/")[-2] in FILE_SETS]
    await store.io.delete([stored.key, *data])
    again = same_files_again(backup, Path(str(backup.segments["segment-file-1"].parent) + "-2"))
    for file_set, files in zip(FILE_SETS, (again.snapshot, again.segments), strict=True):
        for name, path in files.items():
            await store.io.put(stored.layout.file_key(backup.id, file_set, name), path.read_bytes())
    assert again.descriptor is not None
    later = Instant(stored.manifest.created_at.epoch_nanos + 61_000_000_123)
    manifest = Manifest.in_progress(
        backup.id,
        again.descriptor,
        tuple(FileEntry(n) for n in again.snapshot),
        tuple(FileEntry(n) for n in again.segments),
        later,
    ).completed(later)
    await store.io.put(stored.key, store.format.encode(manifest, stored.layout))
    return again


def assert_restored(backup: Backup, target: Path) -> None:
    for files in (backup.snapshot, backup.segments):
        for name, path in files.items():
            assert (target / name).read_bytes() == path.read_bytes(), name


async def test_record_names_its_manifest_exactly(
    new_store: StoreFactory, backup_factory: Callable[..., Backup]
) -> None:
    store = new_store()
    await store.save(backup_factory(BACKUP_ID))
    stored = await store.read_manifest(BACKUP_ID)
    assert stored is not None
    found = await store.io.get(record_key(store))
    assert found is not None
    record = decode_record(found.data)
    assert record.backup_id == BACKUP_ID
    assert record.created_at is not None
    assert record.created_at.epoch_nanos == stored.manifest.created_at.epoch_nanos
    assert await store.read_integrity(stored) is not None


def test_record_keeps_every_nanosecond_and_an_older_record_belongs_to_nothing() -> None:
    created = Instant(1_700_000_000_123_456_789)
    record = IntegrityRecord({}, BACKUP_ID, created)
    decoded = decode_record(encode_record(record))
    assert decoded.created_at is not None and decoded.created_at.epoch_nanos == created.epoch_nanos
    manifest = Manifest.failed_never_saved(BACKUP_ID, "x", created)
    assert decoded.belongs_to(manifest)
    assert not decoded.belongs_to(Manifest.failed_never_saved(BACKUP_ID, "x", Instant(1)))
    older = decode_record(b'{"format":1,"files":{}}')  # written before records were tied
    assert not older.belongs_to(manifest)


async def test_lost_record_and_a_flipped_byte_are_refused_at_a_claimed_location(
    new_store: StoreFactory, backup_factory: Callable[..., Backup], tmp_path: Path
) -> None:
    store = new_store()
    backup = backup_factory(BACKUP_ID)
    await store.save(backup)
    await store.io.delete([record_key(store)])
    await flip_a_byte(store, backup)

    with pytest.raises(UnverifiedBackupError, match="no integrity record"):
        await store.restore(BACKUP_ID, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()  # refused before anything is written

    report = await verify_store(store, level=VerifyLevel.CHECKSUM)
    assert not report.ok
    assert [p.kind for p in report.all_problems] == [ProblemKind.NO_RECORD]
    assert "no integrity record" in str(report.all_problems[0])


async def test_unverified_restore_needs_the_caller_to_accept_it_and_says_so(
    new_store: StoreFactory,
    backup_factory: Callable[..., Backup],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = new_store()
    backup = backup_factory(BACKUP_ID)
    await store.save(backup)
    await store.io.delete([record_key(store)])
    with caplog.at_level(logging.WARNING):
        await store.restore(BACKUP_ID, tmp_path / "accepted", allow_unverified=True)
    assert_restored(backup, tmp_path / "accepted")
    assert any("UNVERIFIED" in r.getMessage() for r in caplog.records)


def test_cli_verify_exits_1_and_restore_refuses_without_the_record(
    backup_factory: Callable[..., Backup], tmp_path: Path
) -> None:
    store = FilesystemBackupStore(tmp_path / "store")
    backup = backup_factory(BACKUP_ID)
    asyncio.run(store.save(backup))
    asyncio.run(store.io.delete([record_key(store)]))
    asyncio.run(flip_a_byte(store, backup))
    url = (tmp_path / "store").as_uri()

    verified, report = invoke_json("verify", url, "--level", "checksum", "--json")
    assert verified.exit_code == 1
    problems = report["backups"][0]["problems"]
    assert [p["kind"] for p in problems] == ["no-integrity-record"]

    refused = invoke("restore", url, "3", "--partition", "2", "--to", str(tmp_path / "out"))
    assert refused.exit_code == 1
    assert "no integrity record" in refused.stderr
    assert "--allow-unverified" in refused.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())

    accepted = invoke(
        "restore", url, "3", "--partition", "2", "--to", str(tmp_path / "out"),
        "--allow-unverified",
    )  # fmt: skip
    assert accepted.exit_code == 0, accepted.stderr
    assert "warning" in accepted.stderr and "UNVERIFIED" in accepted.stderr
    assert "NOT VERIFIED" in accepted.stdout


async def test_stale_record_is_ignored_where_only_zeebe_wrote(
    new_store: StoreFactory, backup_factory: Callable[..., Backup], tmp_path: Path
) -> None:
    store = new_store()
    backup = backup_factory(BACKUP_ID)
    await store.save(backup)
    await store.io.delete([owner_marker_key(store.base_path)])  # a location only Zeebe wrote
    again = await zeebe_deletes_then_saves_again(new_store(), backup)
    assert await store.io.get(record_key(store)) is not None  # the stale record is still there

    fresh = new_store()
    report = await verify_store(fresh, level=VerifyLevel.CHECKSUM)
    assert report.ok, [str(p) for p in report.all_problems]
    assert any("written by Zeebe" in note for note in report.backups[0].notes)
    await fresh.restore(BACKUP_ID, tmp_path / "restored")
    assert_restored(again, tmp_path / "restored")


async def test_stale_record_at_a_claimed_location_is_no_record(
    new_store: StoreFactory, backup_factory: Callable[..., Backup], tmp_path: Path
) -> None:
    store = new_store()
    backup = backup_factory(BACKUP_ID)
    await store.save(backup)
    again = await zeebe_deletes_then_saves_again(store, backup)

    fresh = new_store()
    report = await verify_store(fresh, level=VerifyLevel.CHECKSUM)
    assert [p.kind for p in report.all_problems] == [ProblemKind.NO_RECORD]
    with pytest.raises(UnverifiedBackupError):
        await fresh.restore(BACKUP_ID, tmp_path / "refused")
    await fresh.restore(BACKUP_ID, tmp_path / "restored", allow_unverified=True)
    assert_restored(again, tmp_path / "restored")


def test_a_record_names_each_objects_identity_and_older_formats_name_none() -> None:
    identity = StoredIdentity('"5d41402abc4b2a76b9719d911017c592"', 1203)
    record = IntegrityRecord(
        {"segments/1.log": FileRecord(9, "ab" * 32, 1203, identity)},
        BACKUP_ID,
        Instant(1_700_000_000_123_456_789),
    )
    decoded = decode_record(encode_record(record))
    assert decoded.record_format == 3
    assert decoded["segments/1.log"].identity == identity
    # A format-2 record (written before identities) that somehow carries one names none.
    older = decode_record(
        b'{"format":2,"backupId":{"nodeId":1,"partitionId":2,"checkpointId":3},'
        b'"createdAt":"2023-11-14T22:13:20.123456789Z","files":{"segments/1.log":'
        b'{"size":9,"sha256":"ab","storedSize":9,"object":{"eTag":"x","size":9}}}}'
    )
    assert older.record_format == 2
    assert older["segments/1.log"].identity is None

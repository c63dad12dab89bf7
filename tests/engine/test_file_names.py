"""File names are checked before anything is written.

Each store refuses, before its first write, any name it could not store, list,
restore and delete: control characters everywhere, keys over 1,024 bytes (base
path included) in cloud stores, names over 255 bytes on a filesystem. Reading
stays lenient: a backup Zeebe wrote is restorable whenever its names fit the
target folder, and a name too long for it is a typed error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from backup_store import (
    Backup,
    BackupIdentifier,
    FilesystemBackupStore,
    InvalidInputError,
    NamedFileSet,
    ObjectBackupStore,
    RestoreTargetError,
)
from backup_store.format.keys import KeyLayout
from backup_store.model import BackupDescriptor
from backup_store.stores.memory import MemoryBackupStore
from testbed.cloud_stores import azure_store, gcs_store, s3_store
from testbed.emulators import AzureContainer, GcsBucket, S3Bucket

ID = BackupIdentifier(0, 1, 5)
DESCRIPTOR = BackupDescriptor("1-1-1-1", 1, 1, "8.7.0")


def backup_named(folder: Path, *names: str) -> Backup:
    files = {}
    for index, name in enumerate(names):
        path = folder / f"source-{index}"
        path.write_bytes(f"bytes of file {index}".encode())
        files[name] = path
    return Backup(ID, DESCRIPTOR, segments=NamedFileSet(files))


async def all_keys(store: ObjectBackupStore) -> list[str]:
    return await store.io.list_keys("")


@pytest.fixture
def stores(
    s3_bucket: S3Bucket, gcs_bucket: GcsBucket, azure_container: AzureContainer, tmp_path: Path
) -> dict[str, Callable[[], ObjectBackupStore]]:
    return {
        "s3": lambda: s3_store(s3_bucket, "base"),
        "gcs": lambda: gcs_store(gcs_bucket, "base"),
        "azure": lambda: azure_store(azure_container),
        "filesystem": lambda: FilesystemBackupStore(tmp_path / "fs"),
        "memory": lambda: MemoryBackupStore("base"),
    }


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure", "filesystem", "memory"])
@pytest.mark.parametrize("name", ["with\nnewline.log", "with\ttab.log", "del\x7f.log"])
async def test_control_characters_are_refused_before_any_write(
    stores: dict[str, Callable[[], ObjectBackupStore]], tmp_path: Path, kind: str, name: str
) -> None:
    async with stores[kind]() as store:
        backup = backup_named(tmp_path, "fine.log", name)
        with pytest.raises(InvalidInputError, match="control character") as raised:
            await store.save(backup)
        assert repr(name) in raised.value.message
        assert await all_keys(store) == []


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
async def test_cloud_keys_over_1024_bytes_are_refused_before_any_write(
    stores: dict[str, Callable[[], ObjectBackupStore]], tmp_path: Path, kind: str
) -> None:
    async with stores[kind]() as store:
        key_of = store.format.write_layout(store.base_path, DESCRIPTOR.broker_version).file_key
        room = 1024 - len(key_of(ID, "segments", "").encode())
        too_long = "é" * (room // 2) + "xy"  # 2-byte characters: bytes count, not characters
        with pytest.raises(InvalidInputError, match="1024 bytes") as raised:
            await store.save(backup_named(tmp_path, too_long))
        assert "base path included" in raised.value.message
        assert await all_keys(store) == []
        # The longest name that fits is stored, listed, restored and deleted.
        longest = "x" * room
        await store.save(backup_named(tmp_path, longest))
        assert len(key_of(ID, "segments", longest).encode()) == 1024
        assert [s.id for s in await store.list()] == [ID]
        await store.delete(ID)
        assert await store.list() == []


async def test_filesystem_names_over_255_bytes_are_refused_before_any_write(
    tmp_path: Path,
) -> None:
    async with FilesystemBackupStore(tmp_path / "fs") as store:
        with pytest.raises(InvalidInputError, match="255 bytes per name"):
            await store.save(backup_named(tmp_path, "ü" * 128))  # 256 bytes
        assert await all_keys(store) == []
        longest = "n" * 255
        await store.save(backup_named(tmp_path, longest))
        restored = await store.restore(ID, tmp_path / "restored")
        assert [p.name for p in restored.segments.values()] == [longest]
        await store.delete(ID)
        assert [k for k in await all_keys(store) if "contents" in k or "manifests" in k] == []


async def place_zeebe_backup(store: ObjectBackupStore, *names: str) -> None:
    """A COMPLETED backup as Zeebe would write it (no integrity record), with ``names``."""
    layout = KeyLayout(store.base_path, manifests_apart=True)
    manifest = {
        "id": {"nodeId": ID.node_id, "partitionId": ID.partition_id,
               "checkpointId": ID.checkpoint_id},
        "descriptor": {"snapshotId": "1-1-1-1", "checkpointPosition": 1,
                       "numberOfPartitions": 1, "brokerVersion": "8.7.0"},
        "statusCode": "COMPLETED",
        "snapshot": {"files": []},
        "segments": {"files": [{"name": name} for name in names]},
        "createdAt": "2024-01-01T00:00:00Z",
        "modifiedAt": "2024-01-01T00:00:01Z",
    }
    await store.io.put(layout.manifest_key(ID), json.dumps(manifest).encode())
    for name in names:
        await store.io.put(layout.file_key(ID, "segments", name), name.encode())


async def test_reading_stays_lenient(tmp_path: Path) -> None:
    # Written by Zeebe with names our stores would not write: still restorable.
    async with FilesystemBackupStore(tmp_path / "fs") as store:
        await place_zeebe_backup(store, "n" * 255)
        names = ["n" * 255, "tab\there.log"]
        manifest_path = tmp_path / "fs" / KeyLayout(None, True).manifest_key(ID)
        manifest = json.loads(manifest_path.read_bytes())
        manifest["segments"]["files"] = [{"name": name} for name in names]
        manifest_path.write_text(json.dumps(manifest))
        segments = tmp_path / "fs" / "contents/1/5/0/segments"
        (segments / "tab\there.log").write_bytes(b"tab")
        restored = await store.restore(ID, tmp_path / "restored")
        assert sorted(p.name for p in restored.segments.values()) == names
        assert (tmp_path / "restored" / "tab\there.log").read_bytes() == b"tab"


async def test_a_name_too_long_for_the_target_folder_is_a_typed_error(tmp_path: Path) -> None:
    async with MemoryBackupStore() as store:
        await place_zeebe_backup(store, "short.log", "l" * 300)
        target = tmp_path / "restored"
        with pytest.raises(RestoreTargetError, match="300 bytes") as raised:
            await store.restore(ID, target)
        assert "l" * 300 in raised.value.message
        assert list(target.iterdir()) == []

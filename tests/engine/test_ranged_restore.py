"""Large plain files are restored through parallel ranged reads, checked whole.

On S3 (moto), Azure (Azurite) and GCS (fake-gcs-server through the test adapter):
the restored file is the saved one byte for byte; an object whose size is not the
recorded one, or whose bytes differ, fails the restore and leaves nothing behind;
an object replaced while its ranges are read fails that download (every range is
asked of the version the first one read).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import obstore
import pytest

from backup_store import Backup, BackupDescriptor, BackupIdentifier, NamedFileSet
from backup_store.contract.inspectable import InspectableStore
from backup_store.errors import BackupStoreError, IntegrityError
from backup_store.io.obstore import ObstoreIO
from backup_store.registry import open_store
from backup_store.transfer.files import Chunk
from testbed.cloud_stores import url_of
from testbed.emulators import EmulatedBucket

MIB = 1024 * 1024
PART = 5 * MIB
SIZE = 4 * PART + 12345  # five ranges, the last one short
BACKUP_ID = BackupIdentifier(1, 2, 3)


def small_parts(bucket: EmulatedBucket) -> str:
    url = url_of(bucket)
    return f"{url}{'&' if '?' in url else '?'}part_size={PART}&part_concurrency=3&ranged_reads=true"


async def saved(
    bucket: EmulatedBucket, tmp_path: Path, data: bytes
) -> tuple[InspectableStore, str]:
    """A store with one saved backup holding ``data`` as a plain segment file; the
    file's key."""
    source = tmp_path / "segment"
    source.write_bytes(data)
    store = open_store(small_parts(bucket))
    backup = Backup(
        BACKUP_ID, BackupDescriptor(None, 1, 1, "8.7.0"), segments=NamedFileSet({"1.log": source})
    )
    await store.save(backup)
    stored = await store.read_manifest(BACKUP_ID)
    assert stored is not None
    return store, stored.layout.file_key(BACKUP_ID, "segments", "1.log")


async def test_large_plain_file_restores_byte_for_byte(
    emulated_bucket: EmulatedBucket, tmp_path: Path
) -> None:
    data = os.urandom(SIZE)
    store, _ = await saved(emulated_bucket, tmp_path, data)
    restored = await store.restore(BACKUP_ID, tmp_path / "restored")
    assert restored.segments.sources["1.log"].path.read_bytes() == data


@pytest.mark.parametrize("damage", ["shorter", "same size, other bytes"])
async def test_damaged_large_file_fails_the_restore_and_leaves_nothing(
    emulated_bucket: EmulatedBucket, tmp_path: Path, damage: str
) -> None:
    data = os.urandom(SIZE)
    store, key = await saved(emulated_bucket, tmp_path, data)
    if damage == "shorter":
        replaced = data[:-1]
    else:  # one byte changed in the fourth range: only the whole file's hash tells
        middle = 3 * PART + 7
        replaced = data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]
    await obstore.put_async(emulated_bucket.store(), key, replaced)
    target = tmp_path / "restored"
    with pytest.raises(IntegrityError) as raised:
        await store.restore(BACKUP_ID, target)
    assert ("size" if damage == "shorter" else "sha256") in str(raised.value)
    assert list(target.iterdir()) == []


async def test_object_replaced_between_ranges_fails_the_download(
    emulated_bucket: EmulatedBucket,
) -> None:
    raw = emulated_bucket.store()
    io = ObstoreIO(raw, description="emulated", part_size=PART, part_concurrency=2)
    original = os.urandom(SIZE)
    await obstore.put_async(raw, "object", original)
    replaced = bytearray()

    def replace_after_first_range(chunks: Iterator[Chunk]) -> None:
        for chunk in chunks:
            replaced.extend(chunk)
            if len(replaced) == PART:  # the first range read: the object changes now
                obstore.put(raw, "object", os.urandom(SIZE))

    with pytest.raises(BackupStoreError):
        await io.download("object", replace_after_first_range, size=SIZE)
    # What was handed over before the failure is the original's, nothing of the other.
    assert bytes(replaced) == original[: len(replaced)]

"""Rebuilding Zeebe 8.9+'s partition metadata from the manifests, on every real store:
what it writes, what it says it could not recover, and when it refuses (a broker may
be writing there), writing nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from backup_store import BackupIdentifier, FilesystemBackupStore
from backup_store.engine import ObjectBackupStore
from backup_store.format.instant import Instant
from backup_store.format.keys import partition_metadata_key
from backup_store.format.manifest_json import decode_manifest, encode_manifest
from backup_store.format.partition_metadata import (
    BackupRange,
    decode_partition_metadata,
    encode_partition_metadata,
)
from backup_store.model import Backup, BackupStatusCode, CheckpointType
from backup_store.testing.data import FIXTURES_DIR, make_backup
from backup_store.tools.metadata_rebuild import BrokerMayBeWritingError, rebuild_metadata
from testbed.cloud_stores import azure_store, gcs_store, s3_store
from tests.support.filesystem_stores import invoke, invoke_json

DAY = timedelta(days=1)
LATER = timedelta(days=2)
"""How far after the saves the rebuild runs in most tests: past the default quiet period."""


@pytest.fixture(params=["filesystem", "s3", "gcs", "azure"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectBackupStore:
    """An empty store of each backend, on real storage (folder and emulators)."""
    if request.param == "filesystem":
        return FilesystemBackupStore(tmp_path / "store")
    if request.param == "s3":
        return s3_store(request.getfixturevalue("s3_bucket"), "bp")
    if request.param == "gcs":
        return gcs_store(request.getfixturevalue("gcs_bucket"), "bp")
    return azure_store(request.getfixturevalue("azure_container"))


def backup_89(
    tmp_path: Path, checkpoint: int, position: int, first: int | None, partition: int = 2
) -> Backup:
    """A broker-8.9.0 backup of node 1 at ``checkpoint`` covering log ``first..position``."""
    backup = make_backup(
        tmp_path / f"source-{partition}-{checkpoint}",
        BackupIdentifier(1, partition, checkpoint),
        minimal=True,
    )
    descriptor = dataclasses.replace(
        backup.descriptor,
        checkpoint_position=position,
        first_log_position=first,
        broker_version="8.9.0",
        checkpoint_timestamp=Instant.parse_iso("2026-03-01T00:00:00Z"),
        checkpoint_type=CheckpointType.SCHEDULED_BACKUP,
    )
    return dataclasses.replace(backup, descriptor=descriptor)


def later(days: timedelta = LATER) -> Instant:
    return Instant(Instant.now().epoch_nanos + days // timedelta(microseconds=1) * 1000)


async def test_rebuild_writes_what_the_manifests_prove(
    store: ObjectBackupStore, tmp_path: Path
) -> None:
    """Checkpoints 1-3 join, 5 failed, 6's log follows 3's (the failed backup between
    is no part of the chain), 8 leaves a gap: ranges 1..6 and 8..8; checkpoint 5 is
    said to be lost, as are markers."""
    async with store:
        for checkpoint, position, first in ((1, 100, 1), (2, 200, 101), (3, 300, 150)):
            await store.save(backup_89(tmp_path, checkpoint, position, first))
        await store.save(backup_89(tmp_path, 5, 500, 301))
        await store.mark_failed(BackupIdentifier(1, 2, 5), "error")
        await store.save(backup_89(tmp_path, 6, 600, 301))
        await store.save(backup_89(tmp_path, 8, 800, 700))
        now = later()

        [plan] = await rebuild_metadata(store, now=now)

        stored = await store.load_backup_metadata(2)
        raw = await store.io.get(partition_metadata_key(store.base_path, 2))
    assert stored is not None and raw is not None and raw.data == stored
    metadata = decode_partition_metadata(stored)
    assert stored == encode_partition_metadata(metadata)
    assert metadata.partition_id == 2 and metadata.sequence_number is None
    assert metadata.record_version == 1  # no file there: the newest version found
    assert metadata.last_updated == now
    assert [c.checkpoint_id for c in metadata.checkpoints] == [1, 2, 3, 6, 8]
    assert metadata.checkpoints[2].first_log_position == 150
    assert metadata.checkpoints[2].checkpoint_timestamp == Instant.parse_iso("2026-03-01T00:00:00Z")
    assert metadata.checkpoints[2].checkpoint_type is CheckpointType.SCHEDULED_BACKUP
    assert metadata.ranges == (BackupRange(1, 6), BackupRange(8, 8))
    assert "checkpoint 5 (no COMPLETED backup)" in plan.not_recovered
    assert any("MARKER" in lost for lost in plan.not_recovered)


@pytest.mark.parametrize(
    ("existing", "sequence_number", "record_version"),
    [
        ({"sequence_number": 7, "record_version": None}, 8, None),
        ({"sequence_number": None, "record_version": None}, None, None),
        ({"sequence_number": None, "record_version": 1}, None, 1),
    ],
    ids=["two-slot", "one-file", "versioned"],
)
async def test_the_rebuilt_file_keeps_the_version_of_the_file_there(
    store: ObjectBackupStore,
    tmp_path: Path,
    existing: dict[str, int | None],
    sequence_number: int | None,
    record_version: int | None,
) -> None:
    """A file a broker left (two slots: the next sequence number), one file, or the
    versioned record: the rebuilt file is of the same version, so that broker reads it."""
    async with store:
        await store.save(backup_89(tmp_path, 1, 100, 1))
        zeebes = decode_partition_metadata((FIXTURES_DIR / "zeebe89-metadata.json").read_bytes())
        left = dataclasses.replace(zeebes, partition_id=2, **existing)  # type: ignore[arg-type]
        await store.store_backup_metadata(2, encode_partition_metadata(left))

        await rebuild_metadata(store, now=later())

        stored = await store.load_backup_metadata(2)
    assert stored is not None
    rebuilt = decode_partition_metadata(stored)
    assert (rebuilt.sequence_number, rebuilt.record_version) == (sequence_number, record_version)
    assert [c.checkpoint_id for c in rebuilt.checkpoints] == [1]
    assert stored == encode_partition_metadata(rebuilt)


async def test_a_backup_in_progress_refuses_the_rebuild_and_nothing_is_written(
    store: ObjectBackupStore, tmp_path: Path
) -> None:
    """A broker taking a backup leaves an IN_PROGRESS manifest: refused, naming it."""
    async with store:
        backup = backup_89(tmp_path, 1, 100, 1)
        await store.save(backup)
        stored = await store.read_manifest(backup.id)
        assert stored is not None
        in_progress = dataclasses.replace(stored.manifest, status_code=BackupStatusCode.IN_PROGRESS)
        await store.io.put(stored.key, encode_manifest(in_progress, store.format.manifest_form))
        before = sorted(await store.io.list_keys(""))

        with pytest.raises(BrokerMayBeWritingError, match=r"partition 2: backup .* IN_PROGRESS"):
            await rebuild_metadata(store, now=later())

        assert await store.load_backup_metadata(2) is None
        assert sorted(await store.io.list_keys("")) == before


async def test_recent_writes_refuse_the_rebuild_and_nothing_is_written(
    store: ObjectBackupStore, tmp_path: Path
) -> None:
    """A manifest written within the quiet period (partition 3), or metadata a broker
    updated within it (partition 2): both refused, and partition 4, quiet, is not
    written either."""
    async with store:
        for partition in (2, 3, 4):
            await store.save(backup_89(tmp_path, 1, 100, 1, partition))
        brokers = dataclasses.replace(
            decode_partition_metadata((FIXTURES_DIR / "zeebe89-metadata.json").read_bytes()),
            partition_id=2,
            last_updated=later(LATER - timedelta(hours=1)),
        )
        await store.store_backup_metadata(2, encode_partition_metadata(brokers))
        await store.save(backup_89(tmp_path, 2, 200, 101, 3))
        # partition 3's newest manifest is an hour old when the rebuild runs at LATER + 1h
        manifest_key = (await store.read_manifest(BackupIdentifier(1, 3, 2)))
        assert manifest_key is not None
        recent = dataclasses.replace(
            manifest_key.manifest, modified_at=later(LATER), created_at=later(LATER)
        )
        await store.io.put(manifest_key.key, encode_manifest(recent, store.format.manifest_form))
        before = {k: (await store.io.get(k)) for k in await store.io.list_keys("")}
        now = later(LATER + timedelta(hours=1))

        with pytest.raises(BrokerMayBeWritingError) as refused:
            await rebuild_metadata(store, now=now, quiet=DAY)

        after = {k: (await store.io.get(k)) for k in await store.io.list_keys("")}
    message = str(refused.value)
    assert "partition 2: its metadata says it was updated at" in message
    assert "partition 3: backup" in message and "partition 4" not in message
    assert {k: v.data for k, v in after.items() if v} == {
        k: v.data for k, v in before.items() if v
    }


async def test_metadata_written_by_a_broker_just_now_refuses_by_its_object_time(
    tmp_path: Path,
) -> None:
    """The object's own modification time counts, whatever the file's lastUpdated says."""
    store = FilesystemBackupStore(tmp_path / "store")
    async with store:
        await store.save(backup_89(tmp_path, 1, 100, 1))
        old = decode_partition_metadata((FIXTURES_DIR / "zeebe89-metadata.json").read_bytes())
        await store.store_backup_metadata(2, encode_partition_metadata(old))

        with pytest.raises(BrokerMayBeWritingError, match="its metadata was written at"):
            await rebuild_metadata(store, [2], now=Instant.now(), quiet=DAY)


def test_the_command_rebuilds_zeebes_location_and_says_what_it_lost(tmp_path: Path) -> None:
    """A filesystem location Zeebe 8.10 wrote in March (its manifest and no metadata):
    ``catalog rebuild --metadata`` writes the metadata and names what is lost."""
    root = tmp_path / "zeebe"
    manifest = (FIXTURES_DIR / "zeebe89-completed.common.json").read_bytes()
    key = root / "manifests" / "2" / "15" / "1" / "manifest.json"
    key.parent.mkdir(parents=True)
    key.write_bytes(manifest)

    result = invoke("catalog", "rebuild", root.as_uri(), "--metadata")

    assert result.exit_code == 0, result.stderr
    assert "Metadata of partition 2 rebuilt: 1 checkpoint, ranges 15..15." in result.stdout
    assert "Not recovered: MARKER checkpoints" in result.stdout
    written = decode_partition_metadata((root / "metadata" / "2" / "metadata.json").read_bytes())
    zeebes = decode_manifest(manifest, FilesystemBackupStore(root).format.manifest_form)
    assert zeebes.descriptor is not None
    [checkpoint] = written.checkpoints
    assert checkpoint.checkpoint_position == zeebes.descriptor.checkpoint_position
    assert checkpoint.first_log_position == 1013
    assert checkpoint.checkpoint_timestamp == zeebes.descriptor.checkpoint_timestamp


def test_the_command_reports_the_metadata_in_json(tmp_path: Path) -> None:
    root = tmp_path / "zeebe"
    key = root / "manifests" / "2" / "15" / "1" / "manifest.json"
    key.parent.mkdir(parents=True)
    key.write_bytes((FIXTURES_DIR / "zeebe89-completed.common.json").read_bytes())

    result, document = invoke_json("catalog", "rebuild", root.as_uri(), "--metadata")

    assert result.exit_code == 0, result.stderr
    [partition] = document["metadata"]
    assert partition["partition"] == 2
    assert partition["checkpoints"] == [15] and partition["ranges"] == [[15, 15]]
    assert any("MARKER" in lost for lost in partition["notRecovered"])
    assert document["manifests"] == 1


def test_the_command_refuses_a_location_just_written_and_exits_1(tmp_path: Path) -> None:
    """A backup saved a moment ago: refused with the reason, nothing written, exit 1."""
    root = tmp_path / "store"

    async def save() -> None:
        async with FilesystemBackupStore(root) as store:
            await store.save(backup_89(tmp_path, 1, 100, 1))

    asyncio.run(save())
    before = sorted(p.relative_to(root) for p in root.rglob("*"))

    result = invoke("catalog", "rebuild", root.as_uri(), "--metadata", "--partition", "2")

    assert result.exit_code == 1
    assert "a broker may be writing this location" in result.stderr
    assert "partition 2: backup" in result.stderr
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_partition_without_metadata_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("catalog", "rebuild", tmp_path.as_uri(), "--partition", "2")

    assert result.exit_code == 2
    assert "--partition only applies with --metadata" in result.stderr


async def test_a_damaged_manifest_in_a_chain_breaks_it_and_is_named(tmp_path: Path) -> None:
    """2 joins 1 and 3 joins 2, but 3's log does not follow 1's: with 2's manifest
    damaged there are two ranges, and checkpoint 2 is named as lost."""
    store = FilesystemBackupStore(tmp_path / "store")
    async with store:
        for checkpoint, position, first in ((1, 100, 1), (2, 200, 101), (3, 300, 150)):
            await store.save(backup_89(tmp_path, checkpoint, position, first))
        damaged = await store.read_manifest(BackupIdentifier(1, 2, 2))
        assert damaged is not None
        await store.io.put(damaged.key, b"{s")

        [plan] = await rebuild_metadata(store, now=later())

    assert plan.metadata.ranges == (BackupRange(1, 1), BackupRange(3, 3))
    assert "checkpoint 2 (a damaged manifest)" in plan.not_recovered

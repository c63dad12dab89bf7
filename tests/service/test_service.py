"""The backup service and the directory source, in-process (no HTTP)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backup_store import (
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatusCode,
    InvalidInputError,
    MemoryBackupStore,
)
from backup_store.cli.sample import SampleWriter, generate_sample_data
from backup_store.format.instant import Instant
from backup_store.format.manifest import Manifest
from backup_store.format.manifest_json import encode_common
from backup_store.model import MAX_CHECKPOINT_ID, BackupDescriptor
from backup_store.service import (
    CANCELLED_REASON,
    RESTART_REASON,
    BackupIdConflictError,
    BackupService,
    BackupState,
    Checkpoint,
    CheckpointContent,
    DirectorySource,
    SourceError,
    SourceUnavailableError,
)
from backup_store.service.directory import STATE_FILE_NAME
from tests.support.services import MemorySource


@pytest.fixture
def store() -> MemoryBackupStore:
    return MemoryBackupStore()


@pytest.fixture
def sources(tmp_path: Path) -> list[MemorySource]:
    return [MemorySource(1, tmp_path), MemorySource(2, tmp_path)]


@pytest.fixture
async def service(
    store: MemoryBackupStore, sources: list[MemorySource]
) -> AsyncIterator[BackupService]:
    async with BackupService(store, sources, node_id=0) as running:
        yield running


async def put_manifest(store: MemoryBackupStore, manifest: Manifest) -> None:
    backup_id = manifest.id
    key = f"manifests/{backup_id.partition_id}/{backup_id.checkpoint_id}/{backup_id.node_id}/"
    await store.io.put(key + "manifest.json", encode_common(manifest))


def in_progress(node: int, partition: int, checkpoint: int) -> Manifest:
    return Manifest.in_progress(
        BackupIdentifier(node, partition, checkpoint),
        BackupDescriptor("1-1-1-1", 5, 2, "8.7.0"), (), (), Instant.now(),
    )


# ---------------------------------------------------------------- BackupService


async def test_take_then_get_and_list(service: BackupService, store: MemoryBackupStore) -> None:
    checkpoints = await service.take_backup(100)
    assert sorted(c.partition_id for c in checkpoints) == [1, 2]
    await service.wait_for_backups()
    info = await service.get_backup(100)
    assert info.state is BackupState.COMPLETED
    assert [d.partition_id for d in info.details] == [1, 2]
    assert info.details[0].snapshot_id == "100-1-1-1"
    status = await store.get_status(BackupIdentifier(0, 1, 100))
    assert status.descriptor is not None and status.descriptor.number_of_partitions == 2
    await service.take_backup(105)
    await service.take_backup(200)
    await service.wait_for_backups()
    assert [i.backup_id for i in await service.list_backups()] == [200, 105, 100]
    assert [i.backup_id for i in await service.list_backups("10")] == [105, 100]
    assert await service.list_backups("3") == []
    assert (await service.get_backup(7)).state is BackupState.DOES_NOT_EXIST
    assert await service.latest_backup_id() == 200


async def test_a_refused_id_records_nothing(
    service: BackupService, sources: list[MemorySource]
) -> None:
    sources[0].latest = 200
    with pytest.raises(BackupIdConflictError) as raised:
        await service.take_backup(150)
    assert (raised.value.requested, raised.value.latest) == (150, 200)
    assert sources[1].latest == 0
    assert str(raised.value) == (
        "Requested backup has ID 150. The latest backup has ID 200. The backup ID must be "
        "greater than the ID of previous backups that are completed, failed, or deleted."
    )


@pytest.mark.parametrize("bad", [0, -1, MAX_CHECKPOINT_ID + 1, True])
async def test_invalid_ids(service: BackupService, bad: int) -> None:
    with pytest.raises(InvalidInputError):
        await service.take_backup(bad)
    with pytest.raises(InvalidInputError):
        await service.get_backup(bad)
    with pytest.raises(InvalidInputError):
        await service.delete_backup(bad)


async def test_the_largest_id_is_the_last(service: BackupService) -> None:
    await service.take_backup(MAX_CHECKPOINT_ID)
    with pytest.raises(BackupIdConflictError):
        await service.take_backup(MAX_CHECKPOINT_ID)
    await service.wait_for_backups()
    assert (await service.get_backup(MAX_CHECKPOINT_ID)).state is BackupState.COMPLETED


async def test_the_store_bounds_ids_when_the_sources_forgot(
    store: MemoryBackupStore, tmp_path: Path
) -> None:
    async with BackupService(store, [MemorySource(1, tmp_path)]) as first:
        await first.take_backup(500)
        await first.wait_for_backups()
    # New sources (their state lost), same store and node: 500 is still taken.
    async with BackupService(store, [MemorySource(1, tmp_path)]) as second:
        with pytest.raises(BackupIdConflictError) as raised:
            await second.take_backup(400)
        assert raised.value.latest == 500
        # A manifest that appears after start (same node id elsewhere) is caught too.
        await put_manifest(store, in_progress(0, 1, 600))
        with pytest.raises(BackupIdConflictError):
            await second.take_backup(600)
        await second.take_backup(601)


async def test_restart_marks_only_this_nodes_orphans_failed(
    store: MemoryBackupStore, sources: list[MemorySource]
) -> None:
    await put_manifest(store, in_progress(0, 1, 100))
    await put_manifest(store, in_progress(0, 2, 100))
    await put_manifest(store, in_progress(1, 1, 100))
    async with BackupService(store, sources, node_id=0) as service:
        info = await service.get_backup(100)
    assert info.state is BackupState.FAILED
    # Node 1's copy of partition 1 is still running elsewhere: it is the best one.
    assert [(d.state, d.broker_id) for d in info.details] == [
        (BackupStatusCode.IN_PROGRESS, 1), (BackupStatusCode.FAILED, 0)
    ]
    for partition in (1, 2):
        status = await store.get_status(BackupIdentifier(0, partition, 100))
        assert status.failure_reason == RESTART_REASON
    other = await store.get_status(BackupIdentifier(1, 1, 100))
    assert other.status_code is BackupStatusCode.IN_PROGRESS
    assert info.failure_reason == f"Backup on partition 2 failed due to {RESTART_REASON}. "


async def test_an_accepted_backup_is_in_the_store_before_its_content_and_deletes(
    service: BackupService, sources: list[MemorySource], store: MemoryBackupStore
) -> None:
    for source in sources:
        source.content_gate.clear()
    await service.take_backup(100)
    info = await service.get_backup(100)
    assert info.state is BackupState.IN_PROGRESS
    # Accepted durably before take_backup returned, although no content exists yet.
    for partition in (1, 2):
        stored = await store.read_manifest(BackupIdentifier(0, partition, 100))
        assert stored is not None
        assert stored.manifest.status_code is BackupStatusCode.IN_PROGRESS
        assert stored.manifest.files() == []
    assert [i.state for i in await service.list_backups()] == [BackupState.IN_PROGRESS]
    await service.delete_backup(100)
    assert service.running_backups == []
    assert (await service.get_backup(100)).state is BackupState.DOES_NOT_EXIST
    assert await store.list(BackupIdentifierWildcard()) == []
    with pytest.raises(BackupIdConflictError):
        await service.take_backup(100)


async def test_delete_marks_in_progress_failed_first(
    service: BackupService, store: MemoryBackupStore
) -> None:
    await put_manifest(store, in_progress(3, 1, 100))
    calls: list[tuple[BackupIdentifier, str]] = []
    original = store.mark_failed

    async def spy(backup_id: BackupIdentifier, reason: str) -> BackupStatusCode:
        calls.append((backup_id, reason))
        return await original(backup_id, reason)

    store.mark_failed = spy  # type: ignore[method-assign]
    await service.delete_backup(100)
    assert calls == [(BackupIdentifier(3, 1, 100), "The backup is being deleted.")]
    assert (await store.get_status(BackupIdentifier(3, 1, 100))).status_code is (
        BackupStatusCode.DOES_NOT_EXIST
    )


async def test_a_timed_out_take_still_records_and_backs_up(
    service: BackupService, sources: list[MemorySource]
) -> None:
    sources[1].record_gate.clear()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await service.take_backup(100)
    sources[1].record_gate.set()
    for _ in range(500):
        if (await service.get_backup(100)).state is BackupState.COMPLETED:
            break
        await asyncio.sleep(0.01)
    assert (await service.get_backup(100)).state is BackupState.COMPLETED


async def test_partitions_that_recorded_back_up_when_another_fails(
    service: BackupService, sources: list[MemorySource]
) -> None:
    sources[1].fail_record = SourceUnavailableError("partition 2 is down")
    with pytest.raises(SourceUnavailableError):
        await service.take_backup(100)
    await service.wait_for_backups()
    info = await service.get_backup(100)
    assert info.state is BackupState.INCOMPLETE
    assert [d.state for d in info.details] == [
        BackupStatusCode.COMPLETED, BackupStatusCode.DOES_NOT_EXIST
    ]


async def test_close_cancels_running_backups_and_marks_them_failed(
    store: MemoryBackupStore, sources: list[MemorySource]
) -> None:
    sources[0].content_gate.clear()
    async with BackupService(store, sources) as service:
        await service.take_backup(100)
        assert service.running_backups
    status = await store.get_status(BackupIdentifier(0, 1, 100))
    assert status.status_code is BackupStatusCode.FAILED
    assert status.failure_reason == CANCELLED_REASON


async def test_partition_count_from_descriptors(store: MemoryBackupStore, tmp_path: Path) -> None:
    """A node configured with fewer partitions learns the count from descriptors it reads."""
    for node, partition in ((5, 1), (6, 3)):
        started = in_progress(node, partition, 100)
        await put_manifest(store, Manifest(
            started.id, BackupStatusCode.COMPLETED, BackupDescriptor("1", 1, 4, "8.7.0"), (), (),
            started.created_at, started.modified_at,
        ))
    async with BackupService(store, [MemorySource(1, tmp_path)]) as service:
        info = await service.get_backup(100)
        listed = await service.list_backups()
    assert [(d.partition_id, d.state.value) for d in info.details] == [
        (1, "COMPLETED"), (2, "DOES_NOT_EXIST"), (3, "COMPLETED"), (4, "DOES_NOT_EXIST")
    ]
    assert info.state is BackupState.INCOMPLETE
    assert listed == [info]


def test_configuration_errors(store: MemoryBackupStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        BackupService(store, [MemorySource(1, tmp_path), MemorySource(1, tmp_path)])
    with pytest.raises(InvalidInputError):
        BackupService(store, [MemorySource(3, tmp_path)], partition_count=2)
    with pytest.raises(InvalidInputError):
        BackupService(store, [], node_id=-1)


# ---------------------------------------------------------------- DirectorySource


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    generate_sample_data(root, 2, seed=1)
    return root


async def test_directory_source_records_durably(data: Path) -> None:
    source = DirectorySource(data / "1")
    assert source.partition_id == 1
    assert await source.latest_checkpoint_id() == 0
    checkpoint = await source.record_checkpoint(100)
    assert checkpoint.checkpoint_id == 100
    state = json.loads((data / "1" / STATE_FILE_NAME).read_text())
    assert state["latestCheckpointId"] == 100
    again = DirectorySource(data / "1")
    assert await again.latest_checkpoint_id() == 100
    for refused in (100, 99):
        with pytest.raises(BackupIdConflictError) as raised:
            await again.record_checkpoint(refused)
        assert raised.value.latest == 100
    await again.record_checkpoint(101)
    assert await DirectorySource(data / "2").latest_checkpoint_id() == 0


async def test_directory_source_captures_segments_at_the_checkpoint(data: Path) -> None:
    source = DirectorySource(data / "1")
    checkpoint = await source.record_checkpoint(5)
    sizes = {p.name: p.stat().st_size for p in (data / "1" / "segments").iterdir()}
    async with SampleWriter(data, interval=0.001) as writer:
        while writer.records < 5:  # noqa: ASYNC110  (polls the writer's counter)
            await asyncio.sleep(0.005)
    content = await source.backup_content(checkpoint)
    assert {n: s.length for n, s in content.segments.sources.items()} == sizes
    assert content.checkpoint_position == sum(sizes.values()) == checkpoint.position
    grown = {p.name: p.stat().st_size for p in (data / "1" / "segments").iterdir()}
    assert sum(grown.values()) > sum(sizes.values())
    snapshot = next((data / "1" / "snapshots").iterdir())
    assert content.snapshot_id == snapshot.name
    assert sorted(content.snapshot) == sorted(p.name for p in snapshot.iterdir())
    assert content.broker_version == "8.7.0"


async def test_directory_source_picks_the_newest_complete_snapshot(data: Path) -> None:
    snapshots = data / "1" / "snapshots"
    for name in ("200-1-50-40", "99-9-9-9", "300-1-60-50.tmp", ".400-1-1-1", "20-1-1-1"):
        (snapshots / name).mkdir()
        (snapshots / name / "CURRENT").write_text(name)
    checkpoint = await DirectorySource(data / "1").record_checkpoint(1)
    content = await DirectorySource(data / "1").backup_content(checkpoint)
    assert content.snapshot_id == "200-1-50-40"


async def test_directory_source_without_snapshot(tmp_path: Path) -> None:
    (tmp_path / "3" / "segments").mkdir(parents=True)
    (tmp_path / "3" / "segments" / "1.log").write_bytes(b"abc")
    source = DirectorySource(tmp_path / "3")
    content = await source.backup_content(await source.record_checkpoint(1))
    assert content.snapshot_id is None and len(content.snapshot) == 0
    assert content.checkpoint_position == 3


async def test_directory_source_errors(data: Path, tmp_path: Path) -> None:
    nested = next((data / "1" / "snapshots").iterdir()) / "sub"
    nested.mkdir()
    with pytest.raises(SourceError, match="contains a folder"):
        await DirectorySource(data / "1").record_checkpoint(1)
    assert await DirectorySource(data / "1").latest_checkpoint_id() == 0

    for unreadable in ("{oops", "[]", "[" * 100_000 + "]" * 100_000):
        (data / "2" / STATE_FILE_NAME).write_text(unreadable)
        with pytest.raises(SourceError, match="unreadable"):
            await DirectorySource(data / "2").record_checkpoint(1)

    with pytest.raises(SourceUnavailableError):
        await DirectorySource(tmp_path / "gone" / "1").latest_checkpoint_id()
    with pytest.raises(SourceError):
        DirectorySource(tmp_path / "not-a-number")
    with pytest.raises(SourceError):
        await DirectorySource(data / "2", 2).backup_content(Checkpoint(2, 1, 1))


def test_discover_takes_numbered_folders_in_order(tmp_path: Path) -> None:
    for name in ("10", "2", "1", "abc", "0", "07"):
        (tmp_path / name).mkdir()
    (tmp_path / "3").write_text("a file")
    assert [s.partition_id for s in DirectorySource.discover(tmp_path)] == [1, 2, 10]
    with pytest.raises(SourceUnavailableError):
        DirectorySource.discover(tmp_path / "missing")


async def test_a_vanished_segment_fails_the_backup_naming_it(data: Path, tmp_path: Path) -> None:
    class Gated(DirectorySource):
        gate = asyncio.Event()

        async def backup_content(self, checkpoint: Checkpoint) -> CheckpointContent:
            await self.gate.wait()
            return await super().backup_content(checkpoint)

    store = MemoryBackupStore()
    async with BackupService(store, [Gated(data / "1"), Gated(data / "2")]) as service:
        await service.take_backup(100)
        victim = sorted((data / "1" / "segments").iterdir())[0]
        victim.unlink()
        Gated.gate.set()
        await service.wait_for_backups()
        info = await service.get_backup(100)
    assert info.state is BackupState.FAILED
    assert [d.state for d in info.details] == [BackupStatusCode.FAILED, BackupStatusCode.COMPLETED]
    reason = info.details[0].failure_reason
    assert reason is not None and str(victim) in reason and "not found" in reason

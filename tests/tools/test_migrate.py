"""backup_store.tools.migrate: copy backups across stores, verified, resumable, source untouched."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backup_store import (
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatus,
    BackupStatusCode,
    FilesystemBackupStore,
    InvalidInputError,
    MemoryBackupStore,
    ObjectBackupStore,
)
from backup_store.contract.inspectable import StoredManifest
from backup_store.format.manifest import FileEntry
from backup_store.format.manifest_json import encode_manifest
from backup_store.tools.migrate import migrate
from backup_store.tools.migration_plan import Action, Outcome, decide, plan_migration
from backup_store.tools.verify import VerifyLevel, verify_store
from tests.support.filesystem_stores import (
    ZEEBE_COMPLETED,
    ZEEBE_FILES,
    StoreDir,
    Tripwire,
    built_once,
    file_bytes,
    raw_store,
    save_backups,
)

A = BackupIdentifier(0, 1, 10)
B = BackupIdentifier(0, 2, 10)
C = BackupIdentifier(1, 1, 11)
FAILED_ID = BackupIdentifier(0, 3, 10)
IN_PROGRESS_ID = BackupIdentifier(0, 1, 12)
ALL = BackupIdentifierWildcard()


async def statuses(store: ObjectBackupStore) -> dict[BackupIdentifier, BackupStatus]:
    return {s.id: s for s in await store.list(ALL)}


async def restored_files(
    store: ObjectBackupStore, backup_id: BackupIdentifier, folder: Path
) -> dict[str, bytes]:
    backup = await store.restore(backup_id, folder)
    paths = {**backup.snapshot.paths, **backup.segments.paths}
    return {name: path.read_bytes() for name, path in paths.items()}


async def put_in_progress_copy(store: ObjectBackupStore, source: StoredManifest) -> None:
    """What a migration killed with SIGKILL leaves: an IN_PROGRESS manifest, some files."""
    manifest = source.manifest
    assert manifest.descriptor is not None
    started = type(manifest).in_progress(
        manifest.id,
        manifest.descriptor,
        manifest.snapshot_files or (),
        manifest.segment_files or (),
        manifest.created_at,
    )
    layout = source.layout
    await store.io.put(
        layout.manifest_key(manifest.id), encode_manifest(started, store.format.manifest_form)
    )
    first_set, first = manifest.files()[0]
    await store.io.put(layout.file_key(manifest.id, first_set, first.name), b"partial")


async def _build_template(store: FilesystemBackupStore, data: Path) -> None:
    await save_backups(store, data, [A, B, C])
    await store.mark_failed(FAILED_ID, "disk full")
    await save_backups(store, data, [IN_PROGRESS_ID])
    stored = await store.read_manifest(IN_PROGRESS_ID)
    assert stored is not None
    # A backup still being taken: rewrite its manifest as IN_PROGRESS.
    in_progress = type(stored.manifest).in_progress(
        IN_PROGRESS_ID,
        stored.manifest.descriptor,  # type: ignore[arg-type]
        stored.manifest.snapshot_files or (),
        stored.manifest.segment_files or (),
        stored.manifest.created_at,
    )
    await store.io.put(stored.key, encode_manifest(in_progress, store.format.manifest_form))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> StoreDir:
    return built_once(tmp_path_factory, _build_template)


@pytest.fixture
def source_dir(template: StoreDir, tmp_path: Path) -> StoreDir:
    """A source with two COMPLETED partitions of id 10, one of id 11, a FAILED and an
    IN_PROGRESS backup."""
    return template.copy_to(tmp_path / "source")


async def test_round_trip_is_byte_identical_and_keeps_statuses(
    source_dir: StoreDir, tmp_path: Path
) -> None:
    before = source_dir.tree()
    middle = MemoryBackupStore("migrated")
    final_dir = StoreDir(tmp_path / "final")
    async with source_dir.open() as source, final_dir.open() as final:
        first = await migrate(source, middle, wildcard=ALL)
        second = await migrate(middle, final, wildcard=ALL)
        assert first.ok and second.ok
        assert first.count(Outcome.MIGRATED) == second.count(Outcome.MIGRATED) == 4
        assert first.count(Outcome.SKIPPED) == 1  # the IN_PROGRESS one
        expected = await statuses(source)
        del expected[IN_PROGRESS_ID]
        assert await statuses(middle) == expected
        assert await statuses(final) == expected
        for backup_id in (A, B, C):
            original = await restored_files(source, backup_id, tmp_path / f"o-{backup_id}")
            copied = await restored_files(final, backup_id, tmp_path / f"c-{backup_id}")
            assert copied == original
        assert (await verify_store(final, level=VerifyLevel.CHECKSUM)).ok
    assert source_dir.tree() == before


async def test_failed_backup_keeps_status_reason_and_timestamps(source_dir: StoreDir) -> None:
    target = MemoryBackupStore()
    async with source_dir.open() as source:
        report = await migrate(source, target, 10)
        [result] = [r for r in report.results if r.plan.backup_id == FAILED_ID]
        assert result.plan.action is Action.COPY_MANIFEST
        assert result.outcome is Outcome.MIGRATED
        assert await target.get_status(FAILED_ID) == await source.get_status(FAILED_ID)
    status = await target.get_status(FAILED_ID)
    assert (status.status_code, status.failure_reason) == (BackupStatusCode.FAILED, "disk full")


async def test_in_progress_backup_is_skipped_with_a_reason(source_dir: StoreDir) -> None:
    target = MemoryBackupStore()
    async with source_dir.open() as source:
        report = await migrate(source, target, 12)
    [result] = report.results
    assert result.plan.action is Action.SKIP_IN_PROGRESS
    assert result.outcome is Outcome.SKIPPED
    assert "IN_PROGRESS at the source" in result.message
    assert report.ok
    assert (await target.get_status(IN_PROGRESS_ID)).status_code is (
        BackupStatusCode.DOES_NOT_EXIST
    )


async def test_rerun_skips_what_is_already_there(source_dir: StoreDir) -> None:
    target = MemoryBackupStore()
    async with source_dir.open() as source:
        await migrate(source, target, wildcard=ALL)
        again = await migrate(source, target, wildcard=ALL)
    assert again.ok
    assert {r.plan.action for r in again.results} == {Action.SKIP, Action.SKIP_IN_PROGRESS}
    assert again.count(Outcome.MIGRATED) == 0


async def test_dry_run_writes_nothing(source_dir: StoreDir, tmp_path: Path) -> None:
    target_dir = StoreDir(tmp_path / "target")
    before = source_dir.tree()
    async with source_dir.open() as source, target_dir.open() as target:
        report = await migrate(source, target, wildcard=ALL, dry_run=True)
    assert report.dry_run and report.ok
    planned = {r.plan.backup_id: r for r in report.results if r.outcome is Outcome.PLANNED}
    assert set(planned) == {A, B, C, FAILED_ID}
    assert planned[A].plan.files == 4 and planned[A].plan.size == 4096
    assert target_dir.tree() == {}
    assert source_dir.tree() == before


async def test_unknown_backup_id_is_a_problem(source_dir: StoreDir) -> None:
    async with source_dir.open() as source:
        report = await migrate(source, MemoryBackupStore(), 99)
    assert not report.ok
    assert report.problems == ["no backup with id 99 at the source"]


async def test_interrupted_migration_resumes(source_dir: StoreDir, tmp_path: Path) -> None:
    before = source_dir.tree()
    target_dir = StoreDir(tmp_path / "target")
    async with source_dir.open() as source, target_dir.open() as target:
        # Ctrl-C while copying the second backup (A and B are 4096 bytes each, copied
        # then read back).
        tripwire = Tripwire(10_000)
        running = asyncio.create_task(migrate(source, target, wildcard=ALL, progress=tripwire))
        await tripwire.tripped.wait()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        left = await statuses(target)
        assert left[A].status_code is BackupStatusCode.COMPLETED
        assert left[B].status_code is BackupStatusCode.FAILED  # the copy that was cut off
        assert C not in left

        plan = {p.backup_id: p.action for p in await plan_migration(source, target, ALL)}
        assert plan[A] is Action.SKIP
        assert plan[B] is Action.REPLACE
        assert plan[C] is Action.COPY

        resumed = await migrate(source, target, wildcard=ALL)
        assert resumed.ok
        outcomes = {r.plan.backup_id: r.outcome for r in resumed.results}
        assert outcomes[A] is Outcome.SKIPPED
        assert outcomes[B] is Outcome.MIGRATED and outcomes[C] is Outcome.MIGRATED
        expected = await statuses(source)
        del expected[IN_PROGRESS_ID]
        assert await statuses(target) == expected
        assert (await verify_store(target)).ok
    assert source_dir.tree() == before


async def test_killed_migration_leaves_in_progress_that_a_rerun_replaces(
    source_dir: StoreDir, tmp_path: Path
) -> None:
    target = MemoryBackupStore()
    async with source_dir.open() as source:
        stored = await source.read_manifest(A)
        assert stored is not None
        await migrate(source, target, 11)  # claims the target's location
        await put_in_progress_copy(target, stored)
        assert (await target.get_status(A)).status_code is BackupStatusCode.IN_PROGRESS
        report = await migrate(source, target, 10)
        [result] = [r for r in report.results if r.plan.backup_id == A]
        assert result.plan.action is Action.REPLACE
        assert result.outcome is Outcome.MIGRATED
        assert await target.get_status(A) == await source.get_status(A)
        assert await restored_files(target, A, tmp_path / "t") == await restored_files(
            source, A, tmp_path / "s"
        )


async def test_a_different_backup_at_the_target_is_a_conflict(
    source_dir: StoreDir, tmp_path: Path
) -> None:
    target_dir = StoreDir(tmp_path / "target")
    async with target_dir.open() as target:
        await save_backups(target, tmp_path / "other", [A])  # same id, other backup
    before = target_dir.tree()
    async with source_dir.open() as source, target_dir.open() as target:
        report = await migrate(source, target, 10)
    [result] = [r for r in report.results if r.plan.backup_id == A]
    assert result.plan.action is Action.CONFLICT
    assert result.outcome is Outcome.FAILED
    assert "different COMPLETED backup" in result.message
    assert not report.ok
    others = [r for r in report.results if r.plan.backup_id != A]
    assert all(r.outcome is Outcome.MIGRATED for r in others)
    after = target_dir.tree()
    assert {k: v for k, v in after.items() if "/1/10/0/" in k} == {
        k: v for k, v in before.items() if "/1/10/0/" in k
    }


async def test_a_damaged_source_file_fails_that_backup_only(
    source_dir: StoreDir, tmp_path: Path
) -> None:
    path = file_bytes(source_dir.root, B, "segments/segment-file-1")
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    before = source_dir.tree()
    target = MemoryBackupStore()
    async with source_dir.open() as source:
        report = await migrate(source, target, 10)
    outcome = {r.plan.backup_id: r for r in report.results}
    assert outcome[B].outcome is Outcome.FAILED
    assert "source file segments/segment-file-1 does not match its record" in outcome[B].message
    assert outcome[A].outcome is Outcome.MIGRATED
    assert (await target.get_status(B)).status_code is BackupStatusCode.FAILED
    assert source_dir.tree() == before


async def test_what_is_read_back_from_the_target_is_compared(
    source_dir: StoreDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = MemoryBackupStore()
    original_open = MemoryBackupStore.open_file

    async def damaged(
        self: MemoryBackupStore, stored: StoredManifest, file_set: str, entry: FileEntry
    ) -> AsyncIterator[bytes]:
        async for chunk in original_open(self, stored, file_set, entry):
            yield b"X" + chunk[1:] if entry.name == "snapshot-file-2" else chunk

    monkeypatch.setattr(MemoryBackupStore, "open_file", damaged)
    async with source_dir.open() as source:
        report = await migrate(source, target, 11)
    [result] = report.results
    assert result.outcome is Outcome.FAILED
    assert "snapshot/snapshot-file-2 read back from the target" in result.message
    status = await target.get_status(C)
    assert status.status_code is BackupStatusCode.FAILED
    assert "Migration verification failed" in (status.failure_reason or "")
    monkeypatch.undo()
    async with source_dir.open() as source:
        again = await migrate(source, target, 11)  # the failed copy is replaced
    assert again.results[0].plan.action is Action.REPLACE
    assert again.ok


async def test_zeebe_written_backups_are_migrated(zeebe_store: StoreDir, tmp_path: Path) -> None:
    source_dir = zeebe_store
    before = source_dir.tree()
    target = MemoryBackupStore()
    async with source_dir.open() as source:
        report = await migrate(source, target, wildcard=ALL)
        assert report.ok
        actions = {r.plan.backup_id.checkpoint_id: r.plan.action for r in report.results}
        assert actions == {43: Action.COPY, 44: Action.COPY_MANIFEST, 100: Action.SKIP_IN_PROGRESS}
        expected = await statuses(source)
        del expected[BackupIdentifier(0, 1, 100)]
        assert await statuses(target) == expected
    files = await restored_files(target, ZEEBE_COMPLETED, tmp_path / "restored")
    assert files == {name.split("/")[1]: data for name, data in ZEEBE_FILES.items()}
    # The copy carries integrity records now: checksums can be verified.
    verified = await verify_store(target, 43, level=VerifyLevel.CHECKSUM)
    assert verified.ok and verified.backups[0].has_integrity_record
    assert source_dir.tree() == before
    assert not (source_dir.root / ".backup-store.json").exists()


async def test_a_large_file_streams_with_bounded_memory(tmp_path: Path) -> None:
    size = 24 * 1024 * 1024
    source_dir = StoreDir(tmp_path / "source")
    async with source_dir.open() as source:
        await save_backups(source, tmp_path / "data", [A], sizes={"big.log": size})
    target_dir = StoreDir(tmp_path / "target")
    tracemalloc.start()
    try:
        async with source_dir.open() as source, target_dir.open() as target:
            report = await migrate(source, target, 10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok, report.to_json()
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak} bytes for a {size}-byte file"
    copied = file_bytes(target_dir.root, A, "segments/big.log").read_bytes()
    original = file_bytes(source_dir.root, A, "segments/big.log").read_bytes()
    assert hashlib.sha256(copied).digest() == hashlib.sha256(original).digest()


async def test_progress_covers_copy_and_verification(source_dir: StoreDir) -> None:
    phases: list[tuple[str, int | None]] = []
    moved: dict[str, int] = {}

    class Recorder:
        current = ""

        def start(self, description: str, total: int | None) -> None:
            self.current = description.split()[0]
            phases.append((self.current, total))

        def advance(self, amount: int) -> None:
            moved[self.current] = moved.get(self.current, 0) + amount

        def finish(self) -> None:
            pass

    async with source_dir.open() as source:
        await migrate(source, MemoryBackupStore(), 11, progress=Recorder())
    assert phases == [("copying", 4096), ("verifying", 4096)]
    assert moved == {"copying": 4096, "verifying": 4096}


async def test_same_store_is_refused(source_dir: StoreDir) -> None:
    async with source_dir.open() as source, source_dir.open() as same:
        with pytest.raises(InvalidInputError, match="same store"):
            await migrate(source, same, wildcard=ALL)


async def test_same_location_through_another_kind_is_refused(tmp_path: Path) -> None:
    shared = MemoryBackupStore()
    await save_backups(shared, tmp_path, [A])
    other_kind = FilesystemBackupStore(tmp_path / "unused", object_store=raw_store(shared))
    with pytest.raises(InvalidInputError, match="source's own location"):
        await migrate(shared, other_kind, wildcard=ALL)
    # Nothing was claimed: the source is still readable by its own kind.
    assert (await shared.get_status(A)).status_code is BackupStatusCode.COMPLETED


async def test_another_base_path_in_the_same_location_is_fine(tmp_path: Path) -> None:
    shared = MemoryBackupStore()
    await save_backups(shared, tmp_path, [A])
    other_base = MemoryBackupStore("elsewhere", object_store=raw_store(shared))
    report = await migrate(shared, other_base, wildcard=ALL)
    assert report.ok and report.count(Outcome.MIGRATED) == 1


def _manifest(status: BackupStatusCode, created: int, reason: str | None = None) -> Any:
    from backup_store import BackupDescriptor, Instant, Manifest

    return Manifest(
        A,
        status,
        BackupDescriptor("s", 1, 1, "8.7.0"),
        (FileEntry("f"),),
        (),
        Instant(created),
        Instant(created + 5),
        reason,
    )


@pytest.mark.parametrize(
    ("source", "target", "action"),
    [
        (BackupStatusCode.COMPLETED, None, Action.COPY),
        (BackupStatusCode.FAILED, None, Action.COPY_MANIFEST),
        (BackupStatusCode.IN_PROGRESS, None, Action.SKIP_IN_PROGRESS),
        (BackupStatusCode.COMPLETED, (BackupStatusCode.COMPLETED, 1), Action.SKIP),
        (BackupStatusCode.FAILED, (BackupStatusCode.FAILED, 1), Action.SKIP),
        (BackupStatusCode.COMPLETED, (BackupStatusCode.IN_PROGRESS, 1), Action.REPLACE),
        (BackupStatusCode.COMPLETED, (BackupStatusCode.FAILED, 1), Action.REPLACE),
        (BackupStatusCode.COMPLETED, (BackupStatusCode.IN_PROGRESS, 2), Action.CONFLICT),
        (BackupStatusCode.COMPLETED, (BackupStatusCode.FAILED, 2), Action.CONFLICT),
        (BackupStatusCode.FAILED, (BackupStatusCode.COMPLETED, 1), Action.CONFLICT),
    ],
)
def test_decision_table(
    source: BackupStatusCode, target: tuple[BackupStatusCode, int] | None, action: Action
) -> None:
    reason = "r" if source is BackupStatusCode.FAILED else None
    target_manifest = None
    if target is not None:
        target_reason = "r" if target[0] is BackupStatusCode.FAILED else None
        target_manifest = _manifest(target[0], target[1], target_reason)
    assert decide(_manifest(source, 1, reason), target_manifest)[0] is action


def test_decision_for_a_failed_copy_with_another_reason_is_replace() -> None:
    source = _manifest(BackupStatusCode.FAILED, 1, "disk full")
    cut_off = _manifest(BackupStatusCode.FAILED, 1, "The backup was cancelled before it completed.")
    assert decide(source, cut_off)[0] is Action.REPLACE

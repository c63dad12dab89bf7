"""backup_store.tools.verify: checks every file of COMPLETED backups without restoring."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from backup_store import (
    BackupIdentifier,
    FilesystemBackupStore,
    InvalidInputError,
    MemoryBackupStore,
)
from backup_store.tools.verify import ProblemKind, VerifyLevel, verify_store
from tests.support.filesystem_stores import (
    ZEEBE_COMPLETED,
    StoreDir,
    built_once,
    file_bytes,
    save_backups,
)

A = BackupIdentifier(0, 1, 10)
B = BackupIdentifier(0, 2, 10)
C = BackupIdentifier(1, 1, 11)


async def _build_template(store: FilesystemBackupStore, data: Path) -> None:
    await save_backups(store, data, [A, B, C])
    await store.mark_failed(BackupIdentifier(0, 3, 10), "disk full")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> StoreDir:
    return built_once(tmp_path_factory, _build_template)


@pytest.fixture
def store_dir(template: StoreDir, tmp_path: Path) -> StoreDir:
    return template.copy_to(tmp_path / "store")


@pytest.mark.parametrize("level", list(VerifyLevel))
async def test_intact_store_has_no_problems(store_dir: StoreDir, level: VerifyLevel) -> None:
    async with store_dir.open() as store:
        report = await verify_store(store, level=level)
    assert report.ok, report.all_problems
    assert report.files_checked == 12
    checked = [b for b in report.backups if b.skipped is None]
    assert [b.backup_id for b in checked] == [A, B, C]
    assert all(b.level is level and b.has_integrity_record for b in checked)
    skipped = [b for b in report.backups if b.skipped is not None]
    assert [b.backup_id for b in skipped] == [BackupIdentifier(0, 3, 10)]
    assert "FAILED" in (skipped[0].skipped or "")
    assert sum(b.bytes_read for b in report.backups) == (
        12 * 1024 if level is VerifyLevel.CHECKSUM else 0
    )


async def test_one_backup_id_only(store_dir: StoreDir) -> None:
    async with store_dir.open() as store:
        report = await verify_store(store, 11)
    assert [b.backup_id for b in report.backups] == [C]


async def test_unknown_backup_id_is_a_problem(store_dir: StoreDir) -> None:
    async with store_dir.open() as store:
        report = await verify_store(store, 99)
    assert not report.ok
    assert report.problems[0].kind is ProblemKind.NOT_FOUND
    assert "no backup with id 99" in str(report.problems[0])


async def test_deleted_object(store_dir: StoreDir) -> None:
    path = file_bytes(store_dir.root, A, "segments/segment-file-2")
    path.unlink()
    async with store_dir.open() as store:
        report = await verify_store(store, level=VerifyLevel.PRESENCE)
    [problem] = report.all_problems
    assert problem.kind is ProblemKind.MISSING
    assert problem.backup_id == A
    assert problem.file == "segments/segment-file-2"
    assert problem.key == "contents/1/10/0/segments/segment-file-2"
    assert str(problem) == (
        "backup node 0/partition 1/checkpoint 10, file segments/segment-file-2: object is "
        "missing (key contents/1/10/0/segments/segment-file-2)"
    )


@pytest.mark.parametrize("level", [VerifyLevel.SIZE, VerifyLevel.CHECKSUM])
async def test_truncated_object(store_dir: StoreDir, level: VerifyLevel) -> None:
    path = file_bytes(store_dir.root, B, "snapshot/snapshot-file-1")
    path.write_bytes(path.read_bytes()[:1000])
    async with store_dir.open() as store:
        report = await verify_store(store, level=level)
    [problem] = report.all_problems
    assert problem.kind is ProblemKind.SIZE_MISMATCH
    assert (problem.backup_id, problem.file) == (B, "snapshot/snapshot-file-1")
    assert (problem.expected, problem.actual) == (1024, 1000)
    assert "object is 1000 bytes, the recorded size is 1024 bytes" in str(problem)


async def test_truncation_is_not_seen_at_presence_level(store_dir: StoreDir) -> None:
    path = file_bytes(store_dir.root, B, "snapshot/snapshot-file-1")
    path.write_bytes(path.read_bytes()[:1000])
    async with store_dir.open() as store:
        assert (await verify_store(store, level=VerifyLevel.PRESENCE)).ok


async def test_flipped_byte(store_dir: StoreDir) -> None:
    path = file_bytes(store_dir.root, C, "segments/segment-file-1")
    data = bytearray(path.read_bytes())
    original = hashlib.sha256(data).hexdigest()
    data[500] ^= 0x01
    path.write_bytes(bytes(data))
    async with store_dir.open() as store:
        assert (await verify_store(store, level=VerifyLevel.SIZE)).ok  # same size
        report = await verify_store(store, level=VerifyLevel.CHECKSUM)
    [problem] = report.all_problems
    assert problem.kind is ProblemKind.CHECKSUM_MISMATCH
    assert (problem.backup_id, problem.file) == (C, "segments/segment-file-1")
    assert problem.expected == original
    assert problem.actual == hashlib.sha256(data).hexdigest()
    assert f"the recorded SHA-256 is {original}" in str(problem)


async def test_problems_in_several_backups_are_all_reported(store_dir: StoreDir) -> None:
    file_bytes(store_dir.root, A, "segments/segment-file-1").unlink()
    file_bytes(store_dir.root, C, "snapshot/snapshot-file-2").write_bytes(b"x")
    async with store_dir.open() as store:
        report = await verify_store(store)
    kinds = sorted((p.backup_id, p.kind.value) for p in report.all_problems if p.backup_id)
    assert kinds == [(A, "missing"), (C, "size-mismatch")]


async def test_sampling_is_reproducible_and_checks_a_share(store_dir: StoreDir) -> None:
    async with store_dir.open() as store:
        first = await verify_store(store, sample_percent=25, seed=7)
        second = await verify_store(store, sample_percent=25, seed=7)
        tiny = await verify_store(store, sample_percent=0.1, seed=1)
    assert first.files_checked == 3  # 25% of 12
    assert [b.files_checked for b in first.backups] == [b.files_checked for b in second.backups]
    assert tiny.files_checked == 1  # at least one file
    assert any("sampled 25%" in note for b in first.backups for note in b.notes)


async def test_sampling_finds_a_problem_in_the_sample(store_dir: StoreDir) -> None:
    for backup_id in (A, B, C):
        for name in ("snapshot/snapshot-file-1", "snapshot/snapshot-file-2",
                     "segments/segment-file-1", "segments/segment-file-2"):
            file_bytes(store_dir.root, backup_id, name).unlink()
    async with store_dir.open() as store:
        report = await verify_store(store, sample_percent=50, seed=3)
    assert len(report.all_problems) == 6


async def test_bad_sample_percentage(store_dir: StoreDir) -> None:
    async with store_dir.open() as store:
        for bad in (0, -1, 101):
            with pytest.raises(InvalidInputError):
                await verify_store(store, sample_percent=bad)


@pytest.mark.parametrize("level", list(VerifyLevel))
async def test_zeebe_written_backup_is_checked_for_presence_only(
    zeebe_store: StoreDir, level: VerifyLevel
) -> None:
    store_dir = zeebe_store
    before = store_dir.tree()
    async with store_dir.open() as store:
        report = await verify_store(store, level=level)
    assert report.ok
    [checked] = [b for b in report.backups if b.skipped is None]
    assert checked.backup_id == ZEEBE_COMPLETED
    assert not checked.has_integrity_record
    assert checked.level is VerifyLevel.PRESENCE
    assert checked.files_checked == 3
    assert "not recorded by Zeebe" in checked.notes[0]
    skipped = {b.backup_id.checkpoint_id: b.skipped for b in report.backups if b.skipped}
    assert set(skipped) == {44, 100}
    assert store_dir.tree() == before  # verify writes nothing, not even the marker


async def test_zeebe_written_backup_with_a_missing_file(zeebe_store: StoreDir) -> None:
    store_dir = zeebe_store
    file_bytes(store_dir.root, ZEEBE_COMPLETED, "snapshot/snapshotFile2").unlink()
    async with store_dir.open() as store:
        report = await verify_store(store, level=VerifyLevel.SIZE)
    [problem] = report.all_problems
    assert (problem.kind, problem.file) == (ProblemKind.MISSING, "snapshot/snapshotFile2")


async def test_a_file_missing_from_the_integrity_record(store_dir: StoreDir) -> None:
    import json

    record = store_dir.root / "contents/1/10/0/backup-store-integrity.json"
    data = json.loads(record.read_bytes())
    del data["files"]["segments/segment-file-1"]
    record.write_text(json.dumps(data))
    async with store_dir.open() as store:
        report = await verify_store(store, 10)
    [problem] = report.all_problems
    assert problem.kind is ProblemKind.NO_RECORD
    assert problem.file == "segments/segment-file-1"


async def test_an_unreadable_integrity_record(store_dir: StoreDir) -> None:
    (store_dir.root / "contents/1/10/0/backup-store-integrity.json").write_text("{not json")
    async with store_dir.open() as store:
        report = await verify_store(store, 10)
    [problem] = report.all_problems
    assert problem.kind is ProblemKind.UNREADABLE
    assert "integrity record is unreadable" in str(problem)
    [result] = [b for b in report.backups if b.backup_id == A]
    assert result.files_checked == 4  # presence still checked


async def test_json_report_shape(store_dir: StoreDir) -> None:
    file_bytes(store_dir.root, A, "segments/segment-file-1").unlink()
    async with store_dir.open() as store:
        report = (await verify_store(store, 10)).to_json()
    assert report["ok"] is False
    assert report["problemCount"] == 1
    [backup] = [b for b in report["backups"] if not b["ok"]]
    assert backup["problems"][0] == {
        "kind": "missing",
        "message": (
            "backup node 0/partition 1/checkpoint 10, file segments/segment-file-1: object is "
            "missing (key contents/1/10/0/segments/segment-file-1)"
        ),
        "backupId": {"nodeId": 0, "partitionId": 1, "checkpointId": 10},
        "file": "segments/segment-file-1",
        "key": "contents/1/10/0/segments/segment-file-1",
    }


async def test_memory_store_with_base_path(tmp_path: Path) -> None:
    store = MemoryBackupStore("backups/zeebe")
    await save_backups(store, tmp_path, [A])
    report = await verify_store(store)
    assert report.ok and report.files_checked == 4


async def test_progress_is_reported_in_bytes_at_checksum_level(store_dir: StoreDir) -> None:
    events: list[tuple[str, int | None]] = []

    class Recorder:
        def start(self, description: str, total: int | None) -> None:
            events.append(("start", total))

        def advance(self, amount: int) -> None:
            events.append(("advance", amount))

        def finish(self) -> None:
            events.append(("finish", None))

    async with store_dir.open() as store:
        await verify_store(store, level=VerifyLevel.CHECKSUM, progress=Recorder())
    assert events[0] == ("start", 12 * 1024)
    assert sum(n or 0 for kind, n in events if kind == "advance") == 12 * 1024
    assert events[-1] == ("finish", None)

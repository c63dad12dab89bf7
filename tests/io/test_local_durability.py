"""When the filesystem store's bytes become durable.

Data files are written in place without an fsync each and made durable together
(one ``syncfs``, or an fsync of every file and folder) after the last upload and
before anything names them: the integrity record, then the COMPLETED manifest.
A restore makes its files durable before it gives them their names.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from backup_store import (
    Backup,
    BackupDescriptor,
    BackupIdentifier,
    BackupStatusCode,
    FilesystemBackupStore,
    NamedFileSet,
    ObjectNotFoundError,
    StoreUnavailableError,
)
from backup_store.engine import ObjectBackupStore
from backup_store.engine.context import SMALL_FILE
from backup_store.io import HookedIO, LocalFileIO, Request, UploadGroup
from backup_store.transfer.durability import FolderSync

BACKUP_ID = BackupIdentifier(1, 2, 3)
MIB = 1024 * 1024


class Recorded(HookedIO):
    """Every request in order, and the keys each persist covered."""

    def __init__(self, inner: LocalFileIO, fail_persist: bool = False) -> None:
        self.requests: list[Request] = []
        self.persisted: list[str] = []
        self.fail_persist = fail_persist
        super().__init__(inner, self._record)

    async def _record(self, request: Request) -> None:
        self.requests.append(request)
        if request.operation == "persist" and self.fail_persist:
            raise StoreUnavailableError("syncfs: Input/output error", key=request.key)

    @asynccontextmanager
    async def upload_group(self) -> AsyncIterator[UploadGroup]:
        async with super().upload_group() as group:

            async def persist(keys: Sequence[str]) -> None:
                self.persisted.extend(keys)
                await group.persist(keys)

            yield UploadGroup(persist)


def many_files(folder: Path) -> Backup:
    """Small files (moved in batches) and one over :data:`SMALL_FILE` (alone)."""
    folder.mkdir()
    segments = {}
    for i in range(20):
        segments[f"segment-{i}"] = folder / f"segment-{i}"
        segments[f"segment-{i}"].write_bytes(os.urandom(4096 + i))
    big = folder / "big"
    big.write_bytes(os.urandom(SMALL_FILE + 1))
    return Backup(
        BACKUP_ID,
        BackupDescriptor(None, 1, 1, "8.7.0"),
        snapshot=NamedFileSet({"big": big}),
        segments=NamedFileSet(segments),
    )


def recorded_store(root: Path, *, fail_persist: bool = False) -> tuple[ObjectBackupStore, Recorded]:
    base = FilesystemBackupStore(root)
    assert isinstance(base.io, LocalFileIO)
    io = Recorded(base.io, fail_persist)
    return ObjectBackupStore(io, kind=base.kind, format=base.format), io


@pytest.mark.parametrize("use_syncfs", [True, False], ids=["syncfs", "fsync-each"])
async def test_data_is_persisted_after_every_upload_and_before_record_and_manifest(
    tmp_path: Path, use_syncfs: bool
) -> None:
    store, io = recorded_store(tmp_path / "store")
    assert isinstance(io.inner, LocalFileIO)
    io.inner.use_syncfs = use_syncfs
    backup = many_files(tmp_path / "source")
    await store.save(backup)

    data = {
        i: r.key
        for i, r in enumerate(io.requests)
        if r.operation == "upload" and ("/segments/" in r.key or "/snapshot/" in r.key)
    }
    assert len(data) == 21
    assert sorted(io.persisted) == sorted(data.values())  # every data file, once
    [persist] = [i for i, r in enumerate(io.requests) if r.operation == "persist"]
    [record] = [i for i, r in enumerate(io.requests) if r.key.endswith("integrity.json")]
    [completed] = [
        i
        for i, r in enumerate(io.requests)
        if r.operation == "replace" and r.key.endswith("manifest.json")
    ]
    assert max(data) < persist < record < completed
    restored = await store.restore(BACKUP_ID, tmp_path / "restored")
    for name, source in {**backup.snapshot.sources, **backup.segments.sources}.items():
        assert (tmp_path / "restored" / name).read_bytes() == source.path.read_bytes()
    assert len(restored.segments.sources) == 20


async def test_a_failed_persist_leaves_no_completed_manifest_and_marks_the_backup_failed(
    tmp_path: Path,
) -> None:
    store, io = recorded_store(tmp_path / "store", fail_persist=True)
    with pytest.raises(StoreUnavailableError, match="syncfs"):
        await store.save(many_files(tmp_path / "source"))
    status = await store.get_status(BACKUP_ID)
    assert status.status_code is BackupStatusCode.FAILED
    assert status.failure_reason is not None and "syncfs" in status.failure_reason
    # Nothing that names the files was written after the failed persist.
    assert not [r for r in io.requests if r.key.endswith("integrity.json")]
    assert not list((tmp_path / "store").rglob("backup-store-integrity.json"))


async def test_a_persist_of_a_vanished_file_fails_without_syncfs(tmp_path: Path) -> None:
    """Without syncfs every file is fsynced by name: one a concurrent delete
    removed is an error, never a silent success."""
    io = LocalFileIO(tmp_path / "store", description="test")
    io.use_syncfs = False
    async with io.upload_group() as group:
        await io.upload("a/b/kept", [b"kept"])
        await io.upload("a/b/removed", [b"removed"])
        (tmp_path / "store/a/b/removed").unlink()
        with pytest.raises(ObjectNotFoundError) as failure:
            await group.persist(["a/b/kept", "a/b/removed"])
    assert failure.value.key == "a/b/removed"


async def test_an_upload_over_a_leftover_replaces_it_without_touching_its_other_links(
    tmp_path: Path,
) -> None:
    """A file left at a data key (a killed save, an earlier backup of the id) is
    unlinked, never truncated in place: it may be a hard link to other bytes."""
    io = LocalFileIO(tmp_path / "store", description="test")
    leftover = tmp_path / "store/contents/x"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"old bytes")
    elsewhere = tmp_path / "hard-link"
    os.link(leftover, elsewhere)
    async with io.upload_group() as group:
        await io.upload("contents/x", [b"new"])
        await group.persist(["contents/x"])
    assert leftover.read_bytes() == b"new"
    assert elsewhere.read_bytes() == b"old bytes"


async def test_an_interrupted_upload_leaves_nothing_at_its_key(tmp_path: Path) -> None:
    io = LocalFileIO(tmp_path / "store", description="test")

    def failing() -> Iterator[bytes]:
        yield b"half"
        raise OSError("the source went away")

    with pytest.raises(StoreUnavailableError, match="went away"):
        await io.upload("contents/y", failing())
    assert not (tmp_path / "store/contents/y").exists()


async def test_restored_files_are_durable_before_they_get_their_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FilesystemBackupStore(tmp_path / "store")
    backup = many_files(tmp_path / "source")
    await store.save(backup)
    target = tmp_path / "restored"
    named_at_sync: list[list[str]] = []
    real_sync = FolderSync.sync

    def sync(self: FolderSync, files: Sequence[Path]) -> None:
        named_at_sync.append(sorted(p.name for p in target.iterdir() if not p.name.startswith(".")))
        real_sync(self, files)

    monkeypatch.setattr(FolderSync, "sync", sync)
    await store.restore(BACKUP_ID, target)
    assert named_at_sync == [[]]  # one sync, before any name was given
    assert len([p for p in target.iterdir() if not p.name.startswith(".")]) == 21

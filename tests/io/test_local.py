"""Filesystem store specifics: Zeebe's paths, durability leftovers, cross-process exclusivity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backup_store import (
    Backup,
    BackupIdentifier,
    BackupStatusCode,
    FilesystemBackupStore,
    ManifestParseError,
    StoreUnavailableError,
)
from backup_store.testing.data import FIXTURES_DIR

BackupFactory = Callable[..., Backup]


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


async def test_zeebe_paths_and_no_temporary_files(
    tmp_path: Path, backup_factory: BackupFactory
) -> None:
    root = tmp_path / "store"
    store = FilesystemBackupStore(root)
    await store.save(backup_factory())
    files = [p for p in tree(root) if (root / p).is_file()]
    assert files == [
        ".backup-store-catalog/1/2/0.json",
        ".backup-store.json",
        "contents/2/3/1/backup-store-integrity.json",
        "contents/2/3/1/segments/segment-file-1",
        "contents/2/3/1/segments/segment-file-2",
        "contents/2/3/1/snapshot/snapshot-file-1",
        "contents/2/3/1/snapshot/snapshot-file-2",
        "manifests/2/3/1/manifest.json",
    ]


async def test_delete_removes_emptied_folders(
    tmp_path: Path, backup_factory: BackupFactory
) -> None:
    root = tmp_path / "store"
    store = FilesystemBackupStore(root)
    keep = backup_factory(BackupIdentifier(1, 2, 4), minimal=True)
    await store.save(keep)
    before = tree(root)
    backup = backup_factory()
    await store.save(backup)
    await store.delete(backup.id)
    assert tree(root) == before


@pytest.mark.parametrize("create_only", [True, False])
@pytest.mark.parametrize("when", ["before the file is created", "while the folder is made"])
async def test_a_write_makes_again_the_folder_a_concurrent_delete_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str, create_only: bool
) -> None:
    """A delete removes the folders it empties (as Zeebe's does), also one that a
    concurrent write has just made (a save of an id being deleted, a catalog shard
    being split while another is emptied): the write makes it again."""
    store = FilesystemBackupStore(tmp_path / "store")
    folder = tmp_path / "store" / "a" / "b"
    real_open, real_mkdir = os.open, os.mkdir
    removed: list[str] = []

    def open_after_a_delete(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if str(path).endswith(".tmp") and not removed:
            removed.append(str(path))
            os.rmdir(Path(path).parent)  # the delete's cleanup of the emptied folder
        return real_open(path, flags, mode, **kw)

    def mkdir_made_and_removed_meanwhile(path: Any, mode: int = 0o777, **kw: Any) -> None:
        if Path(path) == folder and not removed:
            removed.append(str(path))
            raise FileExistsError(17, "File exists", str(path))  # then gone
        real_mkdir(path, mode, **kw)

    if when == "before the file is created":
        folder.mkdir(parents=True)  # made (empty) by a write a moment ago
        monkeypatch.setattr(os, "open", open_after_a_delete)
    else:
        monkeypatch.setattr(os, "mkdir", mkdir_made_and_removed_meanwhile)
    await store.io.put("a/b/object.json", b"written", create_only=create_only)
    monkeypatch.undo()
    assert removed, "the race was not staged"
    found = await store.io.get("a/b/object.json")
    assert found is not None and found.data == b"written"
    assert [p.name for p in folder.iterdir()] == ["object.json"]


async def test_a_save_makes_again_a_data_folder_a_concurrent_delete_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backup_factory: BackupFactory
) -> None:
    store = FilesystemBackupStore(tmp_path / "store")
    real_mkdir = os.mkdir
    removed: list[str] = []

    def mkdir_made_and_removed_meanwhile(path: Any, mode: int = 0o777, **kw: Any) -> None:
        if Path(path).name == "snapshot" and not removed:
            removed.append(str(path))
            raise FileExistsError(17, "File exists", str(path))  # then gone
        real_mkdir(path, mode, **kw)

    monkeypatch.setattr(os, "mkdir", mkdir_made_and_removed_meanwhile)
    backup = backup_factory()
    await store.save(backup)
    monkeypatch.undo()
    assert removed, "the race was not staged"
    assert (await store.get_status(backup.id)).status_code is BackupStatusCode.COMPLETED
    await store.restore(backup.id, tmp_path / "restored")


async def test_rewrite_of_a_manifest_with_stale_trailing_bytes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    manifest = root / "manifests/2/43/1/manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_bytes((FIXTURES_DIR / "filesystem-trailing-bytes.json").read_bytes())
    store = FilesystemBackupStore(root)
    backup_id = BackupIdentifier(1, 2, 43)
    assert (await store.get_status(backup_id)).status_code is BackupStatusCode.COMPLETED
    await store.mark_failed(backup_id, "operator")
    rewritten = json.loads(manifest.read_bytes())  # whole file replaced: no stale tail
    assert rewritten["statusCode"] == "FAILED"
    assert rewritten["failureReason"] == "operator"


def test_an_unusable_directory_is_a_typed_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    try:
        FilesystemBackupStore(blocker / "store")
    except StoreUnavailableError as error:
        assert str(blocker / "store") in str(error)
    else:
        raise AssertionError("expected StoreUnavailableError")


SAVER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from backup_store import (Backup, BackupDescriptor, BackupIdentifier, BackupStoreError,
                              FilesystemBackupStore, NamedFileSet)

    async def main(root: str, source: str, go: str) -> None:
        store = FilesystemBackupStore(Path(root))
        backup = Backup(BackupIdentifier(1, 2, 3), BackupDescriptor(None, 1, 1, "8.7.0"),
                        segments=NamedFileSet({"segment": Path(source)}))
        while not Path(go).exists():  # start both processes' saves together
            await asyncio.sleep(0.001)
        try:
            await store.save(backup)
            print("won")
        except BackupStoreError as error:
            print("lost", type(error).__name__)

    asyncio.run(main(*sys.argv[1:4]))
    """
)


def test_two_processes_saving_one_id_exactly_one_wins(tmp_path: Path) -> None:
    source = tmp_path / "segment"
    source.write_bytes(b"x" * 4096)
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    go = tmp_path / "go"
    root = tmp_path / "store"
    root.mkdir()
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(root), str(source), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    go.touch()
    outputs = [p.communicate(timeout=60) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    results = sorted(out.strip() for out, _ in outputs)
    assert results == ["lost BackupAlreadyExistsError", "won"], outputs


async def test_restore_refuses_unsafe_names_in_a_stored_manifest(tmp_path: Path) -> None:
    root = tmp_path / "store"
    manifest = root / "manifests/2/43/1/manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        '{"id":{"nodeId":1,"partitionId":2,"checkpointId":43},"descriptor":{"checkpointPosition":1,'
        '"numberOfPartitions":1,"brokerVersion":"8.7.0"},"statusCode":"COMPLETED",'
        '"snapshot":{"files":[]},"segments":{"files":[{"name":"../escaped"}]},'
        '"createdAt":"2023-03-14T10:45:08Z","modifiedAt":"2023-03-14T10:45:09Z"}'
    )
    store = FilesystemBackupStore(root)
    with pytest.raises(ManifestParseError, match="unsafe file name"):
        await store.restore(BackupIdentifier(1, 2, 43), tmp_path / "target" / "inner")
    assert not (tmp_path / "target" / "escaped").exists()
    assert not (tmp_path / "target").exists()  # refused before anything was written

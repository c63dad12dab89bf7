"""Filesystem stores in test folders, Zeebe-written backups, and CLI runs.

Stores are ``file://`` stores in ``tmp_path``; Zeebe-written backups are built
by placing the literal manifests of ``store-format.md``'s fixtures at their keys,
with file contents next to them, exactly as Zeebe would leave them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from obstore.store import ObjectStore

from backup_store import BackupIdentifier, FilesystemBackupStore, ObjectBackupStore
from backup_store.cli import main
from backup_store.io import ObstoreIO
from backup_store.testing.data import FIXTURES_DIR, make_backup

# The spec's copy of the fixtures when the shared folder is there; the packaged copy otherwise.
SPEC_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "spec" / "fixtures"
FIXTURES = SPEC_FIXTURES if (SPEC_FIXTURES / "common-completed.json").exists() else FIXTURES_DIR

ZEEBE_COMPLETED = BackupIdentifier(1, 2, 43)
"""The backup of ``common-completed.json``: 2 snapshot files and 1 segment."""
ZEEBE_FILES = {
    "snapshot/snapshotFile1": b"snapshot file one\n" * 100,
    "snapshot/snapshotFile2": b"snapshot file two\n" * 50,
    "segments/segmentFile1": os.urandom(3000),
}


@dataclass
class StoreDir:
    """A filesystem store in a test folder."""

    root: Path

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def open(self) -> FilesystemBackupStore:
        return FilesystemBackupStore(self.root)

    def copy_to(self, root: Path) -> StoreDir:
        """A copy of this store at ``root`` (a test's own copy of a template)."""
        shutil.copytree(self.root, root)
        return StoreDir(root)

    def tree(self) -> dict[str, bytes]:
        """Every file under the root, by relative path (to prove nothing changed)."""
        if not self.root.exists():
            return {}
        return {
            str(p.relative_to(self.root)): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file()
        }


def built_once(
    tmp_path_factory: pytest.TempPathFactory,
    build: Callable[[FilesystemBackupStore, Path], Awaitable[None]],
) -> StoreDir:
    """A template store, built once by ``build(store, data_folder)`` (durable writes are
    slow); tests take a copy with :meth:`StoreDir.copy_to`."""
    folder = tmp_path_factory.mktemp("template")
    template = StoreDir(folder / "store")

    async def run() -> None:
        async with template.open() as store:
            await build(store, folder / "data")

    asyncio.run(run())
    return template


def place_zeebe_filesystem_backups(root: Path) -> None:
    """A filesystem store as Zeebe 8.7 leaves it: manifests and files, no records, no marker."""
    placements = {
        "common-completed.json": "manifests/2/43/1/manifest.json",
        "common-in-progress.json": "manifests/1/100/0/manifest.json",
        "common-failed-without-descriptor.json": "manifests/3/44/1/manifest.json",
    }
    for fixture, key in placements.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((FIXTURES / fixture).read_bytes())
    for name, data in ZEEBE_FILES.items():
        path = root / "contents/2/43/1" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


async def save_backups(
    store: ObjectBackupStore,
    data_dir: Path,
    ids: list[BackupIdentifier],
    *,
    sizes: dict[str, int] | None = None,
) -> None:
    for backup_id in ids:
        await store.save(make_backup(data_dir, backup_id, sizes=sizes))


def invoke(*args: str, input: str | None = None) -> Result:
    """Run ``backup-store ARGS`` in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def invoke_json(*args: str) -> tuple[Result, Any]:
    result = invoke(*args, "--json")
    return result, json.loads(result.stdout)


def file_bytes(root: Path, backup_id: BackupIdentifier, file: str) -> Path:
    """Where a filesystem store keeps one file of a backup."""
    return (
        root
        / "contents"
        / str(backup_id.partition_id)
        / str(backup_id.checkpoint_id)
        / str(backup_id.node_id)
        / file
    )


class Tripwire:
    """A progress sink that sets ``tripped`` once more than ``limit`` bytes went by."""

    def __init__(self, limit: int) -> None:
        self.limit, self.done = limit, 0
        self.tripped = asyncio.Event()

    def start(self, description: str, total: int | None) -> None:
        pass

    def advance(self, amount: int) -> None:
        self.done += amount
        if self.done > self.limit:
            self.tripped.set()

    def finish(self) -> None:
        pass


def raw_store(store: ObjectBackupStore) -> ObjectStore:
    """The obstore store under a store's seam (tests that share bytes across stores)."""
    assert isinstance(store.io, ObstoreIO)
    return store.io.store

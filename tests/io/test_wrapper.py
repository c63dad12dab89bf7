"""One wrapping seam: whatever wraps a store's object I/O sees every request it makes,
and a wrapper forwards everything the I/O it wraps can do (batches included)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from backup_store.engine import ObjectBackupStore
from backup_store.format.formats import ZEEBE_COMMON
from backup_store.format.keys import catalog_folder, owner_marker_key
from backup_store.io import HookedIO, LocalFileIO, Request
from backup_store.model import BackupIdentifier
from backup_store.stores.filesystem import FilesystemBackupStore
from backup_store.testing.data import make_backup
from backup_store.testing.harness import ObjectStoreHarness
from backup_store.transfer.files import Chunk

T = TypeVar("T")
BACKUP = BackupIdentifier(1, 2, 3)


class Recorder:
    def __init__(self) -> None:
        self.requests: builtins.list[Request] = []

    async def __call__(self, request: Request) -> None:
        self.requests.append(request)

    def keys(self) -> set[str]:
        return {r.key for r in self.requests}


async def test_a_hooked_store_sees_its_marker_and_catalog_requests(tmp_path: Path) -> None:
    harness = ObjectStoreHarness(lambda: FilesystemBackupStore(tmp_path / "store"))
    seen = Recorder()
    store = harness.open_hooked(seen)
    async with store:
        await store.save(make_backup(tmp_path / "source", BACKUP))
        assert [s.status_code.value for s in await store.list()] == ["COMPLETED"]
    await harness.close()
    # The store-kind marker is read and claimed, the catalog shard read and written,
    # all through the hook, besides the backup's own objects.
    marker = owner_marker_key(None)
    assert [r.operation for r in seen.requests if r.key == marker] == ["get", "put"]
    catalog = [r for r in seen.requests if r.key.startswith(catalog_folder(None))]
    assert {r.operation for r in catalog} >= {"get", "put"}


class CountingLocalIO(LocalFileIO):
    """A filesystem I/O that counts its batched transfers."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, description=root.as_uri())
        self.batches: builtins.list[str] = []

    async def upload_each(self, uploads: Sequence[tuple[str, Iterable[Chunk]]]) -> None:
        self.batches.append("upload_each")
        await super().upload_each(uploads)

    async def download_each(
        self, downloads: Sequence[tuple[str, Callable[[Iterator[Chunk]], T]]]
    ) -> builtins.list[T]:
        self.batches.append("download_each")
        return await super().download_each(downloads)


async def test_a_hook_keeps_batching_and_names_transfers(tmp_path: Path) -> None:
    inner = CountingLocalIO(tmp_path / "store")
    seen = Recorder()
    store = ObjectBackupStore(HookedIO(inner, seen), kind="filesystem", format=ZEEBE_COMMON)
    # More small files than lanes: they move in batches.
    files = {f"segment-{i}": 100 for i in range(24)}
    backup = make_backup(tmp_path / "source", BACKUP, sizes=files)
    async with store:
        await store.save(backup)
        await store.restore(BACKUP, tmp_path / "restored")
    # Small files move in batches through the hook as they do without it.
    assert set(inner.batches) == {"upload_each", "download_each"}
    data = {r.key for r in seen.requests if "/segments/" in r.key}
    assert len(data) == len(files)
    # (A head of each uploaded object records its identity: metadata, not a transfer.)
    transfers = [r for r in seen.requests if r.operation not in ("persist", "head")]
    by_key = {k: sorted({r.operation for r in transfers if r.key == k}) for k in data}
    # Each data file is uploaded once and downloaded once, named for what it is.
    assert set(map(tuple, by_key.values())) == {("download", "upload")}
    assert sum(r.operation == "upload" for r in seen.requests) == len(files)
    assert not [r for r in seen.requests if r.operation == "upload" and not r.writes]

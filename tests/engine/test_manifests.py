"""A manifest step that keeps losing its compare-and-swap gives up after a bounded
number of attempts, naming the backup and the manifest key (one loop for every verb)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from backup_store.engine import ObjectBackupStore
from backup_store.engine.manifests import CHANGE_ATTEMPTS
from backup_store.errors import InvalidBackupStateError
from backup_store.io import HookedIO, Request, WriteConflict
from backup_store.model import BackupIdentifier
from backup_store.stores.filesystem import FilesystemBackupStore
from backup_store.testing.data import make_backup

BACKUP = BackupIdentifier(1, 2, 3)


class AlwaysChanged:
    """Every version-matched write of a manifest loses, as if another writer won."""

    def __init__(self) -> None:
        self.lost: Counter[str] = Counter()

    async def __call__(self, request: Request) -> None:
        if request.operation == "replace" and request.key.endswith("manifest.json"):
            self.lost[request.key] += 1
            raise WriteConflict(request.key)


async def saved_store(tmp_path: Path) -> tuple[ObjectBackupStore, AlwaysChanged, str]:
    base = FilesystemBackupStore(tmp_path / "store")
    async with base:
        await base.save(make_backup(tmp_path / "source", BACKUP))
        stored = await base.read_manifest(BACKUP)
    assert stored is not None
    changed = AlwaysChanged()
    hooked = ObjectBackupStore(HookedIO(base.io, changed), kind=base.kind, format=base.format)
    return hooked, changed, stored.key


@pytest.mark.parametrize("verb", ["mark failed", "delete"])
async def test_a_manifest_that_keeps_changing_is_named(tmp_path: Path, verb: str) -> None:
    store, changed, key = await saved_store(tmp_path)
    async with store:
        with pytest.raises(InvalidBackupStateError, match="kept changing") as raised:
            if verb == "delete":
                await store.delete(BACKUP)
            else:
                await store.mark_failed(BACKUP, "stopped")
    assert raised.value.key == key
    assert raised.value.backup_id == BACKUP and raised.value.operation == verb
    assert changed.lost == {key: CHANGE_ATTEMPTS}

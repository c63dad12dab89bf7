"""Restore reports its progress to the caller: one restore path for every front end."""

from __future__ import annotations

import threading
from pathlib import Path

from backup_store.contract.inspectable import RestoreProgress, Verification
from backup_store.model import BackupIdentifier
from backup_store.stores.filesystem import FilesystemBackupStore
from backup_store.testing.data import make_backup

BACKUP = BackupIdentifier(1, 2, 3)


class Recorded(RestoreProgress):
    def __init__(self) -> None:
        self.started_with: tuple[BackupIdentifier, int | None, Verification] | None = None
        self.amounts: list[int] = []
        self.threads: set[int] = set()

    def started(
        self, backup_id: BackupIdentifier, total: int | None, verification: Verification
    ) -> None:
        self.started_with = (backup_id, total, verification)
        self.threads.add(threading.get_ident())

    def advanced(self, amount: int) -> None:
        self.amounts.append(amount)
        self.threads.add(threading.get_ident())


async def test_restore_reports_its_total_verification_and_every_byte(tmp_path: Path) -> None:
    sizes = {"segment-1": 3 * 1024 * 1024 + 5, "segment-2": 10, "segment-3": 0}
    backup = make_backup(tmp_path / "source", BACKUP, sizes=sizes)
    progress = Recorded()
    async with FilesystemBackupStore(tmp_path / "store") as store:
        await store.save(backup)
        await store.restore(BACKUP, tmp_path / "restored", progress=progress)
    assert progress.started_with == (BACKUP, sum(sizes.values()), Verification.CHECKED)
    assert sum(progress.amounts) == sum(sizes.values())
    # Told on the event loop (this thread), never from a transfer thread.
    assert progress.threads == {threading.get_ident()}


async def test_restore_says_when_nothing_is_recorded(tmp_path: Path) -> None:
    backup = make_backup(tmp_path / "source", BACKUP)
    async with FilesystemBackupStore(tmp_path / "store") as store:
        await store.save(backup)
        stored = await store.read_manifest(BACKUP)
        assert stored is not None
        # Zeebe writes no integrity record, nor the store-kind marker.
        await store.io.delete([stored.layout.integrity_key(BACKUP), store.marker_key])
    progress = Recorded()
    async with FilesystemBackupStore(tmp_path / "store") as store:
        await store.restore(BACKUP, tmp_path / "restored", progress=progress)
    assert progress.started_with == (BACKUP, None, Verification.NOT_RECORDED)
    assert sum(progress.amounts) == 4 * 1024

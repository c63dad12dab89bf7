"""Saving: ``conformance.md`` § Saving (and the input checks that precede any write)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup_store.contract.store import BackupStore
from backup_store.errors import InvalidBackupStateError, InvalidInputError, SourceFileNotFoundError
from backup_store.model import Backup, BackupIdentifier, BackupStatusCode, NamedFileSet
from backup_store.testing.behaviours._base import (
    ID,
    BackupFactory,
    StoreScenarios,
    assert_same_files,
    objects_at_location,
    refused,
)
from backup_store.testing.harness import StoreHarness


class SavingBehaviour(StoreScenarios):
    """A backup is saved whole, exactly once, and bad input is refused before any write."""

    async def test_saving_a_backup_completes_it(
        self, store: BackupStore, backup_factory: BackupFactory
    ) -> None:
        """Given a backup, when it is saved, then its status is COMPLETED."""
        backup = backup_factory()

        await store.save(backup)

        assert (await store.get_status(backup.id)).status_code is BackupStatusCode.COMPLETED

    async def test_saving_an_id_that_already_has_a_manifest_fails_and_changes_nothing(
        self, store: BackupStore, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given an id already marked failed, when a backup is saved under it, then the
        save fails with the invalid-state error and no object changes (the manifest is
        written create-only)."""
        backup = backup_factory()
        await store.mark_failed(backup.id, "taken elsewhere")
        before = await objects_at_location(store_harness)

        with refused(InvalidBackupStateError, "saving over an existing manifest"):
            await store.save(backup)

        assert await objects_at_location(store_harness) == before, "a refused save wrote objects"

    async def test_saving_with_a_removed_source_file_fails_naming_its_path(
        self, store: BackupStore, backup_factory: BackupFactory
    ) -> None:
        """Given a backup one of whose files was removed, when it is saved, then the save
        fails with a not-found error naming the path and the backup is not COMPLETED."""
        backup = backup_factory()
        missing = backup.segments["segment-file-2"]
        missing.unlink()

        with refused(SourceFileNotFoundError, "saving a backup whose source file is gone") as err:
            await store.save(backup)

        assert str(missing) in str(err.value)
        assert (await store.get_status(backup.id)).status_code is not BackupStatusCode.COMPLETED

    async def test_saving_a_completed_backup_again_fails_and_keeps_it(
        self, store: BackupStore, backup_factory: BackupFactory
    ) -> None:
        """Given a COMPLETED backup, when it is saved again, then the save fails and the
        backup stays COMPLETED with the same ``last_modified``."""
        backup = backup_factory()
        await store.save(backup)
        before = await store.get_status(backup.id)

        with refused(InvalidBackupStateError, "saving over a COMPLETED backup"):
            await store.save(backup)

        after = await store.get_status(backup.id)
        assert after.status_code is BackupStatusCode.COMPLETED
        assert after.last_modified == before.last_modified, "the COMPLETED backup was rewritten"

    async def test_backups_without_snapshot_and_minimal_backups_save_and_restore(
        self, store: BackupStore, backup_factory: BackupFactory, tmp_path: Path
    ) -> None:
        """Given a segments-only backup and a minimal one (one 1-byte file), when each is
        saved, then each is COMPLETED with its descriptor and restores byte-identical."""
        segments_only = backup_factory(ID(1, 2, 4), with_snapshot=False)
        minimal = backup_factory(ID(1, 2, 5), minimal=True)

        for backup in (segments_only, minimal):
            await store.save(backup)

            status = await store.get_status(backup.id)
            assert status.status_code is BackupStatusCode.COMPLETED
            assert status.descriptor == backup.descriptor
            target = tmp_path / f"restored-{backup.id.checkpoint_id}"
            assert_same_files(backup, await store.restore(backup.id, target), target)

    async def test_unsafe_input_is_refused_before_anything_is_written(
        self,
        store: BackupStore,
        store_harness: StoreHarness,
        backup_factory: BackupFactory,
        tmp_path: Path,
    ) -> None:
        """Given unsafe file names, a folder as a file and out-of-range ids, when they are
        used, then each is refused with a typed error and the location is unchanged."""
        backup = backup_factory()
        before = await objects_at_location(store_harness)
        folder = tmp_path / "a-directory"
        folder.mkdir()

        for name in ("..", "a/b", "a\x00b", "", "."):
            with pytest.raises(InvalidInputError):
                NamedFileSet({name: tmp_path})
        as_folder = Backup(backup.id, backup.descriptor, NamedFileSet({"dir": folder}))
        with pytest.raises(SourceFileNotFoundError, match="not a regular file"):
            await store.save(as_folder)
        for bad in ((1, 2, 0), (1, 2, 2**63), (-1, 2, 3), (1, -2, 3)):
            with pytest.raises(InvalidInputError):
                BackupIdentifier(*bad)

        assert await objects_at_location(store_harness) == before

"""Deleting: ``conformance.md`` § Deleting."""

from __future__ import annotations

from backup_store.contract.store import BackupStore
from backup_store.errors import InvalidBackupStateError
from backup_store.model import BackupStatusCode
from backup_store.testing.behaviours._base import (
    ID,
    BackupFactory,
    StoreScenarios,
    as_in_progress,
    describe_difference,
    refused,
)
from backup_store.testing.harness import StoreHarness


class DeletingBehaviour(StoreScenarios):
    """Deleting removes every object of a backup, never one still being written."""

    async def test_deleting_an_unknown_id_succeeds(self, store: BackupStore) -> None:
        """Given an empty store, when (1, 1, 15) is deleted, then nothing fails."""
        await store.delete(ID(1, 1, 15))

        assert (await store.get_status(ID(1, 1, 15))).status_code is BackupStatusCode.DOES_NOT_EXIST

    async def test_deleting_a_backup_removes_every_object_of_it_and_no_other(
        self, store: BackupStore, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given another backup and a saved one, when the saved one is deleted, then it
        does not exist and exactly the other backup's objects remain."""
        await store.save(backup_factory(ID(1, 2, 30), minimal=True))
        before = set(await store_harness.list_objects())
        backup = backup_factory()
        await store.save(backup)

        await store.delete(backup.id)

        assert (await store.get_status(backup.id)).status_code is BackupStatusCode.DOES_NOT_EXIST
        after = set(await store_harness.list_objects())
        assert after == before, describe_difference(before, after)

    async def test_deleting_a_backup_in_progress_fails(
        self, store: BackupStore, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given a backup whose manifest says IN_PROGRESS, when it is deleted, then the
        delete fails with the invalid-state error and the backup stays."""
        backup = backup_factory()
        await store.save(backup)
        key = store_harness.manifest_key(backup.id)
        manifest = await store_harness.get_object(key)
        await store_harness.put_object(key, as_in_progress(manifest, store_harness.manifest_form))

        with refused(InvalidBackupStateError, "deleting a backup IN_PROGRESS"):
            await store.delete(backup.id)

        assert (await store.get_status(backup.id)).status_code is BackupStatusCode.IN_PROGRESS

    async def test_deleting_a_backup_whose_manifest_is_gone_removes_its_leftovers(
        self, store: BackupStore, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given a saved backup whose manifest was removed, when it is deleted, then its
        files are gone too and only the other backup's objects remain."""
        await store.save(backup_factory(ID(1, 2, 30), minimal=True))
        before = set(await store_harness.list_objects())
        backup = backup_factory()
        await store.save(backup)
        await store_harness.delete_object(store_harness.manifest_key(backup.id))

        await store.delete(backup.id)

        after = set(await store_harness.list_objects())
        assert after == before, describe_difference(before, after)

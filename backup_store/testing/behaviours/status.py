"""Status: ``conformance.md`` § Status (reading it and marking a backup failed)."""

from __future__ import annotations

from backup_store.contract.store import BackupStore
from backup_store.errors import ManifestParseError
from backup_store.model import BackupStatusCode
from backup_store.testing.behaviours._base import ID, BackupFactory, StoreScenarios, refused
from backup_store.testing.harness import StoreHarness


class StatusBehaviour(StoreScenarios):
    """A backup's status reads back as written; marking failed is recorded once."""

    async def test_a_saved_backup_reports_its_id_and_descriptor_and_no_failure(
        self, store: BackupStore, backup_factory: BackupFactory
    ) -> None:
        """Given a saved backup, when its status is read, then it has the same id and
        descriptor and no failure reason."""
        backup = backup_factory()
        await store.save(backup)

        status = await store.get_status(backup.id)

        assert status.id == backup.id
        assert status.failure_reason is None
        assert status.descriptor == backup.descriptor

    async def test_marking_a_backup_failed_records_the_reason_and_bumps_last_modified(
        self, store: BackupStore, backup_factory: BackupFactory
    ) -> None:
        """Given a saved backup, when it is marked failed with "error", then it is FAILED
        with that reason, the same id and descriptor, and a strictly later
        ``last_modified``."""
        backup = backup_factory()
        await store.save(backup)
        before = await store.get_status(backup.id)

        assert await store.mark_failed(backup.id, "error") is BackupStatusCode.FAILED

        status = await store.get_status(backup.id)
        assert status.status_code is BackupStatusCode.FAILED
        assert status.failure_reason == "error"
        assert status.id == backup.id
        assert status.descriptor == backup.descriptor
        assert before.last_modified is not None and status.last_modified is not None
        assert status.last_modified > before.last_modified

    async def test_marking_a_failed_backup_failed_again_keeps_the_first_reason(
        self, store: BackupStore, backup_factory: BackupFactory
    ) -> None:
        """Given a backup marked failed, when it is marked failed again, then the first
        reason and its ``last_modified`` stay."""
        backup = backup_factory()
        await store.save(backup)
        await store.mark_failed(backup.id, "first")
        first = await store.get_status(backup.id)

        await store.mark_failed(backup.id, "second")

        again = await store.get_status(backup.id)
        assert again.failure_reason == "first"
        assert again.last_modified == first.last_modified

    async def test_an_unknown_id_does_not_exist(self, store: BackupStore) -> None:
        """Given an empty store, when the status of (1, 1, 15) is read, then it is
        DOES_NOT_EXIST (not an error)."""
        status = await store.get_status(ID(1, 1, 15))

        assert status.status_code is BackupStatusCode.DOES_NOT_EXIST

    async def test_marking_an_unknown_id_failed_creates_a_failed_backup(
        self, store: BackupStore
    ) -> None:
        """Given an empty store, when (1, 1, 15) is marked failed, then it is FAILED with
        the reason given."""
        await store.mark_failed(ID(1, 1, 15), "never taken")

        status = await store.get_status(ID(1, 1, 15))
        assert status.status_code is BackupStatusCode.FAILED
        assert status.failure_reason == "never taken"

    async def test_a_corrupt_manifest_fails_to_parse(
        self, store: BackupStore, store_harness: StoreHarness
    ) -> None:
        """Given a manifest whose bytes are ``{s``, when the status is read, then it
        fails with the manifest-parse error."""
        backup_id = ID(1, 2, 3)
        await store.mark_failed(backup_id, "placeholder")  # claims the location
        await store_harness.put_object(store_harness.manifest_key(backup_id), b"{s")

        with refused(ManifestParseError, "reading a corrupt manifest"):
            await store.get_status(backup_id)

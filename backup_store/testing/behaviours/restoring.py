"""Restoring: ``conformance.md`` § Restoring."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup_store.contract.store import BackupStore
from backup_store.errors import IntegrityError, InvalidBackupStateError
from backup_store.testing.behaviours._base import (
    ID,
    BackupFactory,
    StoreScenarios,
    as_in_progress,
    assert_same_files,
    refused,
)
from backup_store.testing.harness import StoreHarness


class RestoringBehaviour(StoreScenarios):
    """A COMPLETED backup restores byte-identical; anything else is refused."""

    async def test_restoring_a_saved_backup_returns_the_original_files(
        self, store: BackupStore, backup_factory: BackupFactory, tmp_path: Path
    ) -> None:
        """Given a saved backup, when it is restored, then the id, descriptor, file names
        and bytes equal the original and every file sits directly in the target."""
        backup = backup_factory()
        await store.save(backup)
        target = tmp_path / "restored"

        restored = await store.restore(backup.id, target)

        assert restored.id == backup.id
        assert restored.descriptor == backup.descriptor
        assert_same_files(backup, restored, target)
        assert sorted(p.name for p in target.iterdir()) == sorted(
            [*backup.snapshot, *backup.segments]
        )

    async def test_another_nodes_backup_of_the_same_checkpoint_does_not_change_a_restore(
        self, store: BackupStore, backup_factory: BackupFactory, tmp_path: Path
    ) -> None:
        """Given a saved backup and one of the same partition and checkpoint from node 11,
        when the first is restored, then its own files come back."""
        backup = backup_factory()
        await store.save(backup)
        await store.save(backup_factory(ID(11, backup.id.partition_id, backup.id.checkpoint_id)))
        target = tmp_path / "restored"

        restored = await store.restore(backup.id, target)

        assert_same_files(backup, restored, target)

    async def test_restoring_a_backup_in_progress_fails_naming_id_and_state(
        self,
        store: BackupStore,
        store_harness: StoreHarness,
        backup_factory: BackupFactory,
        tmp_path: Path,
    ) -> None:
        """Given a backup whose manifest says IN_PROGRESS, when it is restored, then the
        restore fails with the invalid-state error naming the checkpoint and the state."""
        backup = backup_factory()
        await store.save(backup)
        key = store_harness.manifest_key(backup.id)
        manifest = await store_harness.get_object(key)
        await store_harness.put_object(key, as_in_progress(manifest, store_harness.manifest_form))

        with refused(InvalidBackupStateError, "restoring a backup IN_PROGRESS") as raised:
            await store.restore(backup.id, tmp_path / "restored")

        assert "IN_PROGRESS" in str(raised.value)
        assert str(backup.id.checkpoint_id) in str(raised.value)

    @pytest.mark.parametrize("damage", ["altered", "truncated"])
    async def test_restoring_a_damaged_file_fails_with_an_integrity_error(
        self,
        store: BackupStore,
        store_harness: StoreHarness,
        backup_factory: BackupFactory,
        tmp_path: Path,
        damage: str,
    ) -> None:
        """Given a saved backup whose stored file was altered or truncated, when it is
        restored, then the restore fails with an integrity error naming the file."""
        backup = backup_factory()
        await store.save(backup)
        key = store_harness.file_key(backup.id, "segments", "segment-file-1")
        data = bytearray(await store_harness.get_object(key))
        if damage == "altered":
            data[100] ^= 0xFF
        else:
            del data[512:]
        await store_harness.put_object(key, bytes(data))

        with refused(IntegrityError, f"restoring an {damage} file") as raised:
            await store.restore(backup.id, tmp_path / "restored")

        assert "segment-file-1" in str(raised.value)

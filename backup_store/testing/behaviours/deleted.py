"""DELETED backups: ``conformance.md`` § DELETED (Zeebe 8.9+, ``store-format.md`` §7.1).

Zeebe 8.9+ deletes a backup by first rewriting its manifest as DELETED (a tombstone),
then removing its contents, then the manifest. A store reads such a tombstone as
DELETED and treats it as terminal; and it deletes 8.9+ backups the same way.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from backup_store.contract.store import BackupStore
from backup_store.errors import (
    BackupAlreadyExistsError,
    InvalidBackupStateError,
    StoreUnavailableError,
)
from backup_store.format.manifest import ManifestForm
from backup_store.format.manifest_json import decode_manifest
from backup_store.io import Request
from backup_store.model import Backup, BackupIdentifierWildcard, BackupStatusCode
from backup_store.testing.behaviours._base import (
    ID,
    BackupFactory,
    StoreScenarios,
    describe_difference,
    objects_at_location,
    refused,
)
from backup_store.testing.data import FIXTURES_DIR
from backup_store.testing.harness import StoreHarness

TOMBSTONE_ID = ID(1, 2, 139)
"""The backup of Zeebe's tombstones (``zeebe810-deleted.*.json``, broker 8.10.1)."""
TOMBSTONE_VERSION = "8.10.1"
TOMBSTONE_FILES = (("snapshot", "CURRENT"), ("snapshot", "000042.sst"), ("segments", "1.log"))


async def objects_besides_ours(harness: StoreHarness) -> dict[str, bytes]:
    """Every object at the location but this project's own (the store's marker may be
    written by the first verb that writes)."""
    ours = harness.extra_keys(TOMBSTONE_ID)
    return {k: v for k, v in (await objects_at_location(harness)).items() if k not in ours}


async def plant_zeebes_tombstone(harness: StoreHarness) -> None:
    """Zeebe's DELETED manifest of (1, 2, 139) at its key, with the backup's files still
    there (a delete of Zeebe's that stopped after its claim)."""
    form = "s3" if harness.manifest_form is ManifestForm.S3 else "common"
    manifest = (FIXTURES_DIR / f"zeebe810-deleted.{form}.json").read_bytes()
    await harness.put_object(harness.manifest_key(TOMBSTONE_ID, TOMBSTONE_VERSION), manifest)
    for file_set, name in TOMBSTONE_FILES:
        key = harness.file_key(TOMBSTONE_ID, file_set, name, TOMBSTONE_VERSION)
        await harness.put_object(key, b"bytes of " + name.encode())


def of_broker(backup: Backup, version: str) -> Backup:
    """The same backup, taken by a broker of ``version``."""
    return dataclasses.replace(
        backup, descriptor=dataclasses.replace(backup.descriptor, broker_version=version)
    )


class DeletedBehaviour(StoreScenarios):
    """A DELETED manifest is terminal, and 8.9+ backups are deleted through one."""

    async def test_zeebes_tombstone_reads_and_lists_as_deleted(
        self, store: BackupStore, store_harness: StoreHarness
    ) -> None:
        """Given Zeebe's DELETED manifest, then its status and its listing say DELETED."""
        await plant_zeebes_tombstone(store_harness)

        status = await store.get_status(TOMBSTONE_ID)
        listed = await store.list(BackupIdentifierWildcard(partition_id=2))

        assert status.status_code is BackupStatusCode.DELETED
        assert status.descriptor is not None
        assert [(s.id, s.status_code) for s in listed] == [
            (TOMBSTONE_ID, BackupStatusCode.DELETED)
        ]

    async def test_a_deleted_backup_is_never_restored(
        self, store: BackupStore, store_harness: StoreHarness, tmp_path: Path
    ) -> None:
        """Given Zeebe's DELETED backup with its files, when it is restored, then the
        store refuses with the invalid-state error and restores no file."""
        await plant_zeebes_tombstone(store_harness)
        target = tmp_path / "restored"

        with refused(InvalidBackupStateError, "restoring a DELETED backup"):
            await store.restore(TOMBSTONE_ID, target)

        assert not target.exists() or not any(target.iterdir())

    async def test_saving_over_a_deleted_backup_is_refused_and_changes_nothing(
        self, store: BackupStore, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given Zeebe's DELETED backup, when the same id is saved, then the save fails
        as already existing and every object stays as it was."""
        await plant_zeebes_tombstone(store_harness)
        before = await objects_besides_ours(store_harness)

        with refused(BackupAlreadyExistsError, "saving over a DELETED backup"):
            await store.save(of_broker(backup_factory(TOMBSTONE_ID), TOMBSTONE_VERSION))

        assert await objects_besides_ours(store_harness) == before

    async def test_marking_a_deleted_backup_failed_leaves_it_unchanged(
        self, store: BackupStore, store_harness: StoreHarness
    ) -> None:
        """Given Zeebe's DELETED backup, when it is marked failed, then it stays DELETED
        (the status mark-failed returns too) and no object changes."""
        await plant_zeebes_tombstone(store_harness)
        before = await objects_besides_ours(store_harness)

        assert await store.mark_failed(TOMBSTONE_ID, "error") is BackupStatusCode.DELETED

        assert (await store.get_status(TOMBSTONE_ID)).status_code is BackupStatusCode.DELETED
        assert await objects_besides_ours(store_harness) == before

    async def test_deleting_a_deleted_backup_finishes_the_delete(
        self, store: BackupStore, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given another backup and Zeebe's DELETED backup with its files, when it is
        deleted, then it does not exist and exactly the other backup's objects remain."""
        await store.save(backup_factory(ID(1, 2, 30), minimal=True))
        before = set(await store_harness.list_objects())
        await plant_zeebes_tombstone(store_harness)

        await store.delete(TOMBSTONE_ID)

        assert (await store.get_status(TOMBSTONE_ID)).status_code is (
            BackupStatusCode.DOES_NOT_EXIST
        )
        after = set(await store_harness.list_objects())
        assert after == before, describe_difference(before, after)

    async def test_deleting_an_89_backup_claims_it_with_a_deleted_tombstone(
        self, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given a COMPLETED backup of broker 8.9.0, when it is deleted, then before any
        object is removed its manifest says DELETED, with the backup's descriptor."""
        backup = of_broker(backup_factory(), "8.9.0")
        key = store_harness.manifest_key(backup.id, "8.9.0")
        seen: list[tuple[BackupStatusCode, object]] = []

        async def at_first_removal(request: Request) -> None:
            if request.operation == "delete" and not seen:
                manifest = decode_manifest(
                    await store_harness.get_object(key), store_harness.manifest_form
                )
                seen.append((manifest.status_code, manifest.descriptor))

        async with store_harness.open() as store:
            await store.save(backup)
        async with store_harness.open_hooked(at_first_removal) as store:
            await store.delete(backup.id)

        assert seen == [(BackupStatusCode.DELETED, backup.descriptor)]

    async def test_a_delete_stopped_after_its_claim_leaves_a_tombstone_that_a_delete_finishes(
        self, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given another backup and a COMPLETED backup of broker 8.9.0 whose delete
        fails at its first removal, then the backup is DELETED, a save of its id is
        refused, and deleting it again leaves exactly the other backup's objects."""
        async with store_harness.open() as store:
            await store.save(backup_factory(ID(1, 2, 30), minimal=True))
        before = set(await store_harness.list_objects())
        backup = of_broker(backup_factory(), "8.9.0")

        async def fail_removals(request: Request) -> None:
            if request.operation == "delete":
                raise StoreUnavailableError("the store stopped answering")

        async with store_harness.open() as store:
            await store.save(backup)
        async with store_harness.open_hooked(fail_removals) as store:
            with pytest.raises(StoreUnavailableError):
                await store.delete(backup.id)
        async with store_harness.open() as store:
            assert (await store.get_status(backup.id)).status_code is BackupStatusCode.DELETED
            with refused(BackupAlreadyExistsError, "saving over a DELETED backup"):
                await store.save(backup)
            await store.delete(backup.id)

        after = set(await store_harness.list_objects())
        assert after == before, describe_difference(before, after)

    async def test_deleting_an_89_backup_removes_its_manifest_last(
        self, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given a COMPLETED backup of broker 8.9.0, when it is deleted, then its
        manifest is still there whenever one of its other objects is removed."""
        backup = of_broker(backup_factory(), "8.9.0")
        key = store_harness.manifest_key(backup.id, "8.9.0")
        early: list[str] = []

        async def check_manifest_kept(request: Request) -> None:
            removes_other = request.operation == "delete" and request.key != key
            if removes_other and key not in await store_harness.list_objects():
                early.append(request.key)

        async with store_harness.open() as store:
            await store.save(backup)
        async with store_harness.open_hooked(check_manifest_kept) as store:
            await store.delete(backup.id)
            status = await store.get_status(backup.id)

        assert early == [], f"the manifest was gone before {early} were removed"
        assert status.status_code is BackupStatusCode.DOES_NOT_EXIST

    async def test_deleting_an_89_backup_without_manifest_claims_it_with_failed(
        self, store_harness: StoreHarness, backup_factory: BackupFactory
    ) -> None:
        """Given the files of a broker-8.9.0 backup whose manifest is gone, when it is
        deleted, then before any file is removed a FAILED manifest holds its id, and
        afterwards nothing of it remains."""
        backup = of_broker(backup_factory(), "8.9.0")
        key = store_harness.manifest_key(backup.id, "8.9.0")
        seen: list[BackupStatusCode | None] = []

        async def at_first_removal(request: Request) -> None:
            if request.operation == "delete" and not seen:
                keys = await store_harness.list_objects()
                seen.append(
                    decode_manifest(
                        await store_harness.get_object(key), store_harness.manifest_form
                    ).status_code
                    if key in keys
                    else None
                )

        async with store_harness.open() as store:
            await store.save(backup)
        await store_harness.delete_object(key)
        async with store_harness.open_hooked(at_first_removal) as store:
            await store.delete(backup.id)
            status = await store.get_status(backup.id)

        assert seen == [BackupStatusCode.FAILED]
        assert status.status_code is BackupStatusCode.DOES_NOT_EXIST

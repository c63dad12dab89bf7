"""Delete racing save (``store-format.md`` §5).

Every interleaving of one delete and one save of the same backup id that a
pause in the seam can force, on the memory, filesystem and S3 (moto) stores,
with backups of Zeebe 8.7 and of 8.9/8.10 (whose deletes claim the manifest
as a DELETED tombstone, ``store-format.md`` §7.1), from three starting points
(no backup, a COMPLETED one, a FAILED one with leftovers): no COMPLETED
manifest ever lacks a file, and a later delete always finishes the job.
Crashes at every request of a delete leave a FAILED manifest (an 8.9+ backup:
DELETED) or nothing, and a second delete finishes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from obstore.store import MemoryStore

from backup_store import (
    Backup,
    BackupAlreadyExistsError,
    BackupIdentifier,
    BackupStatusCode,
    FilesystemBackupStore,
    InvalidBackupStateError,
    MemoryBackupStore,
    ObjectBackupStore,
)
from backup_store.format.keys import CATALOG_FOLDER
from testbed.cloud_stores import s3_store
from tests.support.races import (
    Crash,
    Script,
    actor,
    assert_no_completed_without_data,
    check_outcome,
    delete_finishes,
    leftover_keys,
    outcome,
    run_paused,
    same_files_again,
)

BACKUP_ID = BackupIdentifier(1, 2, 3)
StoreFactory = Callable[[str], ObjectBackupStore]
BACKENDS = ["memory", "memory-8.10", "filesystem", "s3-classic", "s3-8.9"]
NEWER = {"memory-8.10": "8.10.1", "s3-8.9": "8.9.0"}
"""Backends whose backups are of a Zeebe 8.9+ broker, by broker version."""
START = ["missing", "completed", "failed-with-leftovers"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, StoreFactory]:
    """A factory of fresh locations (one per name) of the backend."""
    name: str = request.param
    if name.startswith("memory"):
        return name, lambda base: MemoryBackupStore(base, object_store=MemoryStore())
    if name == "filesystem":
        return name, lambda base: FilesystemBackupStore(tmp_path / "stores" / base)
    bucket = request.getfixturevalue("s3_bucket")
    return name, lambda base: s3_store(bucket, base)


def backup_for(backend_name: str, backup: Backup) -> Backup:
    """The backup of an 8.9+ broker on those backends (S3: the ``manifests/`` +
    ``contents/`` layout; every store: the DELETED tombstone as a delete's claim)."""
    if backend_name not in NEWER:
        return backup
    assert backup.descriptor is not None
    descriptor = dataclasses.replace(backup.descriptor, broker_version=NEWER[backend_name])
    return Backup(backup.id, descriptor, backup.snapshot, backup.segments)


async def prepare(store: ObjectBackupStore, start: str, first: Backup) -> None:
    if start == "missing":
        return
    await store.save(first)
    if start == "failed-with-leftovers":
        await store.mark_failed(first.id, "failed for the test")


async def solo_requests(
    store: ObjectBackupStore, start: str, first: Backup, second: Backup, verb: str
) -> int:
    """How many requests ``verb`` (delete or save) makes alone from ``start``."""
    await prepare(store, start, first)
    script = Script()
    hooked = actor(store, script)
    if verb == "delete":
        await hooked.delete(second.id)
    else:
        check_outcome(await outcome(hooked.save(second)), BackupAlreadyExistsError)
    return len(script.requests)


@pytest.mark.parametrize("start", START)
async def test_delete_paused_at_each_request_while_a_save_runs(
    backend: tuple[str, StoreFactory],
    start: str,
    backup_factory: Callable[..., Backup],
    tmp_path: Path,
) -> None:
    name, new_store = backend
    first = backup_for(name, backup_factory(BACKUP_ID))
    second = backup_for(name, same_files_again(first, tmp_path / "second"))
    count = await solo_requests(new_store("solo"), start, first, second, "delete")
    assert count > 0
    for index in range(count):
        store = new_store(f"delete-paused-{index}")
        await prepare(store, start, first)
        script = Script(pause_at=index)
        delete_error, save_error = await run_paused(
            actor(store, script).delete(BACKUP_ID), script, partial(store.save, second)
        )
        check_outcome(delete_error, InvalidBackupStateError)
        check_outcome(save_error, BackupAlreadyExistsError, InvalidBackupStateError)
        await assert_no_completed_without_data(store, BACKUP_ID, tmp_path)
        await delete_finishes(store, BACKUP_ID)
        assert await leftover_keys(store) == [], index


@pytest.mark.parametrize("start", START)
async def test_save_paused_at_each_request_while_a_delete_runs(
    backend: tuple[str, StoreFactory],
    start: str,
    backup_factory: Callable[..., Backup],
    tmp_path: Path,
) -> None:
    name, new_store = backend
    first = backup_for(name, backup_factory(BACKUP_ID))
    second = backup_for(name, same_files_again(first, tmp_path / "second"))
    count = await solo_requests(new_store("solo"), start, first, second, "save")
    assert count > 0
    for index in range(count):
        store = new_store(f"save-paused-{index}")
        await prepare(store, start, first)
        script = Script(pause_at=index)
        save_error, delete_error = await run_paused(
            actor(store, script).save(second), script, partial(store.delete, BACKUP_ID)
        )
        check_outcome(delete_error, InvalidBackupStateError)
        check_outcome(save_error, BackupAlreadyExistsError, InvalidBackupStateError)
        status = await assert_no_completed_without_data(store, BACKUP_ID, tmp_path)
        # Held after its manifest turned COMPLETED (keeping the listing catalog), the
        # save has already won: the delete that ran meanwhile came after it.
        after_completion = CATALOG_FOLDER in script.requests[index].key
        if save_error is None and not after_completion:
            assert status is BackupStatusCode.COMPLETED, index
        await delete_finishes(store, BACKUP_ID)
        assert await leftover_keys(store) == [], index


async def test_delete_holding_its_listing_makes_a_racing_save_fail_as_existing(
    backend: tuple[str, StoreFactory], backup_factory: Callable[..., Backup], tmp_path: Path
) -> None:
    """The reported race: the delete's listing is slow while a save of the id runs."""
    name, new_store = backend
    store = new_store("listing")
    backup = backup_for(name, backup_factory(BACKUP_ID))
    solo = Script()
    await actor(new_store("listing-solo"), solo).delete(BACKUP_ID)
    listing = next(i for i, r in enumerate(solo.requests) if r.operation == "list")
    script = Script(pause_at=listing)
    delete_error, save_error = await run_paused(
        actor(store, script).delete(BACKUP_ID), script, lambda: store.save(backup)
    )
    assert delete_error is None
    assert isinstance(save_error, BackupAlreadyExistsError)
    assert await store.read_manifest(BACKUP_ID) is None
    assert await leftover_keys(store) == []
    await store.save(backup)  # once the delete is done, the id can be saved again
    assert await assert_no_completed_without_data(store, BACKUP_ID, tmp_path) is (
        BackupStatusCode.COMPLETED
    )


@pytest.mark.parametrize("start", START)
async def test_delete_crashing_at_each_request_leaves_failed_or_nothing(
    backend: tuple[str, StoreFactory],
    start: str,
    backup_factory: Callable[..., Backup],
    tmp_path: Path,
) -> None:
    name, new_store = backend
    first = backup_for(name, backup_factory(BACKUP_ID))
    count = await solo_requests(new_store("solo"), start, first, first, "delete")
    for index in range(count):
        store = new_store(f"delete-crash-{index}")
        await prepare(store, start, first)
        before = await store.read_manifest(BACKUP_ID)
        error = await outcome(actor(store, Script(crash_at=index)).delete(BACKUP_ID))
        assert isinstance(error, Crash), index
        after = await store.read_manifest(BACKUP_ID)
        claim = BackupStatusCode.DELETED if name in NEWER else BackupStatusCode.FAILED
        if after is None:
            assert await leftover_keys(store) == [], f"crash at {index} left objects"
        elif before is not None and after.manifest == before.manifest:
            # Only a crash before the claim may leave the backup as it was, whole.
            await assert_no_completed_without_data(store, BACKUP_ID, tmp_path)
        else:  # claimed: a tombstone keeps the backup's descriptor, files and creation
            assert after.manifest.status_code is (
                claim if before is not None else BackupStatusCode.FAILED
            )
            if before is not None and claim is BackupStatusCode.DELETED:
                assert after.manifest.descriptor == before.manifest.descriptor, index
                assert after.manifest.files() == before.manifest.files(), index
                assert after.manifest.created_at == before.manifest.created_at, index
        await delete_finishes(store, BACKUP_ID)  # a second delete finishes the job
        assert await leftover_keys(store) == [], index


async def test_delete_refused_for_in_progress_changes_nothing(
    backend: tuple[str, StoreFactory], backup_factory: Callable[..., Backup]
) -> None:
    name, new_store = backend
    store = new_store("in-progress")
    backup = backup_for(name, backup_factory(BACKUP_ID))
    script = Script()
    solo = Script()
    await actor(new_store("in-progress-solo"), solo).save(backup)
    # Hold the save at its first data upload: the manifest is IN_PROGRESS.
    script.pause_at = next(
        i for i, r in enumerate(solo.requests) if r.operation == "upload" and "/segments/" in r.key
    )
    save_error, delete_error = await run_paused(
        actor(store, script).save(backup), script, lambda: store.delete(BACKUP_ID)
    )
    assert save_error is None
    assert isinstance(delete_error, InvalidBackupStateError)
    assert (await store.get_status(BACKUP_ID)).status_code is BackupStatusCode.COMPLETED

"""Deleting a Zeebe 8.9+ backup leaves the bucket as Zeebe 8.9+ leaves it (``store-format.md``
§7.1), on every backend: the manifest is claimed as a DELETED tombstone (descriptor, files and
creation kept), the backup's contents go, then its manifest; the range markers of its
checkpoint go with the checkpoint's last node copy. The objects are listed before and after.
A crash after the tombstone leaves a DELETED backup that nothing but a delete changes, and a
second delete finishes it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from backup_store import (
    Backup,
    BackupAlreadyExistsError,
    BackupIdentifier,
    BackupStatusCode,
    InvalidBackupStateError,
    ObjectBackupStore,
)
from backup_store.format.instant import Instant
from backup_store.format.manifest import Manifest
from backup_store.io import HookedIO, Request
from backup_store.io.local import LocalFileIO
from tests.support.backends import BACKENDS, backend_store
from tests.support.races import Crash

KEPT = BackupIdentifier(1, 2, 10)
GONE = BackupIdentifier(1, 2, 11)
GONE_ON_NODE_2 = BackupIdentifier(2, 2, 11)
MARKERS = ["2/10.start", "2/11.end", "2/11.deletion", "2/110.end", "3/11.start"]
"""Range markers (``ranges/``) some 8.9 versions left: those of checkpoint 11 of partition 2 go."""


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectBackupStore]:
    async with backend_store(request, request.param, tmp_path) as made:
        yield made


def root(store: ObjectBackupStore) -> str:
    return f"{store.base_path}/" if store.base_path else ""


def of_89(backup: Backup, version: str = "8.9.0") -> Backup:
    assert backup.descriptor is not None
    descriptor = dataclasses.replace(backup.descriptor, broker_version=version)
    return Backup(backup.id, descriptor, backup.snapshot, backup.segments)


async def keys(store: ObjectBackupStore) -> set[str]:
    """Every object at the location but this project's records beside Zeebe's (the store-kind
    marker, the listing catalog: outside every backup's folders, kept as documented); a
    backup's integrity record is in its ``contents/`` folder and counts."""
    ours = f"{root(store)}.backup-store"
    return {k for k in await store.io.list_keys(root(store)) if not k.startswith(ours)}


async def contents(store: ObjectBackupStore) -> dict[str, bytes]:
    """Every object at the location with its bytes."""
    found = {key: await store.io.get(key) for key in await keys(store)}
    return {key: stored.data for key, stored in found.items() if stored is not None}


def zeebe_deletes(
    store: ObjectBackupStore, before: set[str], backup_id: BackupIdentifier
) -> set[str]:
    """What Zeebe 8.9+'s delete removes: everything under the backup's ``manifests/`` and
    ``contents/`` folders."""
    folder = f"{backup_id.partition_id}/{backup_id.checkpoint_id}/{backup_id.node_folder}/"
    prefixes = (f"{root(store)}manifests/{folder}", f"{root(store)}contents/{folder}")
    return {k for k in before if k.startswith(prefixes)}


async def place_89_store(
    store: ObjectBackupStore, backup_factory: Callable[..., Backup], *ids: BackupIdentifier
) -> None:
    for backup_id in ids:
        await store.save(of_89(backup_factory(backup_id)))
    await store.io.put(f"{root(store)}metadata/2/metadata.json", b'{"partitionId":2}')
    for marker in MARKERS:
        await store.io.put(f"{root(store)}ranges/{marker}", b"")


def checkpoint_11_markers(store: ObjectBackupStore) -> set[str]:
    return {f"{root(store)}ranges/2/11.end", f"{root(store)}ranges/2/11.deletion"}


async def test_delete_removes_what_zeebe_removes_and_the_checkpoint_markers(
    store: ObjectBackupStore, backup_factory: Callable[..., Backup]
) -> None:
    await place_89_store(store, backup_factory, KEPT, GONE)
    before = await keys(store)
    assert f"{root(store)}manifests/2/11/1/manifest.json" in before  # the 8.9 layout, S3 too
    await store.delete(GONE)
    after = await keys(store)
    assert after == before - zeebe_deletes(store, before, GONE) - checkpoint_11_markers(store)
    assert [s.id for s in await store.list()] == [KEPT]
    if isinstance(store.io, LocalFileIO):  # emptied folders go, as Zeebe's filesystem store
        folder = store.io.root  # removes them up to manifests/ and contents/
        assert not (folder / "manifests/2/11").exists() and not (folder / "contents/2/11").exists()
        assert (folder / "manifests/2/10/1").is_dir() and (folder / "ranges/2").is_dir()


async def test_markers_stay_while_another_node_keeps_the_checkpoint(
    store: ObjectBackupStore, backup_factory: Callable[..., Backup]
) -> None:
    await place_89_store(store, backup_factory, GONE, GONE_ON_NODE_2)
    before = await keys(store)
    await store.delete(GONE)
    after_first = await keys(store)
    assert after_first == before - zeebe_deletes(store, before, GONE)
    await store.delete(GONE_ON_NODE_2)
    gone = zeebe_deletes(store, before, GONE_ON_NODE_2) | checkpoint_11_markers(store)
    assert await keys(store) == after_first - gone


async def crash_at_first_removal(store: ObjectBackupStore, backup_id: BackupIdentifier) -> None:
    """A delete that stops (a crash) at its first removal, after its claim."""

    async def crash(request: Request) -> None:
        if request.operation == "delete":
            raise Crash(f"crash at {request}")

    crashing = ObjectBackupStore(
        HookedIO(store.io, crash), kind=store.kind, format=store.format, base_path=store.base_path
    )
    with pytest.raises(Crash):
        await crashing.delete(backup_id)


async def test_a_crash_after_the_tombstone_leaves_deleted_and_delete_again_finishes(
    store: ObjectBackupStore, backup_factory: Callable[..., Backup], tmp_path: Path
) -> None:
    await place_89_store(store, backup_factory, KEPT)
    await store.save(of_89(backup_factory(GONE), "8.10.1"))
    await store.mark_failed(GONE, "disk full")  # a FAILED 8.9+ manifest is tombstoned too
    failed = await store.read_manifest(GONE)
    before = await keys(store)
    await crash_at_first_removal(store, GONE)
    assert await keys(store) == before  # only the manifest changed, in place
    assert failed is not None
    tombstone = await store.read_manifest(GONE)
    assert tombstone is not None and tombstone.key == failed.key
    assert tombstone.manifest.status_code is BackupStatusCode.DELETED
    assert tombstone.manifest.failure_reason is None
    kept = ("descriptor", "snapshot_files", "segment_files", "created_at")
    assert all(getattr(tombstone.manifest, f) == getattr(failed.manifest, f) for f in kept)
    if store.kind == "s3":  # written as 8.10 writes it: the id's zone, null here
        assert b'"zone":null' in (await contents(store))[tombstone.key]
    # DELETED is terminal: nothing but a delete changes it.
    held = await contents(store)
    with pytest.raises(BackupAlreadyExistsError, match="already exists"):
        await store.save(of_89(backup_factory(GONE)))
    await store.mark_failed(GONE, "again")
    with pytest.raises(InvalidBackupStateError, match="DELETED"):
        await store.restore(GONE, tmp_path / "restored")
    assert await contents(store) == held
    await store.delete(GONE)
    gone = zeebe_deletes(store, before, GONE) | checkpoint_11_markers(store)
    assert await keys(store) == before - gone


async def test_deleting_a_missing_backup_leaves_the_bucket_as_it_was(
    store: ObjectBackupStore, backup_factory: Callable[..., Backup]
) -> None:
    await place_89_store(store, backup_factory, KEPT)
    before = await keys(store)
    await store.delete(BackupIdentifier(1, 2, 12))
    assert await keys(store) == before


async def test_an_in_progress_89_backup_refuses_the_delete_unchanged(
    store: ObjectBackupStore, backup_factory: Callable[..., Backup]
) -> None:
    backup = of_89(backup_factory(GONE))
    assert backup.descriptor is not None
    await store.accept(Manifest.in_progress(GONE, backup.descriptor, (), (), Instant.now()))
    before = await contents(store)
    with pytest.raises(InvalidBackupStateError, match="IN_PROGRESS"):
        await store.delete(GONE)
    assert await contents(store) == before

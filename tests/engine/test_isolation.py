"""Store isolation: one store kind never reads, lists, restores or deletes another's backups.

Every ordered pair of store kinds works over the *same* bytes (one shared local
directory, reached through one obstore ``LocalStore``), as happens when a GCS bucket
is used first through S3 compatibility mode and then natively.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from itertools import product
from pathlib import Path

import obstore
import pytest
from obstore.store import LocalStore

from backup_store import (
    Backup,
    BackupIdentifier,
    BackupIdentifierWildcard,
    BackupStatusCode,
    FilesystemBackupStore,
    ForeignStoreKindError,
    ObjectBackupStore,
)
from backup_store.stores.azure import AzureBackupStore, AzureConfig
from backup_store.stores.gcs import GcsBackupStore, GcsConfig
from backup_store.stores.s3 import S3BackupStore, S3Config
from backup_store.testing.data import FIXTURES_DIR

KINDS: dict[str, Callable[[LocalStore, Path], ObjectBackupStore]] = {
    "s3": lambda shared, _: S3BackupStore(S3Config(bucket="shared"), object_store=shared),
    "gcs": lambda shared, _: GcsBackupStore(GcsConfig(bucket="shared"), object_store=shared),
    "azure": lambda shared, _: AzureBackupStore(
        AzureConfig(container="shared", account_name="acct"), object_store=shared
    ),
    "filesystem": lambda shared, root: FilesystemBackupStore(root, object_store=shared),
}
PAIRS = list(product(KINDS, KINDS))


async def all_objects(shared: LocalStore) -> dict[str, bytes]:
    keys = [m["path"] async for batch in obstore.list(shared, None) for m in batch]
    return {k: bytes(await (await obstore.get_async(shared, k)).bytes_async()) for k in keys}


def assert_names_owner(error: ForeignStoreKindError, owner: str) -> None:
    assert error.owner_kind == owner
    assert owner in str(error)
    assert "backup-store migrate" in str(error)


@pytest.mark.parametrize(("writer", "reader"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
async def test_backup_of_one_kind_is_invisible_or_refused_by_another(
    writer: str, reader: str, tmp_path: Path, backup_factory: Callable[..., Backup]
) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    shared = LocalStore(root, automatic_cleanup=True)
    backup = backup_factory()
    written_by = KINDS[writer](shared, root)
    await written_by.save(backup)
    before = await all_objects(shared)
    other = KINDS[reader](shared, root)

    if writer == reader:  # the same kind sees its own backups, through another instance
        assert (await other.get_status(backup.id)).status_code is BackupStatusCode.COMPLETED
        assert [s.id for s in await other.list(BackupIdentifierWildcard())] == [backup.id]
        return

    attempts: dict[str, Callable[[], Awaitable[object]]] = {
        "status": lambda: other.get_status(backup.id),
        "list": lambda: other.list(BackupIdentifierWildcard()),
        "restore": lambda: other.restore(backup.id, tmp_path / "restored"),
        "delete": lambda: other.delete(backup.id),
        "mark failed": lambda: other.mark_failed(backup.id, "not yours"),
        "save": lambda: other.save(backup_factory(BackupIdentifier(1, 2, 4))),
    }
    for operation, attempt in attempts.items():
        with pytest.raises(ForeignStoreKindError) as raised:
            await attempt()
        assert_names_owner(raised.value, writer)
        assert raised.value.operation is not None, operation
    assert await all_objects(shared) == before, "the foreign store changed stored bytes"
    assert not (tmp_path / "restored").exists() or not any((tmp_path / "restored").iterdir())
    assert (await written_by.get_status(backup.id)).status_code is BackupStatusCode.COMPLETED


@pytest.mark.parametrize("reader", ["gcs", "azure", "filesystem"])
async def test_zeebe_s3_backups_are_not_seen_by_common_layout_stores(
    reader: str, tmp_path: Path
) -> None:
    # Zeebe writes no marker: the classic S3 layout is simply outside the others' layout.
    root = tmp_path / "shared"
    root.mkdir()
    shared = LocalStore(root)
    data = (FIXTURES_DIR / "s3-8.7-completed.json").read_bytes()
    await obstore.put_async(shared, "1/100/0/manifest.json", data)
    store = KINDS[reader](shared, root)
    assert await store.list(BackupIdentifierWildcard()) == []
    status = await store.get_status(BackupIdentifier(0, 1, 100))
    assert status.status_code is BackupStatusCode.DOES_NOT_EXIST


@pytest.mark.parametrize(
    ("fixture", "key", "reader", "owner"),
    [
        (
            "common-completed.json",
            "manifests/2/43/1/manifest.json",
            "s3",
            "gcs, azure or filesystem",
        ),
        (
            "s3-8.9-completed-iso-dates.json",
            "manifests/3/1700000000000/2/manifest.json",
            "gcs",
            "s3",
        ),
        (
            "s3-8.9-completed-iso-dates.json",
            "manifests/3/1700000000000/2/manifest.json",
            "azure",
            "s3",
        ),
    ],
)
async def test_zeebe_manifest_in_the_other_form_is_refused(
    fixture: str, key: str, reader: str, owner: str, tmp_path: Path
) -> None:
    # The S3 8.9 layout and the common layout share keys; the JSON form tells them apart.
    root = tmp_path / "shared"
    root.mkdir()
    shared = LocalStore(root)
    await obstore.put_async(shared, key, (FIXTURES_DIR / fixture).read_bytes())
    store = KINDS[reader](shared, root)
    with pytest.raises(ForeignStoreKindError) as raised:
        await store.list(BackupIdentifierWildcard())
    assert_names_owner(raised.value, owner)
